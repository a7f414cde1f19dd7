// Scheduled sealed backups ([backup] in the config): every interval_s a backup of the
// replica (the same sealed file `unitsyncctl backup` writes) into backup.dir, named
// <node>-<UTC time>.usbk, then the oldest beyond backup.keep are deleted.
//
// The copy runs on a thread of its own with its own read-only SQLite connection (a WAL
// reader: the store thread keeps writing meanwhile); its outcome is posted back to the
// io_context, where it is logged and kept for status and metrics. One backup at a time.
//
// Threading: Start/Stop/state() on the io_context's thread. The destructor waits for a
// backup in progress to finish (it cannot be interrupted halfway: a half backup is no
// backup, and it leaves no file behind either way).
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include "daemon/config.h"
#include "daemon/log.h"
#include "protocol/envelope.h"

namespace unitsync::daemon {

class BackupScheduler {
 public:
  struct State {
    int64_t last_success_ms = 0;  // wall time the newest good backup was taken
    std::string last_file;
    uint64_t last_bytes = 0;
    int64_t last_failure_ms = 0;
    std::string last_error;  // of the most recent attempt; empty after a success
    uint64_t failures = 0;
    bool running = false;
  };

  // `key` seals the backups (the node's own key). backup_dir must be set in `config`.
  BackupScheduler(boost::asio::io_context& io, const Config& config, protocol::ChangesetKey key,
                  Logger& log);
  ~BackupScheduler();
  BackupScheduler(const BackupScheduler&) = delete;
  BackupScheduler& operator=(const BackupScheduler&) = delete;

  // Arms the first backup: at once when the newest one in backup_dir is older than the
  // interval (or there is none), else when it becomes that old.
  void Start();
  void Stop();
  const State& state() const { return state_; }

 private:
  void Arm(int64_t delay_ms);
  void RunOnce();
  void Finished(Result<std::string> file, uint64_t bytes, int64_t started_ms);
  void Prune();

  boost::asio::io_context& io_;
  const Config& config_;
  protocol::ChangesetKey key_;
  Logger& log_;
  boost::asio::steady_timer timer_;
  std::thread worker_;
  State state_;
  bool stopped_ = false;
};

}  // namespace unitsync::daemon
