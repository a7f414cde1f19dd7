#include "store/wal_checkpointer.h"

namespace unitsync::store {

Result<std::unique_ptr<WalCheckpointer>> WalCheckpointer::Start(Db& writer, Options options,
                                                                FailureSink on_failure) {
  const char* path = sqlite3_db_filename(writer.raw(), "main");
  if (path == nullptr || *path == '\0') {
    return Fail(Errc::kInvalidArgument, "a WAL checkpointer needs a database file");
  }
  auto own = Db::Open(path, /*create=*/false);
  if (!own) return tl::unexpected(own.error());
  // Checkpoints sync as the writer's commits do (Replica::Open sets FULL there).
  if (auto st = own->Exec("PRAGMA synchronous = FULL"); !st) return tl::unexpected(st.error());
  std::unique_ptr<WalCheckpointer> self(
      new WalCheckpointer(writer.raw(), std::move(*own), options, std::move(on_failure)));
  self->thread_ = std::thread([raw = self.get()] { raw->Run(); });
  sqlite3_wal_hook(writer.raw(), &WalCheckpointer::Hook, self.get());  // the thread runs
  return self;
}

WalCheckpointer::WalCheckpointer(sqlite3* writer, Db own, Options options, FailureSink on_failure)
    : writer_(writer),
      own_(std::move(own)),
      options_(options),
      on_failure_(std::move(on_failure)) {}

void WalCheckpointer::Stop() {
  if (!thread_.joinable()) return;
  sqlite3_wal_autocheckpoint(writer_, 1000);  // SQLite's default hook again
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  wake_.notify_one();
  thread_.join();
}

WalCheckpointer::Stats WalCheckpointer::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

// On the writer's thread, inside its commit (after the WAL frames are written; a
// non-zero return would be reported as the commit's error, and a failed checkpoint is
// not the commit's: it stands, and a later pass tries again).
int WalCheckpointer::Hook(void* arg, sqlite3* db, const char* name, int pages) {
  auto* self = static_cast<WalCheckpointer*>(arg);
  if (pages >= self->options_.limit_pages) {
    self->Checkpoint(db, name, /*inline_pass=*/true);  // what SQLite's own hook does
  } else if (pages >= self->options_.wake_pages) {
    {
      std::lock_guard<std::mutex> lock(self->mu_);
      self->wanted_ = true;
    }
    self->wake_.notify_one();
  }
  return SQLITE_OK;
}

void WalCheckpointer::Run() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    wake_.wait(lock, [this] { return wanted_ || stopping_; });
    if (stopping_) return;
    wanted_ = false;
    lock.unlock();
    Checkpoint(own_.raw(), "main", /*inline_pass=*/false);
    lock.lock();
  }
}

void WalCheckpointer::Checkpoint(sqlite3* db, const char* name, bool inline_pass) {
  int wal_pages = 0;
  int copied = 0;
  const int rc =
      sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, &wal_pages, &copied);
  // SQLITE_BUSY: the other side's pass holds the checkpoint lock; it copies the same.
  const bool failed = rc != SQLITE_OK && (rc & 0xff) != SQLITE_BUSY;
  if (failed && on_failure_) on_failure_(SqliteError(rc, db, "wal checkpoint"));
  std::lock_guard<std::mutex> lock(mu_);
  if (failed) {
    ++stats_.failures;
  } else if (rc != SQLITE_OK || copied < wal_pages) {
    ++stats_.partial;
  } else if (inline_pass) {
    ++stats_.inline_passes;
  } else {
    ++stats_.passes;
  }
}

}  // namespace unitsync::store
