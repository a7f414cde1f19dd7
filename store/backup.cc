#include "store/backup.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>

#include "store/change_log.h"
#include "store/replica.h"
#include "store/sqlite.h"

namespace unitsync::store {
namespace {

struct BackupFinisher {
  void operator()(sqlite3_backup* b) const { sqlite3_backup_finish(b); }
};

// Creates `path` empty with mode 0600, refusing to replace anything.
Status CreatePrivateFile(const std::string& path) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    const int e = errno;
    if (e == EEXIST) {
      return Fail(Errc::kAlreadyExists, path + " already exists",
                  "choose another name; nothing is ever overwritten");
    }
    return Fail(e == ENOSPC ? Errc::kDiskFull : Errc::kIo,
                "create " + path + ": " + std::strerror(e));
  }
  ::close(fd);
  return {};
}

void RemoveCopy(const std::string& path) {
  ::unlink(path.c_str());
  ::unlink((path + "-journal").c_str());
}

// Copies from `source`, whose read transaction is already open, into `dest_path`.
Status CopyFrom(Db& source, const std::string& source_path, const std::string& dest_path,
                const CopyOptions& options) {
  auto dest = Db::Open(dest_path, /*create=*/false);
  if (!dest) return tl::unexpected(dest.error());
  std::unique_ptr<sqlite3_backup, BackupFinisher> backup(
      sqlite3_backup_init(dest->raw(), "main", source.raw(), "main"));
  if (!backup)
    return tl::unexpected(
        SqliteError(sqlite3_errcode(dest->raw()), dest->raw(), "start backup of " + source_path));
  const int step = options.pages_per_step > 0 ? options.pages_per_step : -1;
  int rc = SQLITE_OK;
  while (rc == SQLITE_OK || rc == SQLITE_BUSY || rc == SQLITE_LOCKED) {
    rc = InjectedSqliteFault(SqliteCall::kBackupStep);
    if (rc == SQLITE_OK) rc = sqlite3_backup_step(backup.get(), step);
    if (options.on_progress) {
      const int total = sqlite3_backup_pagecount(backup.get());
      options.on_progress({total - sqlite3_backup_remaining(backup.get()), total});
    }
    if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED) sqlite3_sleep(10);
  }
  const int finished = sqlite3_backup_finish(backup.release());
  if (rc != SQLITE_DONE) return tl::unexpected(SqliteError(rc, dest->raw(), "copy " + source_path));
  if (finished != SQLITE_OK) {
    return tl::unexpected(SqliteError(finished, dest->raw(), "finish copy of " + source_path));
  }
  // The copied header says WAL like the source; a lone file is easier to carry (the
  // switch rewrites the header, synced like every rollback-mode commit).
  return dest->Exec("PRAGMA journal_mode=DELETE");
}

Status StatSource(const std::string& source_path) {
  struct stat st {};
  if (::stat(source_path.c_str(), &st) != 0) {
    return Fail(Errc::kNotFound, source_path + ": no such database",
                "check the path (--db or the config's database)");
  }
  return {};
}

// One read transaction for the whole copy: every step reads the same snapshot, and a
// writer on another connection (WAL) neither blocks us nor restarts the copy. The
// transaction starts with the first read, not with BEGIN.
Result<Transaction> BeginSnapshot(Db& db) {
  auto tx = Transaction::Begin(db, Transaction::Kind::kDeferred);
  if (!tx) return tl::unexpected(tx.error());
  if (auto st = db.Exec("SELECT count(*) FROM sqlite_schema"); !st)
    return tl::unexpected(st.error());
  return tx;
}

}  // namespace

Status CopyDatabase(const std::string& source_path, const std::string& dest_path,
                    const CopyOptions& options) {
  if (auto st = StatSource(source_path); !st) return st;
  auto source = Db::Open(source_path, /*create=*/false, /*read_only=*/true);
  if (!source) return tl::unexpected(source.error());
  auto snapshot = BeginSnapshot(*source);
  if (!snapshot) return tl::unexpected(snapshot.error());
  if (auto st = CreatePrivateFile(dest_path); !st) return st;
  auto st = CopyFrom(*source, source_path, dest_path, options);
  if (!st) RemoveCopy(dest_path);
  return st;
}

Result<bool> HasUnstampedChanges(Db& db) {
  // Ops M (merged), X (moved away) and R (re-queued) are never stamped (change_log.cc).
  auto q = db.Prepare(
      "SELECT EXISTS (SELECT 1 FROM _us_changes WHERE op IN ('I', 'U', 'D') AND seq > "
      "coalesce((SELECT CAST(value AS INTEGER) FROM _us_meta WHERE key = 'stamped_seq'), 0))");
  if (!q) return tl::unexpected(q.error());
  auto row = q->Step();
  if (!row) return tl::unexpected(row.error());
  return *row && q->ColumnInt(0) != 0;
}

Result<PinnedSnapshot> PinStampedSnapshot(Db& lock, const std::string& path,
                                          const std::function<Status()>& stamp) {
  if (auto st = StatSource(path); !st) return tl::unexpected(st.error());
  auto reader = Db::Open(path, /*create=*/false, /*read_only=*/true);
  if (!reader) return tl::unexpected(reader.error());
  auto db = std::make_unique<Db>(std::move(*reader));
  constexpr int kRounds = 16;
  for (int round = 0; round < kRounds; ++round) {
    std::optional<Transaction> write_lock;
    {
      auto tx = Transaction::Begin(lock, Transaction::Kind::kImmediate);
      if (!tx) return tl::unexpected(tx.error());
      write_lock.emplace(std::move(*tx));
    }
    auto pending = HasUnstampedChanges(lock);
    if (!pending) return tl::unexpected(pending.error());
    if (!*pending) {
      // Nobody can commit before the pin: `lock` holds the write lock until it goes.
      auto snapshot = BeginSnapshot(*db);
      if (!snapshot) return tl::unexpected(snapshot.error());
      return PinnedSnapshot(path, std::move(db), std::move(*snapshot));
    }
    write_lock.reset();  // rolls back: nothing was written
    if (auto st = stamp(); !st) return tl::unexpected(st.error());
  }
  return Fail(Errc::kBusy,
              "local writes kept arriving faster than they could be stamped for a backup",
              "try again; the next scheduled backup retries by itself");
}

Result<PinnedSnapshot> PinStampedSnapshot(Replica& replica) {
  return PinStampedSnapshot(replica.db(), replica.path(),
                            [&replica] { return StampPendingChangesNow(replica); });
}

Status CopySnapshot(PinnedSnapshot snapshot, const std::string& dest_path,
                    const CopyOptions& options) {
  if (auto st = CreatePrivateFile(dest_path); !st) return st;
  auto st = CopyFrom(*snapshot.db_, snapshot.path_, dest_path, options);
  if (auto end = snapshot.tx_->Commit(); !end && st) st = end;
  if (!st) RemoveCopy(dest_path);  // also when only ending the read failed: no file on failure
  return st;
}

namespace {

Status RunCheck(const std::string& path, const char* pragma) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return Fail(Errc::kNotFound, path + ": no such database", "check the path");
  }
  auto db = Db::Open(path, /*create=*/false, /*read_only=*/true);
  if (!db) return tl::unexpected(db.error());
  auto check = db->Prepare(pragma);
  if (!check) return tl::unexpected(check.error());
  std::string complaints;
  for (;;) {
    auto row = check->Step();
    if (!row) return tl::unexpected(row.error());
    if (!*row) break;
    const std::string line = check->ColumnText(0);
    if (line == "ok") return {};
    if (!complaints.empty()) complaints += "; ";
    complaints += line;
  }
  return Fail(Errc::kCorrupt, path + " fails its integrity check: " + complaints,
              "keep the file for analysis; restore a backup or re-seed the node");
}

}  // namespace

Status CheckIntegrity(const std::string& path) {
  return RunCheck(path, "PRAGMA integrity_check(8)");
}

Status QuickCheck(const std::string& path) { return RunCheck(path, "PRAGMA quick_check(8)"); }

}  // namespace unitsync::store
