// A column value as stored in SQLite and carried in changesets.
// TEXT and BLOB stay distinct (msgpack str vs bin) so a round trip through a
// changeset never changes a value's SQLite type.
#pragma once

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

namespace unitsync::store {

using Blob = std::vector<uint8_t>;
using Value = std::variant<std::monostate, int64_t, double, std::string, Blob>;

inline bool IsNull(const Value& v) { return std::holds_alternative<std::monostate>(v); }

// The value's size in bytes as an application sees it (text/blob length,
// 8 for numbers, 0 for NULL). Used for batching and for "raw bytes" figures.
inline size_t RawSize(const Value& v) {
  if (auto* s = std::get_if<std::string>(&v)) return s->size();
  if (auto* b = std::get_if<Blob>(&v)) return b->size();
  return IsNull(v) ? 0 : 8;
}

}  // namespace unitsync::store
