#include "store/wal_checkpointer.h"

#include <algorithm>
#include <cstring>
#include <string>

namespace unitsync::store {
namespace {

Result<std::string> QueryText(Db& db, std::string_view sql) {
  auto stmt = db.Prepare(sql);
  if (!stmt) return tl::unexpected(stmt.error());
  auto row = stmt->Step();
  if (!row) return tl::unexpected(row.error());
  return *row ? stmt->ColumnText(0) : std::string();
}

}  // namespace

Result<std::unique_ptr<WalCheckpointer>> WalCheckpointer::Start(Db& writer, Options options,
                                                                Observer* observer) {
  const char* path = sqlite3_db_filename(writer.raw(), "main");
  if (path == nullptr || *path == '\0') {
    return Fail(Errc::kInvalidArgument, "a WAL checkpointer needs a database file");
  }
  auto mode = QueryText(writer, "PRAGMA journal_mode");
  if (!mode) return tl::unexpected(mode.error());
  if (*mode != "wal") {
    return Fail(Errc::kInvalidArgument, "a WAL checkpointer needs a database in WAL mode");
  }
  auto old_autocheckpoint = writer.QueryInt("PRAGMA wal_autocheckpoint");
  if (!old_autocheckpoint) return tl::unexpected(old_autocheckpoint.error());
  auto old_size_limit = writer.QueryInt("PRAGMA journal_size_limit");
  if (!old_size_limit) return tl::unexpected(old_size_limit.error());
  auto page_size = writer.QueryInt("PRAGMA page_size");
  if (!page_size) return tl::unexpected(page_size.error());

  auto own = Db::Open(path, /*create=*/false);
  if (!own) return tl::unexpected(own.error());
  // Checkpoints sync as the writer's commits do (Replica::Open sets FULL there). Reading
  // the schema opens the WAL: a checkpoint on a connection that has not done so would
  // copy nothing and report -1 pages.
  if (auto st = own->Exec("PRAGMA synchronous = FULL"); !st) return tl::unexpected(st.error());
  if (auto st = own->QueryInt("SELECT count(*) FROM sqlite_schema"); !st) {
    return tl::unexpected(st.error());
  }
  if (auto st = writer.Exec("PRAGMA journal_size_limit = " +
                            std::to_string(int64_t{options.limit_pages} * *page_size));
      !st) {
    return tl::unexpected(st.error());
  }
  std::unique_ptr<WalCheckpointer> self(new WalCheckpointer(
      writer.raw(), std::move(*own), options, observer, *old_autocheckpoint, *old_size_limit));
  self->thread_ = std::thread([raw = self.get()] { raw->Run(); });
  sqlite3_wal_hook(writer.raw(), &WalCheckpointer::Hook, self.get());  // the thread runs
  return self;
}

WalCheckpointer::WalCheckpointer(sqlite3* writer, Db own, Options options, Observer* observer,
                                 int64_t old_autocheckpoint, int64_t old_size_limit)
    : writer_(writer),
      own_(std::move(own)),
      options_(options),
      observer_(observer),
      old_autocheckpoint_(old_autocheckpoint),
      old_size_limit_(old_size_limit) {}

void WalCheckpointer::Stop() {
  if (!thread_.joinable()) return;
  // N <= 0 removes the hook, as PRAGMA wal_autocheckpoint = N would.
  sqlite3_wal_autocheckpoint(writer_, static_cast<int>(old_autocheckpoint_));
  const std::string limit = "PRAGMA journal_size_limit = " + std::to_string(old_size_limit_);
  sqlite3_exec(writer_, limit.c_str(), nullptr, nullptr, nullptr);
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  sqlite3_interrupt(own_.raw());  // a pass under way stops at its next page
  wake_.notify_one();
  thread_.join();
}

WalCheckpointer::Stats WalCheckpointer::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

// On the writer's thread, inside its commit (after the WAL frames are written; a
// non-zero return would be reported as the commit's error, and a failed checkpoint is
// not the commit's: it stands, and the thread retries).
int WalCheckpointer::Hook(void* arg, sqlite3* db, const char* name, int pages) {
  auto* self = static_cast<WalCheckpointer*>(arg);
  if (std::strcmp(name, "main") != 0) return SQLITE_OK;  // an attached database
  if (pages >= self->options_.limit_pages) {
    if (self->Checkpoint(db, /*inline_pass=*/true)) return SQLITE_OK;
  } else if (pages < self->options_.wake_pages) {
    return SQLITE_OK;
  }
  {
    std::lock_guard<std::mutex> lock(self->mu_);
    self->wanted_ = true;
  }
  self->wake_.notify_one();
  return SQLITE_OK;
}

void WalCheckpointer::Run() {
  std::unique_lock<std::mutex> lock(mu_);
  auto delay = kFirstRetry;
  const auto woken = [this] { return wanted_ || stopping_; };
  for (;;) {
    if (failing_) {
      wake_.wait_for(lock, delay, woken);
      delay = std::min(delay * 2, kMaxRetry);
    } else {
      delay = kFirstRetry;
      wake_.wait(lock, woken);
    }
    if (stopping_) return;
    wanted_ = false;
    lock.unlock();
    Checkpoint(own_.raw(), /*inline_pass=*/false);
    lock.lock();
  }
}

bool WalCheckpointer::Checkpoint(sqlite3* db, bool inline_pass) {
  int wal_pages = -1;
  int copied = -1;
  const int rc =
      sqlite3_wal_checkpoint_v2(db, "main", SQLITE_CHECKPOINT_PASSIVE, &wal_pages, &copied);
  // SQLITE_BUSY: the other side's pass holds the checkpoint lock (a later pass copies
  // what it leaves); SQLITE_INTERRUPT: Stop.
  const int primary = rc & 0xff;
  const bool failed = rc != SQLITE_OK && primary != SQLITE_BUSY && primary != SQLITE_INTERRUPT;
  const Error error = failed ? SqliteError(rc, db, "wal checkpoint") : Error{};
  bool began_failing = false;
  bool recovered = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (failed) {
      ++stats_.failures;
      began_failing = !failing_;
      failing_ = true;
    } else if (rc != SQLITE_OK || wal_pages < 0 || copied < wal_pages) {
      ++stats_.partial;
    } else {
      ++(inline_pass ? stats_.inline_passes : stats_.passes);
    }
    if (rc == SQLITE_OK) {
      recovered = failing_;
      failing_ = false;
    }
  }
  if (observer_ != nullptr && began_failing) observer_->CheckpointFailed(error);
  if (observer_ != nullptr && recovered) observer_->CheckpointRecovered();
  return !failed;
}

}  // namespace unitsync::store
