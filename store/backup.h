// Online, consistent copies of a replica and integrity checks (DESIGN.md "Recovery").
//
// A copy is taken with SQLite's online backup API from a connection of its own that
// holds one read transaction for the whole copy: the file it writes is the replica as
// of one instant, while the daemon (or anyone) keeps writing in WAL mode. Sealing the
// copy for storage elsewhere is recovery/backup_file.h; this file deals in plain
// SQLite files only, so the copy is created 0600 beside the data it came from.
//
// A backup of a replica must hold no captured-but-unstamped local write: restored, such
// a write would be stamped a second time with another version than the one its node
// already synced, and replicas would disagree about it for good. PinStampedSnapshot
// therefore begins the copy's read transaction while holding the replica's write lock
// at an instant when every captured write is stamped:
//
//   lock conn:  BEGIN IMMEDIATE ─ unstamped? ──yes──► ROLLBACK, stamp(), again
//                                     │no
//   own conn:                  BEGIN; read ───► snapshot pinned
//   lock conn:                        ROLLBACK (writers go on; the copy reads the pin)
//
// Threading: PinStampedSnapshot runs where `lock` may be used (the daemon: its store
// thread); the PinnedSnapshot it returns, CopySnapshot and the other calls open their
// own connections and may run on any thread, beside the store thread's.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "common/error.h"
#include "store/sqlite.h"

namespace unitsync::store {

struct CopyProgress {
  int64_t pages_done = 0;
  int64_t pages_total = 0;
};

struct CopyOptions {
  // Pages copied per backup step; the callback runs after each step.
  int pages_per_step = 4096;
  std::function<void(const CopyProgress&)> on_progress;
};

// A read transaction on a connection of its own to a replica's file, begun when no
// captured write was left unstamped. Move-only; the transaction ends with it.
class PinnedSnapshot {
 public:
  PinnedSnapshot(PinnedSnapshot&&) noexcept = default;
  PinnedSnapshot& operator=(PinnedSnapshot&&) = delete;
  ~PinnedSnapshot() = default;

  const std::string& path() const { return path_; }

 private:
  friend Result<PinnedSnapshot> PinStampedSnapshot(Db&, const std::string&,
                                                   const std::function<Status()>&);
  friend Status CopySnapshot(PinnedSnapshot, const std::string&, const CopyOptions&);
  PinnedSnapshot(std::string path, std::unique_ptr<Db> db, Transaction tx)
      : path_(std::move(path)), db_(std::move(db)), tx_(std::move(tx)) {}

  std::string path_;
  std::unique_ptr<Db> db_;  // declared before tx_: the transaction ends first
  std::optional<Transaction> tx_;
};

// True when `db` (a replica's connection) holds local writes captured but not stamped.
Result<bool> HasUnstampedChanges(Db& db);

// Pins a snapshot of the replica file at `path` in which every captured write is
// stamped. `lock` is a read-write connection to the same file; `stamp` stamps what is
// pending (the replica's owner: store::StampPendingChangesNow; the daemon's control
// command "stamp" from another process). Writers wait only while `lock` holds the write
// lock, never for the copy. kBusy when writers kept adding captures for 16 rounds.
Result<PinnedSnapshot> PinStampedSnapshot(Db& lock, const std::string& path,
                                          const std::function<Status()>& stamp);

class Replica;
// The same for the replica's owner: stamps with store::StampPendingChangesNow.
Result<PinnedSnapshot> PinStampedSnapshot(Replica& replica);

// CopyDatabase from a pinned snapshot: the copy is the replica as of the pin.
Status CopySnapshot(PinnedSnapshot snapshot, const std::string& dest_path,
                    const CopyOptions& options = {});

// Copies the database at `source_path` into the new file `dest_path` (created 0600,
// O_EXCL semantics: kAlreadyExists when it exists), consistent as of one read
// transaction on the source. The copy is a complete database in rollback-journal mode
// (no -wal beside it) and has been synced to disk when this returns. Fails with
// kNotFound (no source), kNotAReplica (not a SQLite file), kDiskFull / kIo / kBusy as
// they come; on failure `dest_path` does not exist afterwards.
Status CopyDatabase(const std::string& source_path, const std::string& dest_path,
                    const CopyOptions& options = {});

// Runs PRAGMA integrity_check on the database at `path` (opened read-only). Ok when
// SQLite answers "ok"; kCorrupt carrying SQLite's first complaints (page and table
// names, never row values) otherwise; kNotFound / kNotAReplica when there is no
// SQLite database to check.
Status CheckIntegrity(const std::string& path);
// The same with PRAGMA quick_check (no index-content cross-check: linear in the file,
// a few times faster), for a check on every daemon start.
Status QuickCheck(const std::string& path);

}  // namespace unitsync::store
