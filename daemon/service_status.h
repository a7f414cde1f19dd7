// The one line an admin sees in `systemctl status unitsyncd` (sd_notify STATUS=), kept
// current: sampled once per SystemdNotifier::kStatusInterval and sent when it changed.
//
//   unit:     connected to central; 0 changes waiting
//             not connected to central (attempt 4); 12 changes waiting since 2026-05-04T08:12:03Z
//   central:  listening on 0.0.0.0:7443; 3 of 40 enrolled units connected
//
// The unit's backlog (local changes central has not acknowledged) is read on the store
// thread, one read at a time. Runs only when notifications are on. I/O thread only.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstdint>
#include <memory>
#include <string>

#include "common/error.h"
#include "daemon/nodes.h"
#include "daemon/store_worker.h"
#include "daemon/systemd_notify.h"
#include "pki/registry.h"
#include "protocol/uplink.h"
#include "store/replica.h"

namespace unitsync::daemon {

// Local changes not yet acknowledged by central.
struct UnitBacklog {
  int64_t changes = 0;
  int64_t oldest_wall_ms = 0;  // capture time of the oldest; 0 when none
};

// Reads it (store thread). Errors as the store's.
Result<UnitBacklog> ReadUnitBacklog(store::Replica& replica);

// The texts above. `backlog` null: not known (yet, or the read failed). `paused`: an
// admin paused sync (unitsyncctl pause), which stops the uplink without stopping us.
std::string UnitStatusText(protocol::Uplink::Phase phase, uint32_t attempts,
                           const UnitBacklog* backlog, bool paused = false);
std::string CentralStatusText(const std::string& listening, size_t connected, size_t enrolled);

class StatusReporter {
 public:
  // Unit: `node`'s uplink and `replica`'s backlog (read on `store`'s thread).
  StatusReporter(boost::asio::io_context& io, SystemdNotifier& notifier, const UnitNode& node,
                 StoreWorker& store, store::Replica& replica);
  // Central: `node`'s sessions and the enrolled, unrevoked units of `registry` (read at
  // each sample, so a reload shows).
  StatusReporter(boost::asio::io_context& io, SystemdNotifier& notifier, const CentralNode& node,
                 const pki::Registry& registry, std::string listening);
  ~StatusReporter();

  // Samples now and then every interval; a no-op when notifications are off.
  void Start();
  void Stop();

 private:
  void Sample();
  void Arm();

  SystemdNotifier& notifier_;
  boost::asio::steady_timer timer_;
  const UnitNode* unit_ = nullptr;
  StoreWorker* store_ = nullptr;
  store::Replica* replica_ = nullptr;
  const CentralNode* central_ = nullptr;
  const pki::Registry* registry_ = nullptr;
  std::string listening_;
  bool reading_ = false;                  // a backlog read is on the store thread
  std::unique_ptr<UnitBacklog> backlog_;  // the last one read
  bool stopped_ = false;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace unitsync::daemon
