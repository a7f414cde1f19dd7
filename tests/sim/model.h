// What the simulator's workload did, as the convergence checker needs it: every write
// that committed (with the write whose value the writer saw before it), every delete,
// every row and who made it. Values are never recorded: each write stores a fresh token
// "w<id>" in its row's tracked column, so the checker can tell from a value alone which
// write it came from, and report ids only.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace unitsync::sim {

// A node: tests/sync_harness.h kCentral (-1) or a unit index.
using NodeIndex = int;

// The one column per table whose every write carries a unique token.
struct TrackedTable {
  const char* table;
  const char* column;
};
inline constexpr TrackedTable kTrackedTables[] = {
    {"student", "grade"},
    {"support_case", "reason"},
    {"support_action", "description"},
    {"action_type", "name"},
};
// The tracked column of `table`, or nullptr.
const char* TrackedColumn(const std::string& table);

std::string Token(uint64_t write_id);
// The write id a token names; nullopt for anything else (NULL, another value).
std::optional<uint64_t> ParseToken(const std::string& value);

using RowKey = std::pair<std::string, std::string>;  // (table, id)

struct Write {
  uint64_t id = 0;
  NodeIndex node = 0;
  RowKey row;
  uint64_t prev = 0;  // the write whose value the node held when it wrote (0: none)
  int step = 0;
};

struct Delete {
  NodeIndex node = 0;
  RowKey row;
  int step = 0;
  bool purge = false;  // `unitsyncctl purge`: only a marker may be left, anywhere
};

struct RowInfo {
  NodeIndex created_by = 0;
  bool private_row = false;  // student.protected_identity = 1: never leaves its unit
};

struct Model {
  std::vector<Write> writes;
  std::vector<Delete> deletes;
  std::map<RowKey, RowInfo> rows;
  // Per unit and row, the unit's own last write (read-your-writes).
  std::map<std::pair<NodeIndex, RowKey>, uint64_t> last_local_write;
  size_t moves = 0;
  uint64_t next_write = 1;
  uint64_t next_row = 1;

  uint64_t AddWrite(NodeIndex node, const RowKey& row, uint64_t prev, int step);
  std::string NewRowId();
};

}  // namespace unitsync::sim
