// Conflicts recorded by merges (_us_conflicts): both values, both versions,
// kept whichever won, until an admin restores or dismisses the loser.
// Values in a conflict are application data: show them to the admin who
// asked, never log them.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "common/error.h"
#include "store/hlc.h"
#include "store/replica.h"
#include "store/value.h"

namespace unitsync::store {

struct Conflict {
  int64_t id = 0;
  std::string table;
  std::string pk;
  std::string column;
  // "update": concurrent writes; "delete": a write that lost to a delete;
  // "evict": local work central had not acknowledged when the row moved to
  // another unit (winner: no value, version 0 / "").
  std::string kind;
  Value winner_value;
  Version winner;
  Value loser_value;
  Version loser;
  int64_t detected_ms = 0;
  std::optional<int64_t> resolved_ms;  // Set once restored or dismissed.
};

struct ConflictFilter {
  bool include_resolved = false;
  std::optional<std::string> table;
  size_t limit = 1000;
  std::optional<std::string> pk;  // Only this row's (with `table`).
};

Result<std::vector<Conflict>> ListConflicts(Replica& replica, const ConflictFilter& filter = {});

// Fails with kNotFound when there is no conflict with that id.
Result<Conflict> GetConflict(Replica& replica, int64_t id);

// Writes the losing value back as a new local write (captured and synced
// like any other, so it wins everywhere) and marks the conflict resolved.
// Fails with kRejected when the row has since been deleted (tombstones are
// final: re-create the record instead), when the conflict is an eviction
// (the row belongs to another unit now), or when already resolved.
Status RestoreConflict(Replica& replica, int64_t id);

// Marks a conflict resolved without changing data. Fails with kNotFound, or
// kRejected when it is already resolved.
Status DismissConflict(Replica& replica, int64_t id);

}  // namespace unitsync::store
