#include "store/backup.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>

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

Status Copy(const std::string& source_path, const std::string& dest_path,
            const CopyOptions& options) {
  struct stat st {};
  if (::stat(source_path.c_str(), &st) != 0) {
    return Fail(Errc::kNotFound, source_path + ": no such database",
                "check the path (--db or the config's database)");
  }
  auto source = Db::Open(source_path, /*create=*/false, /*read_only=*/true);
  if (!source) return tl::unexpected(source.error());
  auto dest = Db::Open(dest_path, /*create=*/false);
  if (!dest) return tl::unexpected(dest.error());

  // One read transaction for the whole copy: every step reads the same snapshot, and a
  // writer on another connection (WAL) neither blocks us nor restarts the copy.
  auto snapshot = Transaction::Begin(*source, Transaction::Kind::kDeferred);
  if (!snapshot) return tl::unexpected(snapshot.error());
  if (auto st = source->Exec("SELECT count(*) FROM sqlite_schema"); !st) return st;

  std::unique_ptr<sqlite3_backup, BackupFinisher> backup(
      sqlite3_backup_init(dest->raw(), "main", source->raw(), "main"));
  if (!backup)
    return tl::unexpected(
        SqliteError(sqlite3_errcode(dest->raw()), dest->raw(), "start backup of " + source_path));
  const int step = options.pages_per_step > 0 ? options.pages_per_step : -1;
  int rc = SQLITE_OK;
  while (rc == SQLITE_OK || rc == SQLITE_BUSY || rc == SQLITE_LOCKED) {
    rc = sqlite3_backup_step(backup.get(), step);
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
  if (auto st = snapshot->Commit(); !st) return st;
  // The copied header says WAL like the source; a lone file is easier to carry (the
  // switch rewrites the header, synced like every rollback-mode commit).
  return dest->Exec("PRAGMA journal_mode=DELETE");
}

}  // namespace

Status CopyDatabase(const std::string& source_path, const std::string& dest_path,
                    const CopyOptions& options) {
  if (auto st = CreatePrivateFile(dest_path); !st) return st;
  auto st = Copy(source_path, dest_path, options);
  if (!st) RemoveCopy(dest_path);
  return st;
}

Status CheckIntegrity(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return Fail(Errc::kNotFound, path + ": no such database", "check the path");
  }
  auto db = Db::Open(path, /*create=*/false, /*read_only=*/true);
  if (!db) return tl::unexpected(db.error());
  auto check = db->Prepare("PRAGMA integrity_check(8)");
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

}  // namespace unitsync::store
