// Notices writes that other programs make to the replica — the app, the sqlite3 shell,
// unitsyncctl — by watching the database's directory with inotify (the -wal file changes
// on every commit), not by polling. Each burst of events becomes one check on the store
// thread: `PRAGMA data_version` moves only when another connection committed, so the
// daemon's own writes never wake it. A slow fallback timer covers what inotify cannot
// see (e.g. a network filesystem).
//
// The event inotify reports is the writer's write() of its -wal frames, which comes
// before the commit is visible: the writer still fsyncs and then publishes the commit in
// the -shm index, through a memory map that inotify cannot see. A check made right after
// the event usually runs before that and finds nothing; a writer that keeps its
// connection open (any application) makes no further event. So every burst of events is
// followed by re-checks after kSettleFirstMs, doubling up to kSettleLastMs: a commit that
// becomes visible within that span is noticed within one re-check interval of it.
//
// Every write() to the watched directory queues an event — the daemon's own writes too,
// which its store thread makes by the tens of thousands in a re-seed or a large merge
// (one per WAL frame). Read at once, each would wake the I/O thread, which then competes
// with the store thread for the CPU (measured: bench/RESULTS.md "Re-seed"). So after
// each batch the next read waits
// kReadPauseMs: the events of the pause queue up, the kernel folds identical consecutive
// ones into one, and a busy writer wakes this thread at most once per pause. The first
// event after a quiet spell is still read at once, so an app's commit is noticed as soon
// as before; one inside a burst at most kReadPauseMs later (the re-checks above run
// meanwhile).
//
// Runs on the I/O thread; `changed` is called there.
#pragma once

#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <functional>
#include <string>

#include "daemon/log.h"
#include "daemon/store_worker.h"
#include "store/replica.h"

namespace unitsync::daemon {

class ChangeWatcher {
 public:
  // Re-checks after each burst of events: after 1, 2, 4, ... 1024 ms (~2 s in all).
  static constexpr int64_t kSettleFirstMs = 1;
  static constexpr int64_t kSettleLastMs = 1024;
  // After each batch of events, the next read waits this long (above).
  static constexpr int64_t kReadPauseMs = 10;

  // `replica` is used on the store thread only.
  ChangeWatcher(boost::asio::io_context& io, StoreWorker& store, store::Replica& replica,
                Logger& log, int64_t fallback_ms, std::function<void()> changed);
  ~ChangeWatcher();

  // Starts watching; without inotify (kernel limit reached) only the fallback runs, with a
  // warning.
  void Start();
  void Stop();

 private:
  void Read();
  void PauseThenRead();
  void Check();
  void ArmFallback();
  void ArmSettle();

  boost::asio::io_context& io_;
  StoreWorker& store_;
  store::Replica& replica_;
  Logger& log_;
  int64_t fallback_ms_;
  std::function<void()> changed_;
  std::string db_name_;
  boost::asio::posix::stream_descriptor inotify_;
  boost::asio::steady_timer fallback_;
  boost::asio::steady_timer settle_;
  boost::asio::steady_timer pause_;
  int64_t settle_ms_ = 0;  // the next re-check's delay; past kSettleLastMs: none due
  std::array<char, 4096> buf_{};
  bool checking_ = false;
  bool again_ = false;
  int64_t data_version_ = -1;  // store thread only
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace unitsync::daemon
