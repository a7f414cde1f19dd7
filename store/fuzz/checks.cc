#include "store/fuzz/checks.h"

#include <sqlite3.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "store/row_clock.h"

namespace unitsync::store::fuzz {
namespace {

std::string Quote(const std::string& ident) { return "\"" + ident + "\""; }

// One column of one row, typed; text and blobs as they are.
void AppendCell(sqlite3_stmt* stmt, int i, std::string& out) {
  switch (sqlite3_column_type(stmt, i)) {
    case SQLITE_NULL:
      out += "N";
      break;
    case SQLITE_INTEGER:
      out += "I" + std::to_string(sqlite3_column_int64(stmt, i));
      break;
    case SQLITE_FLOAT: {
      char buf[40];
      std::snprintf(buf, sizeof buf, "F%a", sqlite3_column_double(stmt, i));
      out += buf;
      break;
    }
    default: {
      const auto* p = static_cast<const char*>(sqlite3_column_blob(stmt, i));
      const int n = sqlite3_column_bytes(stmt, i);
      out += sqlite3_column_type(stmt, i) == SQLITE_TEXT ? "T" : "B";
      out += std::to_string(n) + ":";
      if (n > 0) out.append(p, static_cast<size_t>(n));
      break;
    }
  }
  out += '\x1f';
}

std::vector<std::string> TableNames(Replica& replica) {
  auto stmt = Must(replica.db().Prepare("SELECT name FROM sqlite_master WHERE type = 'table' "
                                        "ORDER BY name"),
                   "list tables");
  std::vector<std::string> names;
  while (Must(stmt.Step(), "list tables")) names.push_back(stmt.ColumnText(0));
  return names;
}

}  // namespace

void Violation(const std::string& what) {
  std::fprintf(stderr, "merge_fuzz: invariant violated: %s\n", what.c_str());
  std::fflush(stderr);
  std::abort();
}

void Must(Status st, const char* what) {
  if (!st) Violation(std::string(what) + ": " + st.error().message);
}

TableDump DumpTables(Replica& replica) {
  TableDump dump;
  for (const std::string& table : TableNames(replica)) {
    // Statement does not say how many columns a row has: the raw handle does.
    const std::string sql = "SELECT * FROM " + Quote(table);
    sqlite3_stmt* raw = nullptr;
    if (sqlite3_prepare_v2(replica.db().raw(), sql.c_str(), -1, &raw, nullptr) != SQLITE_OK) {
      Violation("dump: cannot read " + table);
    }
    std::vector<std::string>& rows = dump[table];
    const int columns = sqlite3_column_count(raw);
    while (sqlite3_step(raw) == SQLITE_ROW) {
      std::string row;
      for (int i = 0; i < columns; ++i) AppendCell(raw, i, row);
      rows.push_back(std::move(row));
    }
    sqlite3_finalize(raw);
    std::sort(rows.begin(), rows.end());
  }
  return dump;
}

TableDump WithoutRepeatNoise(TableDump dump) {
  dump.erase("_us_rejections");
  dump.erase("sqlite_sequence");
  auto& changes = dump["_us_changes"];
  // Columns: seq, tbl, pk, op, ... — op is the fourth cell.
  std::erase_if(changes, [](const std::string& row) {
    size_t at = 0;
    for (int i = 0; i < 3; ++i) at = row.find('\x1f', at) + 1;
    return row.compare(at, 4, "T1:P") == 0;
  });
  return dump;
}

TableDump DataOnly(TableDump dump) {
  std::erase_if(dump, [](const auto& entry) {
    return (entry.first.rfind("_us_", 0) == 0 && entry.first != "_us_clock") ||
           entry.first.rfind("sqlite_", 0) == 0;
  });
  return dump;
}

Clocks LoadClocks(Replica& replica) {
  Clocks clocks;
  auto stmt = Must(replica.db().Prepare("SELECT tbl, pk, unit, deleted, tomb_hlc, tomb_origin, "
                                        "versions FROM _us_clock"),
                   "load clocks");
  while (Must(stmt.Step(), "load clocks")) {
    const TableSpec* spec = replica.manifest().Find(stmt.ColumnText(0));
    Require(spec != nullptr, "_us_clock names a table the manifest lacks");
    ClockEntry e;
    e.unit = stmt.ColumnText(2);
    e.deleted = stmt.ColumnInt(3);
    e.tombstone = {static_cast<uint64_t>(stmt.ColumnInt(4)), stmt.ColumnText(5)};
    e.columns.assign(spec->columns.size(), ColumnVersion{});
    Must(RowClockStore::DecodeVersions(*spec, stmt.ColumnBlob(6), e.columns), "decode clock");
    clocks[{spec->name, stmt.ColumnText(1)}] = std::move(e);
  }
  return clocks;
}

std::vector<TableDigest> AllDigests(Replica& replica) {
  std::vector<TableDigest> out = Must(ComputeDigests(replica), "digests");
  for (const char* unit : {"unit-0001", "unit-0002"}) {
    auto scoped = Must(ComputeDigests(replica, DigestScope{unit}), "digests");
    out.insert(out.end(), scoped.begin(), scoped.end());
  }
  return out;
}

std::set<RowKey> ErasingRows(const Replica& replica, const Changeset& changeset) {
  std::set<RowKey> out;
  for (const TableChanges& block : changeset.tables) {
    for (const ChangeRow& row : block.rows) {
      const bool foreign_purge =
          row.purge && replica.role() == Role::kUnit && row.tombstone_unit != replica.node_id();
      if (row.evict || foreign_purge) out.insert({block.table, row.pk});
    }
  }
  return out;
}

void CheckVersionsForward(const Clocks& before, const Clocks& after,
                          const std::set<RowKey>& erasing, const std::string& where) {
  for (const auto& [key, b] : before) {
    if (erasing.count(key)) continue;
    const std::string row = where + ": " + key.first + "/" + key.second;
    auto it = after.find(key);
    Require(it != after.end(), row + ": the row's clock vanished");
    const ClockEntry& a = it->second;
    if (b.deleted == 2) {
      Require(a.deleted == 2, row + ": a purge marker was lifted");
      Require(a.tombstone >= b.tombstone, row + ": a purge version went back");
      continue;
    }
    if (a.deleted == 2) continue;  // purged now: nothing is left to compare
    if (b.deleted == 1) {
      Require(a.deleted == 1, row + ": a tombstone was lifted");
      Require(a.tombstone >= b.tombstone, row + ": a tombstone version went back");
    }
    for (size_t c = 0; c < b.columns.size(); ++c) {
      Require(a.columns[c].v >= b.columns[c].v,
              row + ": column " + std::to_string(c) + "'s version went back");
    }
  }
}

void CheckReplica(Replica& replica, const std::set<RowKey>& markers, bool scan_values) {
  const Clocks clocks = LoadClocks(replica);
  for (const RowKey& key : markers) {
    auto it = clocks.find(key);
    Require(
        it != clocks.end() && it->second.deleted == 2,
        replica.node_id() + ": the purge marker of " + key.first + "/" + key.second + " is gone");
  }
  for (const TableSpec& spec : replica.manifest().tables()) {
    auto live = Must(replica.db().Prepare("SELECT count(*) FROM " + Quote(spec.name) +
                                          " JOIN _us_clock ON _us_clock.tbl = ?1 AND "
                                          "_us_clock.pk = " +
                                          Quote(spec.name) + ".id WHERE _us_clock.deleted <> 0"),
                     "check");
    live.BindText(1, spec.name);
    Must(live.Step(), "check");
    Require(live.ColumnInt(0) == 0,
            replica.node_id() + ": " + spec.name + " has a live row that is deleted or purged");
    auto lost = Must(replica.db().Prepare("SELECT count(*) FROM _us_clock WHERE tbl = ?1 AND "
                                          "deleted = 0 AND pk NOT IN (SELECT id FROM " +
                                          Quote(spec.name) + ")"),
                     "check");
    lost.BindText(1, spec.name);
    Must(lost.Step(), "check");
    Require(lost.ColumnInt(0) == 0,
            replica.node_id() + ": " + spec.name + " lacks a row its live clock has");
  }
  if (!scan_values) return;
  for (const auto& [table, rows] : DumpTables(replica)) {
    for (const std::string& row : rows) {
      for (size_t at = row.find("LOCAL-"); at != std::string::npos;
           at = row.find("LOCAL-", at + 1)) {
        Require(row.compare(at + 6, replica.node_id().size(), replica.node_id()) == 0,
                replica.node_id() + ": table " + table +
                    " holds a local-only value written at another node");
      }
    }
  }
}

}  // namespace unitsync::store::fuzz
