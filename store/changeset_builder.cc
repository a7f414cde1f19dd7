#include "store/changeset_builder.h"

#include <map>

#include "store/change_log.h"
#include "store/meta_number.h"
#include "store/row_clock.h"

namespace unitsync::store {
namespace {

// Reads one table's replicated columns by id.
class RowReader {
 public:
  static Result<RowReader> Prepare(Db& db, const TableSpec& spec) {
    std::string sql = "SELECT ";
    for (size_t i = 0; i < spec.columns.size(); ++i) {
      sql += (i ? ", \"" : "\"") + spec.columns[i] + "\"";
    }
    if (spec.columns.empty()) sql += "1";
    sql += " FROM \"" + spec.name + "\" WHERE id = ?1";
    auto stmt = db.Prepare(sql);
    if (!stmt) return tl::unexpected(stmt.error());
    RowReader r;
    r.stmt_ = std::move(*stmt);
    r.ncols_ = spec.columns.size();
    return r;
  }

  // Values in spec order, or nullopt when there is no such row.
  Result<std::optional<std::vector<Value>>> Read(std::string_view pk) {
    stmt_.Reset();
    stmt_.BindText(1, pk);
    auto row = stmt_.Step();
    if (!row) return tl::unexpected(row.error());
    if (!*row) return std::optional<std::vector<Value>>();
    std::vector<Value> values(ncols_);
    for (size_t i = 0; i < ncols_; ++i) values[i] = stmt_.ColumnValue(static_cast<int>(i));
    stmt_.Reset();
    return std::optional<std::vector<Value>>(std::move(values));
  }

 private:
  Statement stmt_;
  size_t ncols_ = 0;
};

bool IsPrivate(const TableSpec& spec, const std::vector<Value>& values) {
  if (spec.private_row_flag.empty()) return false;
  const int i = spec.ColumnIndex(spec.private_row_flag);
  const auto* flag = i >= 0 ? std::get_if<int64_t>(&values[i]) : nullptr;
  return flag != nullptr && *flag == 1;
}

std::string RoutingValue(const TableSpec& spec, const std::vector<Value>& values) {
  const int i = spec.routing.empty() ? -1 : spec.ColumnIndex(spec.routing);
  const auto* s = i >= 0 ? std::get_if<std::string>(&values[i]) : nullptr;
  return s ? *s : std::string();
}

// The changeset row of a purged record: no values, no versions.
ChangeRow PurgeRowOf(const std::string& pk, const RowClock& clock) {
  ChangeRow row;
  row.pk = pk;
  row.purge = true;
  row.tombstone_version = clock.tombstone;
  row.tombstone_unit = clock.unit;
  return row;
}

}  // namespace

Result<BuiltChangeset> BuildChangeset(Replica& replica, const BuildRequest& request) {
  if (auto st = StampPendingChangesNow(replica); !st) return tl::unexpected(st.error());

  // A read transaction: every row is read from the same snapshot as the log.
  auto tx = Transaction::Begin(replica.db(), Transaction::Kind::kDeferred);
  if (!tx) return tl::unexpected(tx.error());
  auto clocks = RowClockStore::Prepare(replica.db());
  if (!clocks) return tl::unexpected(clocks.error());
  auto stamped = GetMetaNumber(replica, "stamped_seq");
  if (!stamped) return tl::unexpected(stamped.error());
  const int64_t stamped_seq = *stamped;

  BuiltChangeset out;
  out.last_seq = request.after_seq;
  Changeset cs;
  cs.origin = replica.node_id();
  std::map<std::string, size_t> block_of;  // table -> index in cs.tables
  std::map<std::string, RowReader> readers;
  const std::optional<std::string>& dest = request.destination_unit;

  auto add = [&](const TableSpec& spec, ChangeRow row) {
    auto [bit, fresh] = block_of.emplace(spec.name, cs.tables.size());
    if (fresh) cs.tables.push_back({spec.name, spec.columns, {}});
    out.raw_value_bytes += row.pk.size();
    for (const Value& v : row.values) out.raw_value_bytes += RawSize(v);
    cs.tables[bit->second].rows.push_back(std::move(row));
    ++out.rows;
  };
  auto full = [&] {
    return out.rows >= request.max_rows || out.raw_value_bytes >= request.max_bytes;
  };

  // What became of each row met in the range. A row is decided by its
  // current state when first met; an eviction additionally needs an 'X'
  // entry for the destination anywhere in the range, which may come after
  // the row's other entries.
  // A purged row goes to a unit once per 'P' entry naming it (or, in central scope,
  // any 'P' entry): kPurgeable until then.
  enum class Fate { kSent, kSkipped, kEvictable, kEvicted, kPurgeable };
  std::map<std::pair<std::string, std::string>, Fate> fate;

  // Emits the row's current state if it qualifies; says what became of it.
  auto decide = [&](const LoggedChange& e) -> Result<Fate> {
    const TableSpec* spec = replica.manifest().Find(e.table);
    if (spec == nullptr) return Fate::kSkipped;  // Table left the manifest since capture.
    auto clock = clocks->Load(*spec, e.pk);
    if (!clock) return tl::unexpected(clock.error());
    ChangeRow row;
    row.pk = e.pk;
    row.versions = clock->columns;
    bool include = clock->exists;
    std::string unit = clock->unit;
    if (include && clock->purged) {
      if (dest) return Fate::kPurgeable;
      // A unit sends the purges it made (central's reached it already), and every purge
      // it re-queues for a central that lost them (ResetOutbox: a restored central).
      if (clock->tombstone.origin != replica.node_id() && e.op != 'R') return Fate::kSkipped;
      add(*spec, PurgeRowOf(e.pk, *clock));
      return Fate::kSent;
    }
    if (include && clock->deleted) {
      row.tombstone = true;
      row.tombstone_version = clock->tombstone;
      row.tombstone_unit = clock->unit;
      if (dest && clock->tombstone.origin == *dest) {
        include = false;  // The unit deleted it itself.
      }
    } else if (include) {
      auto it = readers.find(spec->name);
      if (it == readers.end()) {
        auto reader = RowReader::Prepare(replica.db(), *spec);
        if (!reader) return tl::unexpected(reader.error());
        it = readers.emplace(spec->name, std::move(*reader)).first;
      }
      auto values = it->second.Read(e.pk);
      if (!values) return tl::unexpected(values.error());
      include = values->has_value() && !IsPrivate(*spec, **values);
      if (values->has_value()) unit = RoutingValue(*spec, **values);
      if (include) {
        row.values = std::move(**values);
        if (dest) {
          include = std::any_of(row.versions.begin(), row.versions.end(),
                                [&](const ColumnVersion& c) { return c.v.origin != *dest; });
        }
      }
    }
    if (dest && spec->scope == Scope::kUnit && unit != *dest) {
      return Fate::kEvictable;  // Routed to another unit: at most an eviction.
    }
    if (!include) return Fate::kSkipped;
    add(*spec, std::move(row));
    return Fate::kSent;
  };

  constexpr size_t kPage = 512;
  int64_t cursor = request.after_seq;
  bool stop = false;
  while (!stop) {
    auto page = ListChanges(replica, cursor, kPage);
    if (!page) return tl::unexpected(page.error());
    for (const LoggedChange& e : *page) {
      if (e.seq > stamped_seq) break;  // Captured after our stamp: next time.
      const auto key = std::make_pair(e.table, e.pk);
      auto it = fate.find(key);
      if (it == fate.end()) {
        if (full()) {
          stop = true;
          out.more = true;
          break;
        }
        auto decided = decide(e);
        if (!decided) return tl::unexpected(decided.error());
        it = fate.emplace(key, *decided).first;
      }
      if (it->second == Fate::kPurgeable && e.op == 'P' && (e.unit.empty() || e.unit == *dest)) {
        if (full()) {
          stop = true;
          out.more = true;
          break;
        }
        const TableSpec* spec = replica.manifest().Find(e.table);
        auto clock = clocks->Load(*spec, e.pk);
        if (!clock) return tl::unexpected(clock.error());
        add(*spec, PurgeRowOf(e.pk, *clock));
        it->second = Fate::kSent;
      }
      if (it->second == Fate::kEvictable && e.op == 'X' && dest && e.unit == *dest) {
        if (full()) {  // The eviction goes first in the next changeset.
          stop = true;
          out.more = true;
          break;
        }
        ChangeRow evict;
        evict.pk = e.pk;
        evict.evict = true;
        add(*replica.manifest().Find(e.table), std::move(evict));
        it->second = Fate::kEvicted;
      }
      out.last_seq = e.seq;
      cursor = e.seq;
    }
    if (page->size() < kPage || (!page->empty() && page->back().seq > stamped_seq)) break;
  }
  if (!out.more) {
    auto stats = GetChangeLogStats(replica, out.last_seq);
    if (!stats) return tl::unexpected(stats.error());
    out.more = stats->pending > 0;
  }
  if (auto st = tx->Commit(); !st) return tl::unexpected(st.error());
  if (out.rows > 0) out.bytes = EncodeChangeset(cs);
  return out;
}

namespace {

// The ids of one table's clock records in snapshot order, for a unit-scope table
// routed to `unit`, or for every row of a central-scope table.
Result<Statement> PrepareSnapshotScan(Db& db, const TableSpec& spec) {
  return db.Prepare(spec.scope == Scope::kUnit
                        ? "SELECT pk FROM _us_clock WHERE unit = ?1 AND tbl = ?2 AND pk > ?3 "
                          "ORDER BY pk LIMIT ?4"
                        : "SELECT pk FROM _us_clock WHERE ?1 IS NOT NULL AND tbl = ?2 AND pk > ?3 "
                          "ORDER BY pk LIMIT ?4");
}

}  // namespace

Result<BuiltSnapshotChunk> BuildSnapshotChunk(Replica& replica,
                                              const SnapshotChunkRequest& request) {
  if (auto st = StampPendingChangesNow(replica); !st) return tl::unexpected(st.error());
  auto tx = Transaction::Begin(replica.db(), Transaction::Kind::kDeferred);
  if (!tx) return tl::unexpected(tx.error());
  auto clocks = RowClockStore::Prepare(replica.db());
  if (!clocks) return tl::unexpected(clocks.error());

  const auto& tables = replica.manifest().tables();
  size_t t = 0;
  std::string after_pk;
  if (!request.after.table.empty()) {
    for (size_t i = 0; i < tables.size(); ++i) {
      if (tables[i].name == request.after.table) {
        t = i;
        after_pk = request.after.pk;
        break;
      }
    }
  }

  BuiltSnapshotChunk out;
  out.last = request.after;
  Changeset cs;
  cs.origin = replica.node_id();
  size_t value_bytes = 0;
  constexpr int64_t kPage = 256;
  auto full = [&] { return out.rows >= request.max_rows || value_bytes >= request.max_bytes; };
  for (; t < tables.size(); ++t, after_pk.clear()) {
    const TableSpec& spec = tables[t];
    auto scan = PrepareSnapshotScan(replica.db(), spec);
    if (!scan) return tl::unexpected(scan.error());
    auto reader = RowReader::Prepare(replica.db(), spec);
    if (!reader) return tl::unexpected(reader.error());
    TableChanges block{spec.name, spec.columns, {}};
    bool more_in_table = true;
    while (more_in_table && !full()) {
      scan->Reset();
      scan->BindText(1, request.unit);
      scan->BindText(2, spec.name);
      scan->BindText(3, after_pk);
      scan->BindInt(4, kPage);
      std::vector<std::string> pks;
      for (;;) {
        auto row = scan->Step();
        if (!row) return tl::unexpected(row.error());
        if (!*row) break;
        pks.push_back(scan->ColumnText(0));
      }
      more_in_table = pks.size() == static_cast<size_t>(kPage);
      for (const std::string& pk : pks) {
        if (full()) {
          more_in_table = true;
          break;
        }
        after_pk = pk;
        out.last = {spec.name, pk};
        auto clock = clocks->Load(spec, pk);
        if (!clock) return tl::unexpected(clock.error());
        ChangeRow row;
        row.pk = pk;
        row.versions = clock->columns;
        if (clock->purged) {
          row = PurgeRowOf(pk, *clock);
        } else if (clock->deleted) {
          row.tombstone = true;
          row.tombstone_version = clock->tombstone;
          row.tombstone_unit = clock->unit;
        } else {
          auto values = reader->Read(pk);
          if (!values) return tl::unexpected(values.error());
          if (!values->has_value() || IsPrivate(spec, **values)) continue;
          if (spec.scope == Scope::kUnit && RoutingValue(spec, **values) != request.unit) continue;
          row.values = std::move(**values);
        }
        value_bytes += row.pk.size();
        for (const Value& v : row.values) value_bytes += RawSize(v);
        block.rows.push_back(std::move(row));
        ++out.rows;
      }
    }
    if (!block.rows.empty()) cs.tables.push_back(std::move(block));
    if (more_in_table) break;  // full: the next chunk resumes after out.last
  }
  out.done = t >= tables.size();
  if (auto st = tx->Commit(); !st) return tl::unexpected(st.error());
  if (out.rows > 0) out.bytes = EncodeChangeset(cs);
  return out;
}

Result<int64_t> CountSnapshotRows(Replica& replica, const std::string& unit) {
  int64_t total = 0;
  for (const TableSpec& spec : replica.manifest().tables()) {
    auto count = replica.db().Prepare(
        spec.scope == Scope::kUnit
            ? "SELECT count(*) FROM _us_clock WHERE unit = ?1 AND tbl = ?2"
            : "SELECT count(*) FROM _us_clock WHERE ?1 IS NOT NULL AND tbl = ?2");
    if (!count) return tl::unexpected(count.error());
    count->BindText(1, unit);
    count->BindText(2, spec.name);
    auto row = count->Step();
    if (!row) return tl::unexpected(row.error());
    if (*row) total += count->ColumnInt(0);
  }
  return total;
}

std::optional<SnapshotKey> LastKeyOf(const Changeset& changeset) {
  for (auto it = changeset.tables.rbegin(); it != changeset.tables.rend(); ++it) {
    if (!it->rows.empty()) return SnapshotKey{it->table, it->rows.back().pk};
  }
  return std::nullopt;
}

}  // namespace unitsync::store
