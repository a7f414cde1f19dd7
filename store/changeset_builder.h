// Builds the next outgoing changeset from the change log.
#pragma once

#include <optional>
#include <string>

#include "common/error.h"
#include "store/changeset.h"
#include "store/replica.h"

namespace unitsync::store {

struct BuildRequest {
  int64_t after_seq = 0;       // The peer's cursor: entries after it are sent.
  size_t max_rows = 1000;      // Stop adding rows at this many ...
  size_t max_bytes = 1 << 20;  // ... or when the rows' values reach this size.
  // Central fan-out to one unit: only central-scope rows and rows routed to
  // this unit, and never a row whose every version came from that unit (no
  // echo). Unset: every row (a unit's upload).
  std::optional<std::string> destination_unit;
};

struct BuiltChangeset {
  Blob bytes;                  // EncodeChangeset(...); empty when rows == 0.
  size_t rows = 0;             // Row entries in it.
  size_t raw_value_bytes = 0;  // Sum of RawSize() over its values and ids.
  int64_t last_seq = 0;        // The new cursor: every entry <= it is covered.
  bool more = false;           // The log holds entries after last_seq.
};

// Stamps pending local changes, then reads entries (after_seq, ...] in one
// consistent snapshot and emits each changed row once, in its current state.
// Local-only columns never appear; rows whose private_row_flag is 1 are
// skipped. With destination_unit = D, a unit-scope row not (any more) routed
// to D is sent as an eviction row when the range holds an 'X' entry for D
// (the row moved away from D), whichever of the row's entries comes first;
// a row routed to D is sent whole. Without destination_unit no eviction is
// ever built. When nothing qualifies, rows == 0 and last_seq still advances
// past the entries examined, so the caller's cursor moves on.
Result<BuiltChangeset> BuildChangeset(Replica& replica, const BuildRequest& request);

}  // namespace unitsync::store
