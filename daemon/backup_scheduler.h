// Scheduled sealed backups ([backup] in the config): every interval_s a backup of the
// replica (the same sealed file `unitsyncctl backup` writes) into backup.dir, named
// <node>-<UTC time>.usbk, then the oldest beyond backup.keep are deleted.
//
// The store thread first pins the snapshot to copy (store::PinStampedSnapshot: every
// captured write stamped, writers held off for an instant only); the copy then runs on a
// thread of its own, reading that pinned snapshot on its own read-only connection (a WAL
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
#include "daemon/store_worker.h"
#include "protocol/envelope.h"
#include "store/backup.h"
#include "store/replica.h"

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
                  StoreWorker& store, store::Replica& replica, Logger& log);
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
  void Copy(store::PinnedSnapshot snapshot, int64_t started_ms);
  void Finished(Result<std::string> file, uint64_t bytes, int64_t started_ms);
  void Prune();

  boost::asio::io_context& io_;
  const Config& config_;
  protocol::ChangesetKey key_;
  StoreWorker& store_;
  store::Replica& replica_;  // used on the store thread only
  Logger& log_;
  boost::asio::steady_timer timer_;
  std::thread worker_;
  State state_;
  bool stopped_ = false;
};

}  // namespace unitsync::daemon
