#include "store/fuzz/changeset_gen.h"

#include <algorithm>
#include <cstdlib>
#include <regex>

#include "store/hlc.h"

namespace unitsync::store::fuzz {
namespace {

// Origins a changeset or a version may name: the three nodes and one stranger.
const std::vector<std::string>& Origins() {
  static const std::vector<std::string> kOrigins = {"central", "unit-0001", "unit-0002",
                                                    "unit-0003"};
  return kOrigins;
}

std::string PickUnit(FuzzInput& in) {
  static const std::vector<std::string> kUnits = {"unit-0001", "unit-0002", "unit-0003", ""};
  return kUnits[in.Pick(kUnits.size())];
}

bool EndsWith(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

// The CHECK (col IN (...)) lists of one CREATE TABLE statement.
std::map<std::string, std::vector<Value>> CheckLists(const std::string& sql) {
  std::map<std::string, std::vector<Value>> out;
  static const std::regex kCheck(R"(CHECK\s*\(\s*(\w+)\s+IN\s*\(([^)]*)\))");
  static const std::regex kItem(R"('([^']*)'|(-?\d+))");
  for (auto it = std::sregex_iterator(sql.begin(), sql.end(), kCheck); it != std::sregex_iterator();
       ++it) {
    const std::string list = (*it)[2];
    auto& values = out[(*it)[1]];
    for (auto v = std::sregex_iterator(list.begin(), list.end(), kItem);
         v != std::sregex_iterator(); ++v) {
      if ((*v)[1].matched) {
        values.emplace_back(std::string((*v)[1]));
      } else {
        values.emplace_back(static_cast<int64_t>(std::stoll((*v)[2])));
      }
    }
  }
  return out;
}

std::vector<Value> PoolFor(const TableSpec& spec, const std::string& column,
                           const std::string& type,
                           const std::map<std::string, std::vector<Value>>& checks) {
  if (auto it = checks.find(column); it != checks.end()) return it->second;
  if (column == spec.routing || column == "unit_id") {
    if (spec.scope == Scope::kCentral) return {Value{}};
    return {Value{std::string("unit-0001")}, Value{std::string("unit-0002")}};
  }
  if (type == "INTEGER") return {Value{int64_t{0}}, Value{int64_t{1}}, Value{int64_t{2014}}};
  if (type == "REAL") return {Value{0.5}, Value{12.25}};
  if (EndsWith(column, "_id")) {
    std::vector<Value> ids;
    for (const std::string& id : RowIds()) ids.emplace_back(id);
    return ids;
  }
  if (EndsWith(column, "_on") || EndsWith(column, "_at") || EndsWith(column, "_from") ||
      EndsWith(column, "_to")) {
    return {Value{std::string("2026-01-10")}, Value{std::string("2026-03-01")}};
  }
  return {Value{std::string("x")}, Value{std::string("y")}, Value{std::string("EA")}};
}

ColumnVersion PickColumnVersion(FuzzInput& in) {
  ColumnVersion cv;
  cv.v = PickVersion(in);
  if (in.Byte() >= 128) cv.prev = PickVersion(in);  // else a first write: prev = (0, "")
  return cv;
}

// Versions for a row with `n` columns: one for all, one each, or one for all but one.
std::vector<ColumnVersion> PickVersions(FuzzInput& in, size_t n) {
  std::vector<ColumnVersion> out(n);
  const size_t mode = in.Pick(3);
  const ColumnVersion shared = PickColumnVersion(in);
  for (size_t c = 0; c < n; ++c) out[c] = mode == 1 ? PickColumnVersion(in) : shared;
  if (mode == 2 && n > 0) out[in.Pick(n)] = PickColumnVersion(in);
  return out;
}

}  // namespace

const std::string& NodeId(int node) { return Origins()[static_cast<size_t>(node)]; }

const std::vector<std::string>& RowIds() {
  static const std::vector<std::string> kIds = {"a", "b", "c", "d"};
  return kIds;
}

ValuePools ValuePools::FromSchema(Replica& replica) {
  ValuePools pools;
  for (const TableSpec& spec : replica.manifest().tables()) {
    auto sql =
        replica.db().Prepare("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?1");
    if (!sql) std::abort();
    sql->BindText(1, spec.name);
    auto found = sql->Step();
    if (!found || !*found) std::abort();
    const auto checks = CheckLists(sql->ColumnText(0));
    auto info = replica.db().Prepare("SELECT name, type FROM pragma_table_info(?1)");
    if (!info) std::abort();
    info->BindText(1, spec.name);
    for (;;) {
      auto row = info->Step();
      if (!row) std::abort();
      if (!*row) break;
      const std::string column = info->ColumnText(0);
      pools.pools_[spec.name + "." + column] = PoolFor(spec, column, info->ColumnText(1), checks);
    }
  }
  return pools;
}

Value ValuePools::PickValid(FuzzInput& in, const std::string& table,
                            const std::string& column) const {
  auto it = pools_.find(table + "." + column);
  if (it == pools_.end() || it->second.empty()) return Value{std::string("x")};
  return it->second[in.Pick(it->second.size())];
}

Value ValuePools::Pick(FuzzInput& in, const std::string& table, const std::string& column) const {
  const uint8_t b = in.Byte();
  if (b < 236) {
    auto it = pools_.find(table + "." + column);
    if (it == pools_.end() || it->second.empty()) return Value{std::string("x")};
    return it->second[b % it->second.size()];
  }
  switch (b) {
    case 236:
    case 237:
    case 238:
    case 239:
    case 240:
    case 241:
      return Value{};
    case 242:
    case 243:
      return Value{int64_t{7}};
    case 244:
    case 245:
      return Value{std::string("7")};
    case 246:
      return Value{Blob{0x00, 0xff, 0x27}};
    case 247:
      return Value{2.5};
    case 248:
      return Value{std::string(1000, 'x')};
    case 249:
      return Value{std::string("\xc3\xa5'\"\\;--")};
    case 250:
      return Value{std::string("\xff\xfe")};  // not UTF-8
    case 251:
      return Value{int64_t{INT64_MIN}};
    case 252:
      return Value{-0.0};
    default:
      return Value{std::string("z") + std::to_string(b)};
  }
}

uint64_t PickHlc(FuzzInput& in) {
  const uint8_t b = in.Byte();
  if (b < 200) return HlcPack(kT0 + (b / 8) * 500, b % 8);
  if (b < 240) return HlcPack(kT0 - 86'400'000 + (b - 200) * 1000, 0);
  if (b < 250) return HlcPack(kT0 + 30LL * 86'400'000 + b, 0);  // beyond the skew bound
  if (b < 254) return (uint64_t{1} << 63) + b;                  // above INT64_MAX
  if (b == 254) return UINT64_MAX;
  return 0;  // "no version": refused in a changeset
}

Version PickVersion(FuzzInput& in) {
  Version v;
  v.hlc = PickHlc(in);
  v.origin = Origins()[in.Pick(Origins().size())];
  return v;
}

Changeset GenerateChangeset(FuzzInput& in, const Manifest& manifest, const ValuePools& pools) {
  Changeset cs;
  cs.origin = Origins()[in.Pick(Origins().size())];
  const size_t tables = 1 + in.Pick(3);
  for (size_t t = 0; t < tables; ++t) {
    TableChanges block;
    const uint8_t pick = in.Byte();
    const TableSpec* spec =
        pick == 255 ? nullptr : &manifest.tables()[pick % manifest.tables().size()];
    block.table = spec ? spec->name : "no_such_table";
    if (spec) block.columns = spec->columns;
    switch (in.Pick(8)) {
      case 4:
        std::reverse(block.columns.begin(), block.columns.end());
        break;
      case 5: {
        const uint16_t mask = in.U16();
        std::vector<std::string> subset;
        for (size_t c = 0; c < block.columns.size(); ++c) {
          if (mask >> (c % 16) & 1) subset.push_back(block.columns[c]);
        }
        block.columns = subset;
        break;
      }
      case 6:
        if (spec && !spec->local_only.empty()) {
          const auto at = block.columns.begin() + static_cast<long>(in.Pick(2));
          block.columns.insert(at, spec->local_only[in.Pick(spec->local_only.size())]);
        }
        break;
      case 7:
        block.columns.push_back("no_such_column");
        break;
      default:
        break;
    }
    const size_t rows = in.Pick(5);
    for (size_t r = 0; r < rows; ++r) {
      ChangeRow row;
      row.pk = RowIds()[in.Pick(RowIds().size())];
      const size_t kind = in.Pick(8);
      if (kind < 4) {
        for (const std::string& c : block.columns) {
          row.values.push_back(pools.Pick(in, block.table, c));
        }
        row.versions = PickVersions(in, block.columns.size());
      } else if (kind < 7) {
        row.tombstone = kind < 6;
        row.purge = kind == 6;
        if (row.tombstone) row.versions = PickVersions(in, block.columns.size());
        row.tombstone_version = PickVersion(in);
        row.tombstone_unit = spec && spec->scope == Scope::kCentral ? "" : PickUnit(in);
      } else {
        row.evict = true;
      }
      block.rows.push_back(std::move(row));
    }
    cs.tables.push_back(std::move(block));
  }
  return cs;
}

void MutateChangeset(FuzzInput& in, Changeset& cs, const ValuePools& pools) {
  const size_t mutations = in.Pick(8);
  for (size_t m = 0; m < mutations && !cs.tables.empty(); ++m) {
    TableChanges& block = cs.tables[in.Pick(cs.tables.size())];
    const size_t kind = in.Pick(10);
    if (kind == 9) {
      cs.origin = Origins()[in.Pick(Origins().size())];
      continue;
    }
    if (kind == 8) {  // drop a column from the block
      if (block.columns.empty()) continue;
      const size_t c = in.Pick(block.columns.size());
      block.columns.erase(block.columns.begin() + static_cast<long>(c));
      for (ChangeRow& row : block.rows) {
        if (c < row.values.size()) row.values.erase(row.values.begin() + static_cast<long>(c));
        if (c < row.versions.size()) {
          row.versions.erase(row.versions.begin() + static_cast<long>(c));
        }
      }
      continue;
    }
    if (block.rows.empty()) continue;
    const size_t r = in.Pick(block.rows.size());
    ChangeRow& row = block.rows[r];
    const size_t c = block.columns.empty() ? 0 : in.Pick(block.columns.size());
    const bool has_version = c < row.versions.size();
    switch (kind) {
      case 0:  // move a version (or the tombstone) up or down
        if (has_version) {
          row.versions[c].v.hlc += static_cast<uint64_t>(static_cast<int64_t>(in.Byte()) - 128);
        } else {
          row.tombstone_version.hlc += in.Byte();
        }
        break;
      case 1:
        if (has_version) row.versions[c].v.origin = Origins()[in.Pick(Origins().size())];
        break;
      case 2:
        if (has_version) row.versions[c].prev = in.Flag() ? row.versions[c].v : PickVersion(in);
        break;
      case 3:
        if (c < row.values.size()) row.values[c] = pools.Pick(in, block.table, block.columns[c]);
        break;
      case 4:
      case 5: {  // the row deleted (or purged) by the writer of its newest version
        if (row.evict || row.purge || row.tombstone) break;
        Version newest;
        for (const ColumnVersion& cv : row.versions) newest = std::max(newest, cv.v);
        row.tombstone_version = {newest.hlc + 1 + in.Byte(), newest.origin};
        if (row.tombstone_version.origin.empty()) row.tombstone_version.origin = "central";
        row.tombstone_unit.clear();
        for (size_t i = 0; i < block.columns.size() && i < row.values.size(); ++i) {
          if (block.columns[i] != "unit_id") continue;
          if (const auto* s = std::get_if<std::string>(&row.values[i])) row.tombstone_unit = *s;
        }
        row.values.clear();
        if (kind == 5) {
          row.purge = true;
          row.versions.clear();
        } else {
          row.tombstone = true;
        }
        break;
      }
      case 6: {
        ChangeRow eviction;
        eviction.pk = row.pk;
        eviction.evict = true;
        row = std::move(eviction);
        break;
      }
      case 7:
        row.pk = RowIds()[in.Pick(RowIds().size())];
        break;
      default:  // a row repeated, later in the block
        block.rows.push_back(block.rows[r]);
        break;
    }
  }
}

Blob Damage(FuzzInput& in, Blob bytes) {
  const uint8_t mode = in.Byte();
  if (mode < 192 || bytes.empty()) return bytes;
  const size_t at = in.U16() % bytes.size();
  switch (mode % 4) {
    case 0:
      bytes[at] ^= static_cast<uint8_t>(1u << (in.Byte() % 8));
      break;
    case 1:
      bytes.resize(at);
      break;
    case 2:
      bytes.push_back(in.Byte());
      break;
    default: {
      static constexpr uint8_t kMarkers[] = {0xc0, 0xc1, 0xc2, 0xd4, 0xdc, 0xdf, 0xcf, 0xcb};
      bytes[at] = kMarkers[in.Pick(sizeof kMarkers)];
      break;
    }
  }
  return bytes;
}

}  // namespace unitsync::store::fuzz
