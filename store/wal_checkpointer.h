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
// same file. A pass copies the WAL as it was when the pass began; SQLite starts the WAL
// over at the first write transaction that finds every frame copied, which a writer
// that keeps committing during the passes may never do.
//
// So the writer bounds the WAL itself: a commit that finds it at `limit_pages` or more
// checkpoints inline, as SQLite's auto-checkpoint would (finding most pages already
// copied), and the WAL starts over at its next transaction. If the thread's pass holds
// the checkpoint lock just then, the inline one is skipped (SQLITE_BUSY) and the next
// commit tries again: the WAL can pass the limit by what is written during one pass.
// The writer also gets a journal_size_limit of `limit_pages` pages, so a WAL that grew
// is cut back when it starts over. Durability is unchanged: a checkpoint copies only
// what the WAL holds, and the second connection syncs as the writer does (FULL).
//
// A failed pass (a full disk, an I/O error) loses nothing — the pages stay in the WAL —
// and is retried by the thread after 1 s, doubling to 60 s, until one succeeds (or a
// commit wakes it sooner); the Observer hears of the first failure and of the recovery.
//
// Thread-safety: Start and Stop run on the writer's thread, or while no other thread
// uses the writer (the daemon: before its store thread takes work, after it has
// stopped). The hook runs on the writer's thread inside its commits; stats() from any
// thread. While it runs, the writer's connection must not set PRAGMA wal_autocheckpoint
// (that replaces the hook again; nothing in the store does).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>

#include "common/error.h"
#include "store/sqlite.h"

namespace unitsync::store {

class WalCheckpointer {
 public:
  struct Options {
    // A commit that leaves the WAL at this many pages or more wakes the thread (SQLite's
    // own threshold, which every other writer of the file still uses).
    int wake_pages = 1000;
    // A commit that leaves it at this many or more checkpoints inline (32 MiB of 4 KiB
    // pages); also the WAL file's size limit when it starts over.
    int limit_pages = 8192;
  };
  struct Stats {
    uint64_t passes = 0;         // the thread's checkpoints that copied the whole WAL
    uint64_t inline_passes = 0;  // the writer's own, at limit_pages, that did
    uint64_t partial = 0;        // either kind stopped early: a reader's snapshot, busy
    uint64_t failures = 0;       // either kind failed (disk full, I/O error)
  };
  // Told when checkpoints begin to fail (the first failure after a success) and when
  // one succeeds again. Called on the thread that ran the checkpoint — the
  // checkpointer's, or the writer's inside a commit at limit_pages — so possibly two at
  // once; must not throw.
  class Observer {
   public:
    virtual ~Observer() = default;
    virtual void CheckpointFailed(const Error& error) noexcept = 0;
    virtual void CheckpointRecovered() noexcept = 0;
  };

  static constexpr std::chrono::milliseconds kFirstRetry{1000};
  static constexpr std::chrono::milliseconds kMaxRetry{60000};

  // Opens a second connection to `writer`'s database file and takes over its WAL hook.
  // Fails (nothing changed) if the file cannot be opened or is not in WAL mode.
  // `writer`'s connection must stay open until Stop (the Db object itself may move);
  // `observer` (may be null) must outlive Stop.
  static Result<std::unique_ptr<WalCheckpointer>> Start(Db& writer, Options options,
                                                        Observer* observer = nullptr);
  ~WalCheckpointer() { Stop(); }
  WalCheckpointer(const WalCheckpointer&) = delete;
  WalCheckpointer& operator=(const WalCheckpointer&) = delete;

  // Interrupts a pass under way (the pages it did not copy stay in the WAL), ends the
  // thread and puts the writer's auto-checkpoint and journal_size_limit back as they
  // were before Start. Idempotent.
  void Stop();

  Stats stats() const;

 private:
  WalCheckpointer(sqlite3* writer, Db own, Options options, Observer* observer,
                  int64_t old_autocheckpoint, int64_t old_size_limit);
  static int Hook(void* self, sqlite3* db, const char* name, int pages);
  void Run();
  // One PASSIVE checkpoint on `db` (the thread's connection, or the writer's inline);
  // false when it failed.
  bool Checkpoint(sqlite3* db, bool inline_pass);

  sqlite3* const writer_;  // the handle: a Db moved elsewhere keeps it
  Db own_;                 // used on the thread only (and sqlite3_interrupt by Stop)
  const Options options_;
  Observer* const observer_;
  const int64_t old_autocheckpoint_;
  const int64_t old_size_limit_;

  mutable std::mutex mu_;
  std::condition_variable wake_;
  bool wanted_ = false;    // GUARDED_BY(mu_)
  bool stopping_ = false;  // GUARDED_BY(mu_)
  bool failing_ = false;   // GUARDED_BY(mu_): the last checkpoint failed
  Stats stats_;            // GUARDED_BY(mu_)
  std::thread thread_;
};

}  // namespace unitsync::store
