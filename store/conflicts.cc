#include "store/conflicts.h"

namespace unitsync::store {
namespace {

constexpr const char* kColumns =
    "SELECT id, tbl, pk, col, kind, winner_value, winner_hlc, winner_origin, loser_value, "
    "loser_hlc, loser_origin, detected_ms, resolved_ms FROM _us_conflicts";

Conflict Read(const Statement& s) {
  Conflict c;
  c.id = s.ColumnInt(0);
  c.table = s.ColumnText(1);
  c.pk = s.ColumnText(2);
  c.column = s.ColumnText(3);
  c.kind = s.ColumnText(4);
  c.winner_value = s.ColumnValue(5);
  c.winner = {static_cast<uint64_t>(s.ColumnInt(6)), s.ColumnText(7)};
  c.loser_value = s.ColumnValue(8);
  c.loser = {static_cast<uint64_t>(s.ColumnInt(9)), s.ColumnText(10)};
  c.detected_ms = s.ColumnInt(11);
  if (!s.ColumnIsNull(12)) c.resolved_ms = s.ColumnInt(12);
  return c;
}

Status MarkResolved(Replica& replica, int64_t id) {
  auto stmt = replica.db().Prepare("UPDATE _us_conflicts SET resolved_ms = ?2 WHERE id = ?1");
  if (!stmt) return tl::unexpected(stmt.error());
  stmt->BindInt(1, id);
  stmt->BindInt(2, replica.NowMs());
  return stmt->Run();
}

}  // namespace

Result<std::vector<Conflict>> ListConflicts(Replica& replica, const ConflictFilter& filter) {
  std::string sql =
      std::string(kColumns) +
      " WHERE (?1 OR resolved_ms IS NULL) AND (?2 IS NULL OR tbl = ?2) AND (?4 IS NULL OR pk = ?4)"
      " ORDER BY id LIMIT ?3";
  auto stmt = replica.db().Prepare(sql);
  if (!stmt) return tl::unexpected(stmt.error());
  stmt->BindInt(1, filter.include_resolved ? 1 : 0);
  if (filter.table) {
    stmt->BindText(2, *filter.table);
  } else {
    stmt->BindNull(2);
  }
  stmt->BindInt(3, static_cast<int64_t>(filter.limit));
  if (filter.pk) {
    stmt->BindText(4, *filter.pk);
  } else {
    stmt->BindNull(4);
  }
  std::vector<Conflict> out;
  for (;;) {
    auto row = stmt->Step();
    if (!row) return tl::unexpected(row.error());
    if (!*row) break;
    out.push_back(Read(*stmt));
  }
  return out;
}

Result<Conflict> GetConflict(Replica& replica, int64_t id) {
  auto stmt = replica.db().Prepare(std::string(kColumns) + " WHERE id = ?1");
  if (!stmt) return tl::unexpected(stmt.error());
  stmt->BindInt(1, id);
  auto row = stmt->Step();
  if (!row) return tl::unexpected(row.error());
  if (!*row) {
    return Fail(Errc::kNotFound, "no conflict " + std::to_string(id),
                "list them with 'unitsyncctl conflicts'");
  }
  return Read(*stmt);
}

Status RestoreConflict(Replica& replica, int64_t id) {
  auto tx = Transaction::Begin(replica.db());
  if (!tx) return tl::unexpected(tx.error());
  auto c = GetConflict(replica, id);
  if (!c) return tl::unexpected(c.error());
  if (c->resolved_ms) {
    return Fail(Errc::kRejected, "conflict " + std::to_string(id) + " is already resolved");
  }
  if (c->kind == "evict") {
    return Fail(Errc::kRejected,
                "conflict " + std::to_string(id) + ": row " + c->pk + " of " + c->table +
                    " now belongs to another unit",
                "restoring here would write another unit's row; an admin at central re-creates "
                "the record deliberately, with the value from 'conflicts show'");
  }
  const TableSpec* spec = replica.manifest().Find(c->table);
  if (spec == nullptr || spec->ColumnIndex(c->column) < 0) {
    return Fail(Errc::kRejected, "conflict " + std::to_string(id) +
                                     " names a column that is no "
                                     "longer replicated");
  }
  // A plain local write: the capture trigger logs it, the next stamp gives it
  // a version newer than anything seen, so it wins on every replica.
  auto update = replica.db().Prepare("UPDATE \"" + c->table + "\" SET \"" + c->column +
                                     "\" = ?2 WHERE id = ?1");
  if (!update) return tl::unexpected(update.error());
  update->BindText(1, c->pk);
  update->BindValue(2, c->loser_value);
  if (auto st = update->Run(); !st) return st;
  if (replica.db().Changes() == 0) {
    return Fail(Errc::kRejected, "row " + c->pk + " of " + c->table + " has been deleted",
                "deletes are final; re-create the record with the value from 'conflicts show'");
  }
  if (auto st = MarkResolved(replica, id); !st) return st;
  return tx->Commit();
}

Status DismissConflict(Replica& replica, int64_t id) {
  auto c = GetConflict(replica, id);
  if (!c) return tl::unexpected(c.error());
  if (c->resolved_ms) {
    return Fail(Errc::kRejected, "conflict " + std::to_string(id) + " is already resolved");
  }
  return MarkResolved(replica, id);
}

}  // namespace unitsync::store
