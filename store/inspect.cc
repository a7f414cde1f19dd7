#include "store/inspect.h"

#include "store/row_clock.h"

namespace unitsync::store {

Result<std::map<std::string, int64_t>> OpenConflictsByUnit(Replica& replica) {
  auto stmt = replica.db().Prepare(
      "SELECT coalesce(c.unit, ''), count(*) FROM _us_conflicts k "
      "LEFT JOIN _us_clock c ON c.tbl = k.tbl AND c.pk = k.pk "
      "WHERE k.resolved_ms IS NULL GROUP BY 1");
  if (!stmt) return tl::unexpected(stmt.error());
  std::map<std::string, int64_t> out;
  for (;;) {
    auto row = stmt->Step();
    if (!row) return tl::unexpected(row.error());
    if (!*row) break;
    out[stmt->ColumnText(0)] = stmt->ColumnInt(1);
  }
  return out;
}

Result<std::vector<RejectionSummary>> SummarizeRejections(Replica& replica) {
  auto stmt = replica.db().Prepare(
      "SELECT peer, direction, count(*), max(detected_ms) FROM _us_rejections "
      "GROUP BY peer, direction ORDER BY peer, direction");
  if (!stmt) return tl::unexpected(stmt.error());
  std::vector<RejectionSummary> out;
  for (;;) {
    auto row = stmt->Step();
    if (!row) return tl::unexpected(row.error());
    if (!*row) break;
    RejectionSummary s;
    s.peer = stmt->ColumnText(0);
    s.direction = stmt->ColumnText(1) == "o" ? RejectionDirection::kRefusedByPeer
                                             : RejectionDirection::kRefusedHere;
    s.rows = stmt->ColumnInt(2);
    s.last_ms = stmt->ColumnInt(3);
    out.push_back(std::move(s));
  }
  return out;
}

Result<Backlog> FanoutBacklog(Replica& replica, const std::string& unit, int64_t after_seq) {
  auto stmt = replica.db().Prepare(
      "SELECT count(*), coalesce(min(wall_ms), 0) FROM _us_changes "
      "WHERE seq > ?1 AND (unit = ?2 OR unit IS NULL OR unit = '')");
  if (!stmt) return tl::unexpected(stmt.error());
  stmt->BindInt(1, after_seq);
  stmt->BindText(2, unit);
  auto row = stmt->Step();
  if (!row) return tl::unexpected(row.error());
  Backlog b;
  if (*row) {
    b.changes = stmt->ColumnInt(0);
    b.oldest_wall_ms = stmt->ColumnInt(1);
  }
  return b;
}

Result<RowHistory> GetRowHistory(Replica& replica, const std::string& table,
                                 const std::string& pk) {
  const TableSpec* spec = replica.manifest().Find(table);
  if (spec == nullptr) {
    return Fail(Errc::kNotFound, "table " + table + " is not replicated",
                "the replicated tables are listed by 'unitsyncctl digest'");
  }
  auto clocks = RowClockStore::Prepare(replica.db());
  if (!clocks) return tl::unexpected(clocks.error());
  auto clock = clocks->Load(*spec, pk);
  if (!clock) return tl::unexpected(clock.error());

  RowHistory h;
  h.table = table;
  h.pk = pk;
  h.columns = spec->columns;
  if (clock->exists) {
    h.unit = clock->unit;
    h.deleted = clock->deleted;
    h.purged = clock->purged;
    h.tombstone = clock->tombstone;
    h.versions = clock->columns;
  }

  auto stmt = replica.db().Prepare(
      "SELECT seq, op, coalesce(cols, ''), coalesce(unit, ''), wall_ms FROM _us_changes "
      "WHERE tbl = ?1 AND pk = ?2 ORDER BY seq");
  if (!stmt) return tl::unexpected(stmt.error());
  stmt->BindText(1, table);
  stmt->BindText(2, pk);
  for (;;) {
    auto row = stmt->Step();
    if (!row) return tl::unexpected(row.error());
    if (!*row) break;
    LoggedChange c;
    c.seq = stmt->ColumnInt(0);
    c.table = table;
    c.pk = pk;
    const std::string op = stmt->ColumnText(1);
    c.op = op.empty() ? '?' : op[0];
    c.cols = stmt->ColumnText(2);
    c.unit = stmt->ColumnText(3);
    c.wall_ms = stmt->ColumnInt(4);
    h.log.push_back(std::move(c));
  }

  ConflictFilter filter;
  filter.include_resolved = true;
  filter.table = table;
  filter.pk = pk;
  filter.limit = 10'000;
  auto conflicts = ListConflicts(replica, filter);
  if (!conflicts) return tl::unexpected(conflicts.error());
  h.conflicts = std::move(*conflicts);

  if (!clock->exists && h.log.empty() && h.conflicts.empty()) {
    return Fail(Errc::kNotFound, "no row " + pk + " in " + table + " on this replica",
                "check the id; a unit holds only its own rows and the shared ones");
  }
  return h;
}

}  // namespace unitsync::store
