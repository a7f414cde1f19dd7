#include "control/views.h"

#include <algorithm>
#include <map>

#include "control/format.h"
#include "store/change_log.h"
#include "store/conflicts.h"
#include "store/cursors.h"
#include "store/digest.h"
#include "store/inspect.h"
#include "store/log_gc.h"
#include "store/merge.h"
#include "store/purge.h"
#include "store/rejections.h"
#include "store/sync_state.h"

namespace unitsync::control {
namespace {

using nlohmann::json;

constexpr size_t kRecentRejections = 10;

#define US_TRY(var, expr) \
  auto var = (expr);      \
  if (!var) return tl::unexpected(std::move(var).error())

const char* DirectionName(store::RejectionDirection d) {
  return d == store::RejectionDirection::kRefusedByPeer ? "refused_by_peer" : "refused_here";
}

std::string ReasonName(uint16_t reason) {
  // A peer may send codes this build does not know: name them by number.
  const std::string_view name =
      store::RowRejectReasonName(static_cast<store::RowRejectReason>(reason));
  return name == "unknown" ? "code_" + std::to_string(reason) : std::string(name);
}

json CursorJson(const store::PeerCursor& c) {
  return {{"peer", c.peer},
          {"sent_seq", c.sent_seq},
          {"acked_seq", c.acked_seq},
          {"received_seq", c.received_seq},
          {"updated_ms", c.updated_ms}};
}

Result<json> RejectionsJson(store::Replica& replica) {
  US_TRY(summary, store::SummarizeRejections(replica));
  US_TRY(recent, store::ListRejections(replica, kRecentRejections));
  json by_peer = json::array();
  int64_t total = 0;
  for (const auto& s : *summary) {
    total += s.rows;
    by_peer.push_back({{"peer", s.peer},
                       {"direction", DirectionName(s.direction)},
                       {"rows", s.rows},
                       {"last_ms", s.last_ms}});
  }
  json rows = json::array();
  for (const auto& r : *recent) {
    rows.push_back({{"peer", r.peer},
                    {"direction", DirectionName(r.direction)},
                    {"seq", r.seq},
                    {"table", r.table},
                    {"id", r.pk},
                    {"reason", r.reason},
                    {"reason_name", ReasonName(r.reason)},
                    {"detected_ms", r.detected_ms}});
  }
  return json{{"total", total}, {"by_peer", by_peer}, {"recent", rows}};
}

int64_t Sum(const std::map<std::string, int64_t>& m) {
  int64_t n = 0;
  for (const auto& [k, v] : m) n += v;
  return n;
}

json ConflictSummary(const store::Conflict& c) {
  return {{"id", c.id},
          {"table", c.table},
          {"row_id", c.pk},
          {"column", c.column},
          {"kind", c.kind},
          {"winner", VersionJson(c.winner)},
          {"loser", VersionJson(c.loser)},
          {"detected_ms", c.detected_ms},
          {"detected_at", FormatTimeMs(c.detected_ms)},
          {"resolved_ms", c.resolved_ms ? json(*c.resolved_ms) : nullptr}};
}

}  // namespace

Result<json> StatusView(store::Replica& replica) {
  const bool unit = replica.role() == store::Role::kUnit;
  json doc = {{"role", unit ? "unit" : "central"},
              {"node_id", replica.node_id()},
              {"database", replica.path()},
              {"schema_version", replica.schema_version()},
              {"now_ms", replica.NowMs()}};
  US_TRY(cursors, store::ListCursors(replica));
  json cur = json::array();
  for (const auto& c : *cursors) cur.push_back(CursorJson(c));
  doc["cursors"] = cur;
  if (unit) {
    US_TRY(outbox, store::GetOutboxState(replica));
    // What central has not acknowledged yet: change-log entries after the newest
    // acknowledged changeset (built ones wait in the outbox, the rest to be built).
    US_TRY(stats, store::GetChangeLogStats(replica, outbox->acked_log_seq));
    US_TRY(generation, store::GetSeenGeneration(replica));
    int64_t pulled = 0;
    for (const auto& c : *cursors) pulled = std::max(pulled, c.received_seq);
    doc["outgoing"] = {
        {"pending_changes", stats->pending},     {"oldest_pending_ms", stats->oldest_wall_ms},
        {"log_head_seq", stats->head_seq},       {"outbox_pending", outbox->pending},
        {"built_seq", outbox->built_seq},        {"acked_seq", outbox->acked_seq},
        {"acked_log_seq", outbox->acked_log_seq}};
    doc["incoming"] = {{"pulled_seq", pulled}, {"central_generation", *generation}};
    // The daemon replaced a damaged replica (kept under this name) by one it re-seeds.
    US_TRY(quarantined, replica.GetMeta("quarantined_as"));
    if (*quarantined) doc["quarantined_as"] = **quarantined;
    // A re-seed asked for or under way; a pristine replica is seeded at the next connection.
    US_TRY(seed, store::GetSeedState(replica));
    US_TRY(pristine, store::IsPristine(replica));
    if (seed->wanted || !seed->snapshot.empty() || *pristine) {
      doc["seed"] = {{"snapshot", seed->snapshot},
                     {"chunks_applied", seed->next_chunk},
                     {"rows_applied", seed->rows_done},
                     {"rows_total", seed->rows_total},
                     {"head", seed->head},
                     {"forced", seed->forced},
                     {"pristine", *pristine}};
    }
  } else {
    US_TRY(stats, store::GetChangeLogStats(replica, INT64_MAX));
    US_TRY(generation, store::GetGeneration(replica));
    doc["log_head_seq"] = stats->head_seq;
    doc["generation"] = *generation;
    doc["units_known"] = cursors->size();
    US_TRY(gc, store::GetLogGcState(replica));
    US_TRY(counts, store::CountLogAndTombstones(replica));
    doc["log_gc"] = {{"entries", counts->first},
                     {"tombstones", counts->second},
                     {"trimmed_upto", gc->log_trimmed_upto},
                     {"tombstones_trimmed_upto", gc->tombs_trimmed_upto},
                     {"last_run_ms", gc->last_run_ms}};
  }
  US_TRY(conflicts, store::OpenConflictsByUnit(replica));
  doc["conflicts_open"] = Sum(*conflicts);
  US_TRY(rejections, RejectionsJson(replica));
  doc["rejections"] = std::move(*rejections);
  return doc;
}

Result<json> UnitsView(store::Replica& replica, const std::vector<EnrolledUnitInfo>& enrolled,
                       const std::map<std::string, int64_t>& settled_to) {
  if (replica.role() != store::Role::kCentral) {
    return Fail(Errc::kInvalidArgument, "'units' is central's view of its units",
                "run it at central; at a unit use 'unitsyncctl status'");
  }
  US_TRY(cursors, store::ListCursors(replica));
  US_TRY(conflicts, store::OpenConflictsByUnit(replica));
  US_TRY(rejections, store::SummarizeRejections(replica));
  US_TRY(head, store::GetChangeLogStats(replica, INT64_MAX));
  const int64_t now = replica.NowMs();

  std::map<std::string, json> units;
  for (const auto& e : enrolled) {
    units[e.unit_id] = {{"unit", e.unit_id},
                        {"enrolled", true},
                        {"revoked", e.revoked},
                        {"cert_not_after_ms", static_cast<int64_t>(e.cert_not_after) * 1000}};
  }
  std::map<std::string, store::PeerCursor> by_unit;
  for (const auto& c : *cursors) by_unit[c.peer] = c;
  for (const auto& [id, c] : by_unit) {
    if (!units.contains(id)) {
      units[id] = {{"unit", id}, {"enrolled", false}, {"revoked", false}, {"cert_not_after_ms", 0}};
    }
  }
  json out = json::array();
  for (auto& [id, u] : units) {
    const store::PeerCursor c = by_unit.contains(id) ? by_unit[id] : store::PeerCursor{id};
    const int64_t settled = settled_to.contains(id) ? settled_to.at(id) : 0;
    US_TRY(backlog, store::FanoutBacklog(replica, id, std::max(c.acked_seq, settled)));
    int64_t rejected = 0, last_rejection = 0;
    for (const auto& r : *rejections) {
      if (r.peer == id && r.direction == store::RejectionDirection::kRefusedHere) {
        rejected += r.rows;
        last_rejection = std::max(last_rejection, r.last_ms);
      }
    }
    u["pushes_applied"] = c.received_seq;
    u["fanout_acked_seq"] = c.acked_seq;
    u["last_sync_ms"] = c.updated_ms;
    u["lag_changes"] = backlog->changes;
    u["lag_ms"] =
        backlog->oldest_wall_ms > 0 ? std::max<int64_t>(0, now - backlog->oldest_wall_ms) : 0;
    u["conflicts_open"] = conflicts->contains(id) ? conflicts->at(id) : 0;
    u["rejected_rows"] = rejected;
    u["last_rejection_ms"] = last_rejection;
    out.push_back(std::move(u));
  }
  return json{{"now_ms", now}, {"log_head_seq", head->head_seq}, {"units", out}};
}

Result<json> ConflictListView(store::Replica& replica, const ConflictQuery& query) {
  store::ConflictFilter filter;
  filter.include_resolved = query.all;
  filter.table = query.table;
  filter.limit = query.limit;
  US_TRY(conflicts, store::ListConflicts(replica, filter));
  json doc = json::array();
  for (const auto& c : *conflicts) doc.push_back(ConflictSummary(c));
  return doc;
}

Result<json> ConflictDetailView(store::Replica& replica, int64_t id) {
  US_TRY(c, store::GetConflict(replica, id));
  json doc = ConflictSummary(*c);
  doc["winner_value"] = ValueJson(c->winner_value);
  doc["loser_value"] = ValueJson(c->loser_value);
  return doc;
}

Result<json> ResolveConflict(store::Replica& replica, int64_t id, bool restore) {
  auto st = restore ? store::RestoreConflict(replica, id) : store::DismissConflict(replica, id);
  if (!st) return tl::unexpected(st.error());
  return json{{"id", id}, {restore ? "restored" : "dismissed", true}};
}

Result<json> PurgeRowView(store::Replica& replica, const std::string& table,
                          const std::string& id) {
  US_TRY(out, store::PurgeRow(replica, table, id));
  return json{{"table", table},
              {"id", id},
              {"unit", out->unit},
              {"version", VersionJson(out->version)},
              {"already_purged", out->already_purged}};
}

Result<json> HistoryView(store::Replica& replica, const std::string& table, const std::string& id) {
  US_TRY(h, store::GetRowHistory(replica, table, id));
  json columns = json::array();
  for (size_t i = 0; i < h->columns.size(); ++i) {
    const store::ColumnVersion cv =
        i < h->versions.size() ? h->versions[i] : store::ColumnVersion{};
    columns.push_back({{"column", h->columns[i]},
                       {"version", cv.v.empty() ? json() : VersionJson(cv.v)},
                       {"replaced", cv.prev.empty() ? json() : VersionJson(cv.prev)}});
  }
  json log = json::array();
  for (const auto& e : h->log) {
    log.push_back({{"seq", e.seq},
                   {"op", std::string(1, e.op)},
                   {"columns", e.cols},
                   {"unit", e.unit},
                   {"wall_ms", e.wall_ms}});
  }
  json conflicts = json::array();
  for (const auto& c : h->conflicts) conflicts.push_back(ConflictSummary(c));
  return json{{"table", h->table},
              {"id", h->pk},
              {"unit", h->unit},
              {"deleted", h->deleted},
              {"purged", h->purged},
              {"tombstone", h->tombstone.empty() ? json() : VersionJson(h->tombstone)},
              {"columns", columns},
              {"log", log},
              {"conflicts", conflicts}};
}

Result<json> DigestView(store::Replica& replica, const std::optional<std::string>& unit) {
  store::DigestScope scope;
  if (replica.role() == store::Role::kUnit) {
    // A unit holds its own rows; scoping to them makes the output directly comparable
    // with central's 'digest --unit THIS-UNIT'.
    if (unit && *unit != replica.node_id()) {
      return Fail(Errc::kInvalidArgument, "a unit replica holds only its own unit's rows",
                  "omit --unit, or run it at central");
    }
    scope.unit = replica.node_id();
  } else {
    scope.unit = unit;
  }
  US_TRY(digests, store::ComputeDigests(replica, scope));
  json tables = json::array();
  for (const auto& d : *digests) {
    tables.push_back(
        {{"table", d.table}, {"rows", d.rows}, {"tombstones", d.tombstones}, {"sha256", d.sha256}});
  }
  return json{{"scope", scope.unit ? json(*scope.unit) : json("all")}, {"tables", tables}};
}

}  // namespace unitsync::control
