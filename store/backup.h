// Online, consistent copies of a replica and integrity checks (DESIGN.md "Recovery").
//
// A copy is taken with SQLite's online backup API from a connection of its own that
// holds one read transaction for the whole copy: the file it writes is the replica as
// of one instant, while the daemon (or anyone) keeps writing in WAL mode. Sealing the
// copy for storage elsewhere is recovery/backup_file.h; this file deals in plain
// SQLite files only, so the copy is created 0600 beside the data it came from.
//
// Threading: each call opens its own connections; it may run on any thread, beside the
// store thread's connection to the same file.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "common/error.h"

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

}  // namespace unitsync::store
