#include "store/changeset.h"

#include <cstring>
#include <set>

#include "store/msgpack_io.h"

namespace unitsync::store {
namespace {

constexpr size_t kMaxIdLength = 128;
constexpr size_t kMaxNameLength = 64;

// Always float64: msgpack-c's pack_double() writes integral doubles as
// integers, which would turn a REAL into an INTEGER on the way.
void PackFloat64(msgpack::sbuffer& buf, double d) {
  uint64_t bits;
  std::memcpy(&bits, &d, sizeof bits);
  char out[9] = {static_cast<char>(0xcb)};
  for (int i = 0; i < 8; ++i) out[1 + i] = static_cast<char>(bits >> (56 - 8 * i));
  buf.write(out, sizeof out);
}

void PackValue(msgpack::sbuffer& buf, msgpack::packer<msgpack::sbuffer>& pk, const Value& v) {
  std::visit(
      [&](const auto& x) {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, std::monostate>) {
          pk.pack_nil();
        } else if constexpr (std::is_same_v<T, int64_t>) {
          pk.pack_int64(x);
        } else if constexpr (std::is_same_v<T, double>) {
          PackFloat64(buf, x);
        } else if constexpr (std::is_same_v<T, std::string>) {
          pk.pack(x);
        } else {
          pk.pack_bin(static_cast<uint32_t>(x.size()));
          pk.pack_bin_body(reinterpret_cast<const char*>(x.data()),
                           static_cast<uint32_t>(x.size()));
        }
      },
      v);
}

bool UnpackValue(const msgpack::object& o, Value& out) {
  switch (o.type) {
    case msgpack::type::NIL:
      out = std::monostate{};
      return true;
    case msgpack::type::POSITIVE_INTEGER:
      if (o.via.u64 > static_cast<uint64_t>(INT64_MAX)) return false;
      out = static_cast<int64_t>(o.via.u64);
      return true;
    case msgpack::type::NEGATIVE_INTEGER:
      out = o.via.i64;
      return true;
    case msgpack::type::FLOAT32:
    case msgpack::type::FLOAT64:
      out = o.via.f64;
      return true;
    case msgpack::type::STR:
      out = std::string(o.via.str.ptr, o.via.str.size);
      return true;
    case msgpack::type::BIN:
      out = Blob(reinterpret_cast<const uint8_t*>(o.via.bin.ptr),
                 reinterpret_cast<const uint8_t*>(o.via.bin.ptr) + o.via.bin.size);
      return true;
    default:
      return false;
  }
}

bool AsStr(const msgpack::object& o, std::string& out, size_t max_len) {
  if (o.type != msgpack::type::STR || o.via.str.size == 0 || o.via.str.size > max_len) return false;
  out.assign(o.via.str.ptr, o.via.str.size);
  return true;
}

Result<ChangeRow> DecodeRow(const msgpack::object& o, size_t ncols, const std::string& where) {
  auto bad = [&](const std::string& why) { return Fail(Errc::kMalformed, where + ": " + why); };
  if (o.type != msgpack::type::ARRAY || o.via.array.size != 4) {
    return bad("a row is not a 4-element array");
  }
  const msgpack::object* f = o.via.array.ptr;
  ChangeRow row;
  if (!AsStr(f[0], row.pk, kMaxIdLength)) return bad("row id must be a string of 1-128 bytes");
  const std::string at = where + " row " + row.pk;
  const bool has_values = f[1].type != msgpack::type::NIL;
  row.tombstone = f[3].type != msgpack::type::NIL;
  if (has_values && row.tombstone) {
    return Fail(Errc::kMalformed, at + ": at most one of values and tombstone may be set");
  }
  if (row.tombstone && f[2].type == msgpack::type::NIL) {
    // A purge: [id, nil, nil, [hlc, origin, unit|nil]].
    row.tombstone = false;
    row.purge = true;
  }
  if (!has_values && !row.tombstone && !row.purge) {
    // An eviction: [id, nil, [], nil] and nothing else.
    if (f[2].type != msgpack::type::ARRAY || f[2].via.array.size != 0) {
      return Fail(Errc::kMalformed, at + ": an eviction must have empty versions");
    }
    row.evict = true;
    return row;
  }
  if (has_values) {
    if (f[1].type != msgpack::type::ARRAY || f[1].via.array.size != ncols) {
      return Fail(Errc::kMalformed, at + ": values must be an array with one value per column");
    }
    row.values.resize(ncols);
    for (size_t i = 0; i < ncols; ++i) {
      if (!UnpackValue(f[1].via.array.ptr[i], row.values[i])) {
        return Fail(Errc::kMalformed, at + ": column " + std::to_string(i) + " has a bad type");
      }
    }
  } else {
    const msgpack::object& t = f[3];
    if (t.type != msgpack::type::ARRAY || t.via.array.size != 3 ||
        t.via.array.ptr[0].type != msgpack::type::POSITIVE_INTEGER ||
        t.via.array.ptr[0].via.u64 == 0 ||
        !AsStr(t.via.array.ptr[1], row.tombstone_version.origin, kMaxNameLength) ||
        (t.via.array.ptr[2].type != msgpack::type::NIL &&
         !AsStr(t.via.array.ptr[2], row.tombstone_unit, kMaxNameLength))) {
      return Fail(Errc::kMalformed, at + (row.purge ? ": purge" : ": tombstone") +
                                        " must be [hlc, origin, unit|nil]");
    }
    row.tombstone_version.hlc = t.via.array.ptr[0].via.u64;
    if (row.purge) return row;
  }
  row.versions.resize(ncols);
  auto st = UnpackVersionGroups(
      f[2], row.versions,
      [ncols](const msgpack::object& c) {
        return c.type == msgpack::type::POSITIVE_INTEGER && c.via.u64 < ncols
                   ? static_cast<int>(c.via.u64)
                   : -2;
      },
      at);
  if (!st) return tl::unexpected(st.error());
  if (has_values) {
    for (const ColumnVersion& cv : row.versions) {
      if (cv.v.empty()) return Fail(Errc::kMalformed, at + ": a column has no version");
    }
  }
  return row;
}

Result<TableChanges> DecodeTable(const msgpack::object& o) {
  if (o.type != msgpack::type::ARRAY || o.via.array.size != 3) {
    return Fail(Errc::kMalformed, "changeset: a table block is not a 3-element array");
  }
  const msgpack::object* f = o.via.array.ptr;
  TableChanges t;
  if (!AsStr(f[0], t.table, kMaxNameLength)) {
    return Fail(Errc::kMalformed, "changeset: a table name is not a string of 1-64 bytes");
  }
  const std::string where = "changeset table " + t.table;
  if (f[1].type != msgpack::type::ARRAY || f[1].via.array.size > 256) {
    return Fail(Errc::kMalformed, where + ": columns must be an array of at most 256 names");
  }
  std::set<std::string> seen;
  for (uint32_t i = 0; i < f[1].via.array.size; ++i) {
    std::string col;
    if (!AsStr(f[1].via.array.ptr[i], col, kMaxNameLength) || !seen.insert(col).second) {
      return Fail(Errc::kMalformed, where + ": a column name is invalid or repeated");
    }
    t.columns.push_back(std::move(col));
  }
  if (f[2].type != msgpack::type::ARRAY)
    return Fail(Errc::kMalformed, where + ": rows not an array");
  t.rows.reserve(f[2].via.array.size);
  for (uint32_t i = 0; i < f[2].via.array.size; ++i) {
    auto row = DecodeRow(f[2].via.array.ptr[i], t.columns.size(), where);
    if (!row) return tl::unexpected(row.error());
    t.rows.push_back(std::move(*row));
  }
  return t;
}

// [hlc, origin, unit | nil]: a tombstone's or a purge's version and routing value.
void PackTombstone(msgpack::packer<msgpack::sbuffer>& pk, const ChangeRow& r) {
  pk.pack_array(3);
  pk.pack_uint64(r.tombstone_version.hlc);
  pk.pack(r.tombstone_version.origin);
  if (r.tombstone_unit.empty()) {
    pk.pack_nil();
  } else {
    pk.pack(r.tombstone_unit);
  }
}

// Bytes to reserve for encoding `cs`: a little more than it takes (each row's versions
// are one or two groups in practice), so that a snapshot chunk of ~2 MiB is not grown
// from 8 KiB by a dozen reallocations; an under-estimate only grows.
size_t EncodedSizeHint(const Changeset& cs) {
  constexpr size_t kPerRow = 96;   // array headers, a tombstone, the versions' groups
  constexpr size_t kPerValue = 5;  // a value's type and length
  size_t n = 64 + cs.origin.size();
  for (const TableChanges& t : cs.tables) {
    n += 16 + t.table.size();
    for (const std::string& c : t.columns) n += kPerValue + c.size();
    for (const ChangeRow& r : t.rows) {
      n += kPerRow + r.pk.size() + r.tombstone_version.origin.size();
      for (const Value& v : r.values) n += kPerValue + RawSize(v);
    }
  }
  return n;
}

}  // namespace

size_t Changeset::RowCount() const {
  size_t n = 0;
  for (const TableChanges& t : tables) n += t.rows.size();
  return n;
}

Blob EncodeChangeset(const Changeset& cs) {
  msgpack::sbuffer buf(EncodedSizeHint(cs));
  msgpack::packer<msgpack::sbuffer> pk(buf);
  pk.pack_map(3);
  pk.pack("v");
  pk.pack_uint64(kChangesetFormatVersion);
  pk.pack("origin");
  pk.pack(cs.origin);
  pk.pack("tables");
  pk.pack_array(static_cast<uint32_t>(cs.tables.size()));
  auto pack_index = [](msgpack::packer<msgpack::sbuffer>& p, size_t i) { p.pack_uint64(i); };
  for (const TableChanges& t : cs.tables) {
    pk.pack_array(3);
    pk.pack(t.table);
    pk.pack(t.columns);
    pk.pack_array(static_cast<uint32_t>(t.rows.size()));
    for (const ChangeRow& r : t.rows) {
      pk.pack_array(4);
      pk.pack(r.pk);
      if (r.evict) {
        pk.pack_nil();
        pk.pack_array(0);
        pk.pack_nil();
        continue;
      }
      if (r.purge) {
        pk.pack_nil();
        pk.pack_nil();
        PackTombstone(pk, r);
        continue;
      }
      if (r.tombstone) {
        pk.pack_nil();
      } else {
        pk.pack_array(static_cast<uint32_t>(r.values.size()));
        for (const Value& v : r.values) PackValue(buf, pk, v);
      }
      PackVersionGroups(pk, r.versions, pack_index);
      if (r.tombstone) {
        PackTombstone(pk, r);
      } else {
        pk.pack_nil();
      }
    }
  }
  return Blob(reinterpret_cast<const uint8_t*>(buf.data()),
              reinterpret_cast<const uint8_t*>(buf.data()) + buf.size());
}

Result<Changeset> DecodeChangeset(std::span<const uint8_t> bytes) {
  auto handle = UnpackStrict(bytes, "changeset");
  if (!handle) return tl::unexpected(handle.error());
  const msgpack::object& root = handle->get();
  if (root.type != msgpack::type::MAP) return Fail(Errc::kMalformed, "changeset: not a map");
  Changeset cs;
  const msgpack::object* tables = nullptr;
  bool have_v = false;
  std::set<std::string> keys;
  for (uint32_t i = 0; i < root.via.map.size; ++i) {
    const msgpack::object_kv& kv = root.via.map.ptr[i];
    std::string key;
    if (!AsStr(kv.key, key, 16)) return Fail(Errc::kMalformed, "changeset: a key is not a string");
    if (!keys.insert(key).second) {
      return Fail(Errc::kMalformed, "changeset: duplicate key '" + key + "'");
    }
    if (key == "v") {
      if (kv.val.type != msgpack::type::POSITIVE_INTEGER ||
          kv.val.via.u64 != kChangesetFormatVersion) {
        return Fail(Errc::kMalformed, "changeset: unsupported format version",
                    "upgrade unitsync on this node");
      }
      have_v = true;
    } else if (key == "origin") {
      if (!AsStr(kv.val, cs.origin, kMaxNameLength)) {
        return Fail(Errc::kMalformed, "changeset: origin must be a string of 1-64 bytes");
      }
    } else if (key == "tables") {
      if (kv.val.type != msgpack::type::ARRAY) {
        return Fail(Errc::kMalformed, "changeset: tables must be an array");
      }
      tables = &kv.val;
    } else {
      return Fail(Errc::kMalformed, "changeset: unknown key '" + key + "'");
    }
  }
  if (!have_v || cs.origin.empty() || tables == nullptr) {
    return Fail(Errc::kMalformed, "changeset: missing one of v, origin, tables");
  }
  std::set<std::string> seen_tables;
  for (uint32_t i = 0; i < tables->via.array.size; ++i) {
    auto t = DecodeTable(tables->via.array.ptr[i]);
    if (!t) return tl::unexpected(t.error());
    if (!seen_tables.insert(t->table).second) {
      return Fail(Errc::kMalformed, "changeset: table '" + t->table + "' appears twice");
    }
    cs.tables.push_back(std::move(*t));
  }
  return cs;
}

}  // namespace unitsync::store
