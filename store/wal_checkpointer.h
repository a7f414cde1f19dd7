// Checkpoints a replica's WAL on a thread of its own, so that the writer's commits do
// not wait for the copy into the database file (store/DESIGN.md "Checkpoints off the
// writer's thread").
//
// SQLite's own auto-checkpoint runs inside the commit that finds the WAL at 1,000 pages
// or more: that commit copies the WAL's pages into the database file and syncs the WAL
// and then the database before it returns, so the writer's next transaction waits for
// two fsyncs and a copy of everything written since the last one. A WalCheckpointer
// replaces that hook on the writer's connection: a commit that finds the WAL at
// `wake_pages` or more only wakes the checkpointer's thread, which runs a PASSIVE
// checkpoint (it never waits for the writer or a reader) on a second connection to the
// same file. SQLite then restarts the WAL from its beginning at the first write
// transaction that finds every frame copied.
//
// The WAL stays bounded: a writer faster than the copy (every pass ends behind the
// latest commit, so the WAL never restarts) or a reader holding an old snapshot could
// let it grow; a commit that finds it at `limit_pages` or more checkpoints inline, as
// SQLite's auto-checkpoint would (and finds most pages already copied). Durability is
// unchanged: a checkpoint only copies what the WAL already holds, and the checkpointer's
// connection syncs as the writer's does (synchronous = FULL).
//
// Thread-safety: Start and Stop run on the writer's thread, or while no other thread
// uses the writer (the daemon: before its store thread takes work, after it has
// stopped). The hook runs on the writer's thread inside its commits; stats() from any
// thread. While it runs, the writer's connection must not set PRAGMA wal_autocheckpoint
// (that replaces the hook again; nothing in the store does).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

#include "common/error.h"
#include "store/sqlite.h"

namespace unitsync::store {

class WalCheckpointer {
 public:
  struct Options {
    // A commit that leaves the WAL at this many pages or more wakes the thread.
    int wake_pages = 4096;
    // A commit that leaves it at this many or more checkpoints inline: the WAL's bound.
    int limit_pages = 32768;
  };
  struct Stats {
    uint64_t passes = 0;         // the thread's checkpoints that copied the whole WAL
    uint64_t inline_passes = 0;  // the writer's own, at limit_pages, that did
    uint64_t partial = 0;        // either kind stopped early: a reader's snapshot, busy
    uint64_t failures = 0;       // either kind failed (disk full, I/O error)
  };
  // Told of each failed checkpoint, on the thread that ran it (the checkpointer's, or
  // the writer's inside a commit at limit_pages). The WAL keeps every committed page
  // meanwhile; a later pass tries again.
  using FailureSink = std::function<void(const Error&)>;

  // Opens a second connection to `writer`'s database file and takes over its WAL hook.
  // Fails (nothing changed) if the file cannot be opened. `writer`'s connection must
  // stay open until Stop (the Db object itself may move).
  static Result<std::unique_ptr<WalCheckpointer>> Start(Db& writer, Options options,
                                                        FailureSink on_failure = nullptr);
  ~WalCheckpointer() { Stop(); }
  WalCheckpointer(const WalCheckpointer&) = delete;
  WalCheckpointer& operator=(const WalCheckpointer&) = delete;

  // Finishes a pass under way, ends the thread and gives the writer SQLite's own
  // auto-checkpoint back (1,000 pages). Idempotent.
  void Stop();

  Stats stats() const;

 private:
  WalCheckpointer(sqlite3* writer, Db own, Options options, FailureSink on_failure);
  static int Hook(void* self, sqlite3* db, const char* name, int pages);
  void Run();
  // One PASSIVE checkpoint on `db` (the thread's connection, or the writer's inline).
  void Checkpoint(sqlite3* db, const char* name, bool inline_pass);

  sqlite3* const writer_;  // the handle: a Db moved elsewhere keeps it
  Db own_;                 // used on the thread only
  const Options options_;
  const FailureSink on_failure_;

  mutable std::mutex mu_;
  std::condition_variable wake_;
  bool wanted_ = false;    // GUARDED_BY(mu_)
  bool stopping_ = false;  // GUARDED_BY(mu_)
  Stats stats_;            // GUARDED_BY(mu_)
  std::thread thread_;
};

}  // namespace unitsync::store
