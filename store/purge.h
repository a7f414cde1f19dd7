// Erasure (DESIGN.md "Erasure"): a purge removes a row and its history from a
// replica and leaves only a marker — the row's _us_clock record with
// deleted = 2, no column versions, the purge's version and the row's routing
// value — that refuses the row for good. The marker travels like any change
// (a changeset "purge" row, store/FORMAT.md), so every replica erases the row,
// including a unit that was offline, and an old copy (a restored backup, a
// late bundle, a resend) cannot bring it back:
//
//   unitsyncctl purge T ID ─► PurgeRow: row, conflicts, rejections, change-log
//        entries gone; marker; 'P' logged ─► changeset purge row ─► peers merge
//        it the same way (merge.h)
//
// Who gets the purge: central logs a 'P' entry for the row's unit and for every
// unit an 'X' entry of the row still names (it may still hold the row; central
// scope: every unit); a unit sends the purges it made. Central answers a stale
// copy of a purged row from a unit (refused as `purged`) with another 'P' for
// that unit, so a unit restored from an old backup erases it too.
#pragma once

#include <string>
#include <string_view>

#include "common/error.h"
#include "store/manifest.h"
#include "store/replica.h"
#include "store/row_version.h"

namespace unitsync::store {

struct PurgeOutcome {
  bool already_purged = false;  // the marker was there: nothing changed
  std::string unit;             // the row's routing value ("" in central scope)
  Version version;              // the purge's version
};

// Purges row `pk` of `table` on this replica, in one write transaction, and queues
// the purge for the peers. At a unit only unit-scope tables (central purges shared
// reference data). Purging a purged row changes nothing (already_purged). Fails
// with kNotFound (no such replicated table; no such row, live or deleted),
// kInvalidArgument (a unit purging a central-scope table), kRejected (live rows of
// other tables refer to it: purge those first; nothing changed), or a storage error.
// Messages name the table and id, never a value.
Result<PurgeOutcome> PurgeRow(Replica& replica, std::string_view table, std::string_view pk);

namespace internal {

// Erases everything of row `pk` but the marker, which the caller saves: the row
// itself (REQUIRES: the apply flag is set, so capture stays silent, inside a write
// transaction), its conflicts and rejections, and its change-log entries — but the
// newest entry of the log, kept so sequence numbers are not reused, which becomes a
// bare 'P' (a unit never sends a 'P' for a purge it did not make). When `log` is set,
// first appends 'P' entries: one for `unit` (NULL in central scope) and, at central,
// one for every other unit an 'X' entry of the row names.
Status EraseRowHistory(Replica& replica, const TableSpec& spec, const std::string& pk,
                       const std::string& unit, bool log);

}  // namespace internal
}  // namespace unitsync::store
