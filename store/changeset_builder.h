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

// ---- snapshots (re-seeding a unit; FORMAT.md SNAPSHOT_*) ----
//
// A snapshot is every row and tombstone a unit's replica should hold — the rows routed
// to it in unit-scope tables and every row of central-scope tables, private rows and
// local-only columns left out, as the fan-out would — in key order (manifest table
// order, then id), cut into chunks. Each chunk is an ordinary changeset carrying each
// row's full state and versions, so merge.h applies it like any other, any number of
// times; a chunk's last row is where the next one resumes.

// A position in snapshot order: after row `pk` of `table`. Empty table: the start.
struct SnapshotKey {
  std::string table;
  std::string pk;
  bool operator==(const SnapshotKey&) const = default;
};

struct SnapshotChunkRequest {
  std::string unit;  // whose scope
  SnapshotKey after;
  size_t max_rows = 1000;
  size_t max_bytes = 1 << 20;  // rows' raw values, as in BuildRequest
};

struct BuiltSnapshotChunk {
  Blob bytes;  // EncodeChangeset(...); empty when rows == 0
  size_t rows = 0;
  SnapshotKey last;   // resume after this (== request.after when rows == 0)
  bool done = false;  // nothing in the scope after `last`
};

// Reads the next chunk after `request.after` in one read transaction. A table in `after`
// that is not in the manifest restarts the scan from the first table (repeats are
// harmless to merge).
Result<BuiltSnapshotChunk> BuildSnapshotChunk(Replica& replica,
                                              const SnapshotChunkRequest& request);

// Rows and tombstones in `unit`'s snapshot (for progress; private rows counted too).
Result<int64_t> CountSnapshotRows(Replica& replica, const std::string& unit);

// Where a chunk ends: its last table block's last row; nullopt for an empty changeset.
std::optional<SnapshotKey> LastKeyOf(const Changeset& changeset);

}  // namespace unitsync::store
