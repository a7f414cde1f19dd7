// The documents the control commands answer with, computed from a replica. The daemon
// computes them on its store thread and adds what only it knows (sessions, live link
// state); unitsyncctl computes the same documents from the database when the daemon is
// down. Shapes are documented in control/DESIGN.md; unitsyncctl prints them as tables.
//
// None of these write (the database may be opened read-only), except ResolveConflict
// and PurgeRowView.
// Only ConflictDetail carries row values.
#pragma once

#include <ctime>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "common/error.h"
#include "store/replica.h"

namespace unitsync::control {

// `status`: role, ids, the change log and outbox (what waits to go out and how old it
// is), cursors, open conflicts, rejected rows (summary and the newest few).
Result<nlohmann::json> StatusView(store::Replica& replica);

// What central's PKI says about a unit (the registry lives in pki/; passed in plain).
struct EnrolledUnitInfo {
  std::string unit_id;
  std::time_t cert_not_after = 0;
  bool revoked = false;
};

// `units` (central): one entry per unit that is enrolled or that central has a cursor
// for: pushes applied, fan-out acknowledged, backlog toward it (changes, oldest age),
// open conflicts on its rows, rejected rows from it, last sync time, certificate expiry.
// `settled_to`: per unit, a central log seq the running daemon knows the unit needs
// nothing before (its fan-out examined and acknowledged up to there); without it the lag
// is an upper bound that counts the unit's own pushes too.
Result<nlohmann::json> UnitsView(store::Replica& replica,
                                 const std::vector<EnrolledUnitInfo>& enrolled,
                                 const std::map<std::string, int64_t>& settled_to = {});

struct ConflictQuery {
  bool all = false;
  std::optional<std::string> table;
  size_t limit = 1000;
};
// A JSON array of conflict summaries (no values).
Result<nlohmann::json> ConflictListView(store::Replica& replica, const ConflictQuery& query);
// One conflict with both values.
Result<nlohmann::json> ConflictDetailView(store::Replica& replica, int64_t id);
// Restores (writes the loser back) or dismisses; {"id":N,"restored"|"dismissed":true}.
Result<nlohmann::json> ResolveConflict(store::Replica& replica, int64_t id, bool restore);

// Purges one row (store/purge.h): {table, id, unit, version, already_purged}.
Result<nlohmann::json> PurgeRowView(store::Replica& replica, const std::string& table,
                                    const std::string& id);

// `history TABLE ID`: per-column versions (current, and the newest version from another
// node that the column's writes replaced — store/FORMAT.md) with origins and HLCs,
// the tombstone, change-log entries still held and conflicts recorded on the row.
Result<nlohmann::json> HistoryView(store::Replica& replica, const std::string& table,
                                   const std::string& id);

// `digest`: per-table digests; `unit` as store::DigestScope (a unit always its own).
Result<nlohmann::json> DigestView(store::Replica& replica, const std::optional<std::string>& unit);

}  // namespace unitsync::control
