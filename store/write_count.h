// How many rows a connection has changed so far, to tell a work that wrote from one that
// found nothing to do (the daemon's storage health: only a committed write proves that
// the disk takes writes again).
#pragma once

#include <cstdint>

#include "store/replica.h"

namespace unitsync::store {

// Rows changed by every INSERT/UPDATE/DELETE on the replica's connection since it opened,
// triggers included (sqlite3_total_changes64). Rolled-back changes count too: compare two
// readings around a call that did not fail. Thread: the replica's.
inline int64_t RowsChanged(Replica& replica) { return sqlite3_total_changes64(replica.db().raw()); }

}  // namespace unitsync::store
