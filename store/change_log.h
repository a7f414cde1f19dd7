// The change log (_us_changes) is the outgoing queue. The capture triggers
// append to it; the engine stamps each entry's columns with HLC versions;
// the changeset builder reads it after a cursor; it is trimmed only up to
// what the peers have acknowledged.
//
//   local write ─► trigger ─► _us_changes (unstamped)
//        ─► StampPendingChanges ─► _us_clock versions (HLC, origin = this node)
//        ─► BuildChangeset(after cursor) ─► ... ─► peer acks ─► TrimChangeLog
//
// Contract: reading never deletes; an entry is trimmed only when every
// peer's acknowledged cursor has passed it; delivery is at least once and
// receivers deduplicate (merge is idempotent).
#pragma once

#include <string>
#include <vector>

#include "common/error.h"
#include "store/replica.h"

namespace unitsync::store {

struct LoggedChange {
  int64_t seq = 0;
  std::string table;
  std::string pk;
  // I insert, U update, D delete, M merged from a peer (central), X the row
  // moved away from `unit` (an eviction for that unit), R re-queued for a
  // resend (sync_state.h ResetOutbox), P the row was purged (purge.h; at central one
  // per unit that may hold it, `unit` = that unit). X, R and P carry no column changes.
  char op = 'U';
  std::string cols;  // Changed columns for U, comma-separated.
  std::string unit;  // Routing value when captured (X: the old one); empty in central scope.
  int64_t wall_ms = 0;
};

struct ChangeLogStats {
  int64_t head_seq = 0;        // Highest seq ever assigned (0: none).
  int64_t pending = 0;         // Entries after the given cursor.
  int64_t oldest_wall_ms = 0;  // Capture time of the oldest of those (0: none).
};

// Stamps every entry captured since the last call: each changed column gets
// a fresh version (greater than the one it replaces), deletes become
// tombstones; 'M', 'X', 'R' and 'P' entries are skipped (they write nothing). REQUIRES: inside a
// write transaction (the apply and build paths call it first so no unstamped local write can be
// overtaken).
Status StampPendingChanges(Replica& replica);

// Stamps in its own transaction.
Status StampPendingChangesNow(Replica& replica);

// Entries with seq > after_seq, oldest first, at most `limit`.
Result<std::vector<LoggedChange>> ListChanges(Replica& replica, int64_t after_seq, size_t limit);

Result<ChangeLogStats> GetChangeLogStats(Replica& replica, int64_t after_seq);

// Deletes entries with seq <= upto_seq, except the newest entry of all,
// which is kept so sequence numbers are never reused. The caller guarantees
// every peer has acknowledged them; unstamped entries are never deleted.
Status TrimChangeLog(Replica& replica, int64_t upto_seq);

}  // namespace unitsync::store
