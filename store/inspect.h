// Read-only questions an admin asks of a replica (unitsyncctl status / units / history),
// answered from the engine's own tables. Nothing here writes; every call is one or a few
// indexed queries except where noted. Results carry ids, seqs, times and counts — never
// row values.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "common/error.h"
#include "store/change_log.h"
#include "store/conflicts.h"
#include "store/rejections.h"
#include "store/replica.h"
#include "store/row_version.h"

namespace unitsync::store {

// Unresolved conflicts per owning unit of the row ("" for central-scope rows, and for rows
// this replica no longer holds).
Result<std::map<std::string, int64_t>> OpenConflictsByUnit(Replica& replica);

// Rejected rows per peer and direction: how many are on record and the newest.
struct RejectionSummary {
  std::string peer;
  RejectionDirection direction = RejectionDirection::kRefusedHere;
  int64_t rows = 0;
  int64_t last_ms = 0;
};
Result<std::vector<RejectionSummary>> SummarizeRejections(Replica& replica);

// Central: change-log entries after `after_seq` that concern `unit` (its rows, rows that
// moved away from it, and central-scope rows) — an upper bound on what its fan-out still
// has to send (the unit's own pushes count until central's fan-out steps over them).
// Scans the log after `after_seq`.
struct Backlog {
  int64_t changes = 0;
  int64_t oldest_wall_ms = 0;  // 0: none
};
Result<Backlog> FanoutBacklog(Replica& replica, const std::string& unit, int64_t after_seq);

// Everything the replica knows about one row's versions: each replicated column's current
// version and the one it replaced, the tombstone, the change-log entries still held for
// it, and the conflicts recorded on it. kNotFound for a table the manifest does not
// replicate, or a row with no record at all.
struct RowHistory {
  std::string table;
  std::string pk;
  std::string unit;  // routing value at the last change ("" in central scope)
  bool deleted = false;
  bool purged = false;  // only the purge marker is left; `tombstone` is the purge's version
  Version tombstone;
  std::vector<std::string> columns;     // replicated columns, manifest order
  std::vector<ColumnVersion> versions;  // per column
  std::vector<LoggedChange> log;        // oldest first (trimmed once acknowledged)
  std::vector<Conflict> conflicts;      // oldest first, resolved ones included
};
// Scans the change log for the row's entries (there is no index by row).
Result<RowHistory> GetRowHistory(Replica& replica, const std::string& table, const std::string& pk);

}  // namespace unitsync::store
