#include "store/purge.h"

#include <set>

#include "store/change_log.h"
#include "store/row_clock.h"

namespace unitsync::store {
namespace {

std::string Quote(std::string_view ident) { return "\"" + std::string(ident) + "\""; }

// Runs `sql` with ?1 = table and ?2 = id.
Status RunForRow(Db& db, const std::string& sql, const TableSpec& spec, const std::string& pk) {
  auto stmt = db.Prepare(sql);
  if (!stmt) return tl::unexpected(stmt.error());
  stmt->BindText(1, spec.name);
  stmt->BindText(2, pk);
  return stmt->Run();
}

Result<int64_t> MaxLogSeq(Db& db) {
  auto stmt = db.Prepare("SELECT coalesce(max(seq), 0) FROM _us_changes");
  if (!stmt) return tl::unexpected(stmt.error());
  auto row = stmt->Step();
  if (!row) return tl::unexpected(row.error());
  return stmt->ColumnInt(0);
}

// The live row's routing value, or nullopt when there is no live row.
Result<std::optional<std::string>> LiveRouting(Db& db, const TableSpec& spec, std::string_view pk) {
  auto stmt =
      db.Prepare("SELECT " + (spec.routing.empty() ? std::string("NULL") : Quote(spec.routing)) +
                 " FROM " + Quote(spec.name) + " WHERE id = ?1");
  if (!stmt) return tl::unexpected(stmt.error());
  stmt->BindText(1, pk);
  auto row = stmt->Step();
  if (!row) return tl::unexpected(row.error());
  if (!*row) return std::optional<std::string>();
  return std::optional<std::string>(stmt->ColumnText(0));
}

}  // namespace

namespace internal {

Status EraseRowHistory(Replica& replica, const TableSpec& spec, const std::string& pk,
                       const std::string& unit, bool log) {
  Db& db = replica.db();
  auto before = MaxLogSeq(db);
  if (!before) return tl::unexpected(before.error());
  if (log) {
    std::set<std::string> units = {unit};
    if (replica.role() == Role::kCentral && spec.scope == Scope::kUnit) {
      // Units the row moved away from whose eviction may not have reached them yet.
      auto moved = db.Prepare(
          "SELECT DISTINCT unit FROM _us_changes WHERE tbl = ?1 AND pk = ?2 AND op = 'X' "
          "AND unit IS NOT NULL");
      if (!moved) return tl::unexpected(moved.error());
      moved->BindText(1, spec.name);
      moved->BindText(2, pk);
      for (;;) {
        auto row = moved->Step();
        if (!row) return tl::unexpected(row.error());
        if (!*row) break;
        units.insert(moved->ColumnText(0));
      }
    }
    auto add = db.Prepare(
        "INSERT INTO _us_changes(tbl, pk, op, cols, unit, wall_ms) VALUES (?1, ?2, 'P', NULL, "
        "nullif(?3, ''), ?4)");
    if (!add) return tl::unexpected(add.error());
    for (const std::string& u : units) {
      add->Reset();
      add->BindText(1, spec.name);
      add->BindText(2, pk);
      add->BindText(3, u);
      add->BindInt(4, replica.NowMs());
      if (auto st = add->Run(); !st) return st;
    }
  }
  auto row = db.Prepare("DELETE FROM " + Quote(spec.name) + " WHERE id = ?1");
  if (!row) return tl::unexpected(row.error());
  row->BindText(1, pk);
  if (auto st = row->Run(); !st) return st;
  for (const char* table : {"_us_conflicts", "_us_rejections"}) {
    if (auto st = RunForRow(db, std::string("DELETE FROM ") + table + " WHERE tbl = ?1 AND pk = ?2",
                            spec, pk);
        !st) {
      return st;
    }
  }
  // Every entry up to `before` (the 'P' entries just added come after it), but never
  // the newest of the log: a trim keeps it so sequence numbers are not reused. Kept, it
  // becomes a 'P' that says nothing of the row's past.
  const std::string upto = std::to_string(*before);
  if (auto st = RunForRow(db,
                          "DELETE FROM _us_changes WHERE tbl = ?1 AND pk = ?2 AND seq <= " + upto +
                              " AND seq < (SELECT max(seq) FROM _us_changes)",
                          spec, pk);
      !st) {
    return st;
  }
  return RunForRow(db,
                   "UPDATE _us_changes SET op = 'P', cols = NULL WHERE tbl = ?1 AND pk = ?2 "
                   "AND seq <= " +
                       upto,
                   spec, pk);
}

}  // namespace internal

Result<PurgeOutcome> PurgeRow(Replica& replica, std::string_view table, std::string_view pk_in) {
  const std::string pk(pk_in);
  const TableSpec* spec = replica.manifest().Find(table);
  if (spec == nullptr) {
    return Fail(Errc::kNotFound, "no replicated table " + std::string(table),
                "`unitsyncctl inspect --tables` lists them");
  }
  if (replica.role() == Role::kUnit && spec->scope == Scope::kCentral) {
    return Fail(Errc::kInvalidArgument,
                "table " + spec->name + " is shared reference data: only central purges it",
                "run the purge on central");
  }
  Db& db = replica.db();
  auto tx = Transaction::Begin(db);
  if (!tx) return tl::unexpected(tx.error());
  const uint64_t clock_before = replica.clock().last();
  auto fail = [&](const Error& e) {
    replica.clock().Restore(clock_before);
    return tl::unexpected(e);
  };
  // A local write not yet versioned is part of the row's history too.
  if (auto st = StampPendingChanges(replica); !st) return fail(st.error());
  auto clocks = RowClockStore::Prepare(db);
  if (!clocks) return fail(clocks.error());
  auto clock = clocks->Load(*spec, pk);
  if (!clock) return fail(clock.error());
  PurgeOutcome out;
  if (clock->purged) {
    out.already_purged = true;
    out.unit = clock->unit;
    out.version = clock->tombstone;
    return out;
  }
  auto live = LiveRouting(db, *spec, pk);
  if (!live) return fail(live.error());
  if (!clock->exists && !live->has_value()) {
    return fail(Error{Errc::kNotFound, "no row " + pk + " in table " + spec->name,
                      "check the table and id (`unitsyncctl inspect`)"});
  }
  out.unit = clock->exists ? clock->unit : live->value_or("");
  if (spec->scope == Scope::kCentral) out.unit.clear();
  out.version = {std::max(replica.clock().Tick(), clock->MaxHlc() + 1), replica.node_id()};

  if (auto st = db.Exec("INSERT INTO _us_applying(flag) VALUES (1)"); !st) return fail(st.error());
  if (auto st = internal::EraseRowHistory(replica, *spec, pk, out.unit, /*log=*/true); !st) {
    if (st.error().code != Errc::kConstraint) return fail(st.error());
    return fail(Error{Errc::kRejected,
                      "rows of other tables refer to row " + pk + " of " + spec->name,
                      "purge those rows first; nothing was changed"});
  }
  const RowClock marker = RowClock::PurgeMarker(spec->columns.size(), out.unit, out.version);
  if (auto st = clocks->Save(*spec, pk, marker); !st) return fail(st.error());
  if (auto st = db.Exec("DELETE FROM _us_applying"); !st) return fail(st.error());
  if (auto st = replica.SaveClock(); !st) return fail(st.error());
  if (auto st = tx->Commit(); !st) return fail(st.error());
  return out;
}

}  // namespace unitsync::store
