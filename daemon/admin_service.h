// The daemon's answers to unitsyncctl (control socket) and to Prometheus (metrics): the
// database documents from control/views.h, computed on the store thread, with what only
// the running daemon knows (links, sessions, pauses, counters) laid over them on the I/O
// thread. Admin actions (pause, resume, sync-now, restoring a conflict) go to the nodes.
#pragma once

#include <boost/asio/io_context.hpp>
#include <ctime>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "control/views.h"
#include "control/wire.h"
#include "daemon/backup_scheduler.h"
#include "daemon/config.h"
#include "daemon/control_server.h"
#include "daemon/log.h"
#include "daemon/nodes.h"
#include "daemon/storage_health.h"
#include "daemon/store_worker.h"
#include "store/replica.h"
#include "store/wal_checkpointer.h"

namespace unitsync::daemon {

// What central's registry says about each unit, for the views.
std::vector<control::EnrolledUnitInfo> Enrolled(const pki::Registry& registry);

class AdminService {
 public:
  // Exactly one of `unit` / `central` is set. Everything must outlive the service;
  // `replica` is only touched on the store thread.
  AdminService(const Config& config, StoreWorker& store, store::Replica& replica, Logger& log,
               UnitNode* unit, CentralNode* central);

  // A control request (ControlServer::Handler).
  void Handle(const control::Request& request, uint32_t uid,
              std::shared_ptr<ControlServer::Responder> responder);

  // Scheduled backups, when configured (shown in status and metrics). Must outlive the
  // service.
  void SetBackups(const BackupScheduler* backups) { backups_ = backups; }
  // This node's own certificate's expiry (Unix time), shown in the metrics; central's
  // reloader updates it in place. Must outlive the service; read on the I/O thread.
  void SetCertificateExpiry(const std::time_t* not_after) { certificate_not_after_ = not_after; }
  // The replica's storage condition (status: daemon.storage; metrics). Must outlive the
  // service.
  void SetStorageHealth(const StorageHealth* storage) { storage_ = storage; }
  // The background WAL checkpointer (metrics), or null when the daemon runs without one.
  // Must outlive the service.
  void SetWalCheckpointer(const store::WalCheckpointer* checkpointer) {
    checkpointer_ = checkpointer;
  }

  // The Prometheus text exposition of every metric; `done` runs on the I/O thread.
  void Metrics(std::function<void(std::string text)> done);

 private:
  using Json = nlohmann::json;
  using Reply = std::shared_ptr<ControlServer::Responder>;

  // Runs `query(replica)` on the store thread, then `then(result)` here.
  void OnStore(std::function<Result<Json>(store::Replica&)> query,
               std::function<void(Result<Json>)> then);

  void Status(Reply reply);
  void Units(Reply reply);
  void Verify(const Json& args, Reply reply);
  // Central, every connected unit one after another (progress after each).
  void VerifyNext(std::shared_ptr<std::vector<std::string>> todo, std::shared_ptr<Json> doc,
                  Reply reply);
  void LocalWrite();
  Json DaemonJson() const;

  const Config& config_;
  StoreWorker& store_;
  store::Replica& replica_;
  Logger& log_;
  UnitNode* unit_;
  CentralNode* central_;
  int64_t started_ms_;
  const BackupScheduler* backups_ = nullptr;
  const std::time_t* certificate_not_after_ = nullptr;
  const StorageHealth* storage_ = nullptr;
  const store::WalCheckpointer* checkpointer_ = nullptr;
};

}  // namespace unitsync::daemon
