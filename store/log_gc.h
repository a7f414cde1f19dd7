// Central's change log and tombstones are trimmed by what the units have acknowledged
// (DESIGN.md "Log and tombstone GC"). Central keeps one log for every unit; an entry can
// go once every unit that still counts has applied it, and a tombstone once no unit can
// still send a write made without it in view.
//
//   per unit u (central's _us_peers row and peer_hello/<u> meta):
//     acked_u   highest central log seq u acknowledged
//     safe_u    u's pull cursor at a HELLO after which central received every push u had
//               built by then: pushes u builds later were built with every change up to
//               safe_u applied
//     seen_u    last HELLO or acknowledgement (wall ms)
//   active: seen_u within the retention; a unit silent for longer no longer holds GC back
//
//   W_log  = max(min acked_u over all units,
//                min(min acked_u over active units, last seq before the retention))
//   W_tomb = min(W_log, min safe_u over active units)
//   (no active unit at all: W_log = min acked_u, W_tomb = min(that, min safe_u) — a
//   central whose clock jumped, or that was down itself, does not trim for anyone)
//   log entries <= W_log go (not a live tombstone's, not the newest, not unstamped);
//   tombstones whose newest log entry is <= W_tomb and older than the retention go, with
//   their entries. Purge markers stay for good.
//
// A unit whose pull cursor is below the trimmed point, or which may still send pushes
// built before a tombstone it never saw was dropped, is told to re-seed (RecordHello): the
// snapshot replaces what the log no longer has (seed_tracking.h).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "common/error.h"
#include "store/replica.h"

namespace unitsync::store {

struct LogGcPolicy {
  int64_t retention_ms = 30LL * 24 * 3600 * 1000;
};

struct LogGcState {
  int64_t log_trimmed_upto = 0;    // central log entries <= this may be gone
  int64_t tombs_trimmed_upto = 0;  // tombstones logged <= this may be gone
  int64_t last_run_ms = 0;
};

struct LogGcReport {
  LogGcState state;  // after the pass
  int64_t entries_deleted = 0;
  int64_t tombstones_deleted = 0;
  std::vector<std::string> silent_units;  // not holding GC back (silent past the retention)
};

Result<LogGcState> GetLogGcState(Replica& replica);

// Change-log entries and tombstones (deleted = 1) held now, for status.
Result<std::pair<int64_t, int64_t>> CountLogAndTombstones(Replica& replica);

// Central: one pass, in one transaction. kInvalidArgument on a unit replica or a
// retention <= 0.
Result<LogGcReport> CollectLogGarbage(Replica& replica, const LogGcPolicy& policy);

// Central, at unit `unit`'s HELLO (pull cursor `pull`, pushes built `built`): remembers
// them for safe_u and seen_u, and says whether the unit must re-seed because the log no
// longer reaches `pull` or tombstones it may still write against are gone.
Result<bool> RecordHello(Replica& replica, const std::string& unit, int64_t pull, int64_t built);

}  // namespace unitsync::store
