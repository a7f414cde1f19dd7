#include "store/changeset_builder.h"

#include <map>

#include "store/change_log.h"
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

}  // namespace

Result<BuiltChangeset> BuildChangeset(Replica& replica, const BuildRequest& request) {
  if (auto st = StampPendingChangesNow(replica); !st) return tl::unexpected(st.error());

  // A read transaction: every row is read from the same snapshot as the log.
  auto tx = Transaction::Begin(replica.db(), Transaction::Kind::kDeferred);
  if (!tx) return tl::unexpected(tx.error());
  auto clocks = RowClockStore::Prepare(replica.db());
  if (!clocks) return tl::unexpected(clocks.error());
  auto stamped = replica.GetMeta("stamped_seq");
  if (!stamped) return tl::unexpected(stamped.error());
  const int64_t stamped_seq = *stamped ? std::stoll(**stamped) : 0;

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
  enum class Fate { kSent, kSkipped, kEvictable, kEvicted };
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

}  // namespace unitsync::store
