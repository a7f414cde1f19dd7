#include "tests/sim/model.h"

#include <cstdio>
#include <cstring>

namespace unitsync::sim {

const char* TrackedColumn(const std::string& table) {
  for (const auto& t : kTrackedTables) {
    if (table == t.table) return t.column;
  }
  return nullptr;
}

std::string Token(uint64_t write_id) { return "w" + std::to_string(write_id); }

std::optional<uint64_t> ParseToken(const std::string& value) {
  if (value.size() < 2 || value[0] != 'w') return std::nullopt;
  uint64_t id = 0;
  for (size_t i = 1; i < value.size(); ++i) {
    if (value[i] < '0' || value[i] > '9') return std::nullopt;
    id = id * 10 + static_cast<uint64_t>(value[i] - '0');
  }
  return id;
}

uint64_t Model::AddWrite(NodeIndex node, const RowKey& row, uint64_t prev, int step) {
  const uint64_t id = next_write++;
  writes.push_back({id, node, row, prev, step});
  if (node >= 0) last_local_write[{node, row}] = id;
  return id;
}

std::string Model::NewRowId() {
  // UUIDv7-shaped and deterministic: the same seed mints the same ids.
  char buf[40];
  std::snprintf(buf, sizeof(buf), "0190a000-0000-7000-8000-%012llx",
                static_cast<unsigned long long>(next_row++));
  return buf;
}

}  // namespace unitsync::sim
