// Carries out a sans-I/O core's actions with Asio: frames to the current TLS connection,
// timers as steady_timers, store work on the store thread, log lines to the logger.
// One driver per core object (the unit's Uplink, or one HubSession at central).
//
// The core is reached through `Hooks`, so the same driver serves both roles. Everything
// runs on the I/O thread; store work answers come back there too.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "daemon/log.h"
#include "daemon/store_worker.h"
#include "daemon/tls_connection.h"
#include "protocol/sync_types.h"

namespace unitsync::daemon {

class CoreDriver {
 public:
  struct Hooks {
    std::function<std::vector<protocol::SyncAction>()> take_actions;
    std::function<void(protocol::TimerId)> on_timer;
    std::function<void(protocol::StoreResult)> on_store_result;
    // Runs on the store thread.
    std::function<protocol::StoreResult(const protocol::StoreWork&)> run_store_work;
    std::function<void()> connect;       // Connect action (unit only)
    std::function<void()> log_advanced;  // LogAdvanced action (central only)
    // Optional: after every Pump (the node refreshes what it reports about the session).
    std::function<void()> after_pump;
    // Optional: the core logged a warning or an error (for status and metrics).
    std::function<void(const protocol::LogLine&)> on_problem;
    // VerifyDone action: a verify the node started has ended.
    std::function<void(protocol::VerifyDone)> verify_done;
  };

  CoreDriver(boost::asio::io_context& io, StoreWorker& store, Logger& log, std::string who,
             Hooks hooks);
  ~CoreDriver();

  // The connection frames go to; null when there is none.
  void SetConnection(std::shared_ptr<TlsConnection> connection) {
    connection_ = std::move(connection);
  }
  const std::shared_ptr<TlsConnection>& connection() const { return connection_; }
  // Bytes of frames handed to connections so far.
  uint64_t bytes_sent() const { return bytes_sent_; }

  // Takes the core's actions and carries them out; call after every event.
  void Pump();
  // Cancels timers and forgets the connection; store answers still arriving are dropped.
  void Shutdown();

 private:
  boost::asio::io_context& io_;
  StoreWorker& store_;
  Logger& log_;
  std::string who_;
  Hooks hooks_;
  std::shared_ptr<TlsConnection> connection_;
  uint64_t bytes_sent_ = 0;
  std::map<protocol::TimerId, std::unique_ptr<boost::asio::steady_timer>> timers_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace unitsync::daemon
