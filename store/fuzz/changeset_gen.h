// Structured pieces of a merge fuzz program: values that fit (or on purpose do not
// fit) the real schema, versions around the fuzzer's clocks, and changesets built
// from the input — generated from scratch, or derived from a real changeset by
// structural mutations — plus byte-level damage to their encoding.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "store/changeset.h"
#include "store/fuzz/fuzz_input.h"
#include "store/replica.h"

namespace unitsync::store::fuzz {

// Wall time every node starts at (ms since the epoch; 2026-05-28).
inline constexpr int64_t kT0 = 1'780'000'000'000;

// The nodes of every fuzz world: 0 central, 1 and 2 the units.
inline constexpr int kNodes = 3;
const std::string& NodeId(int node);

// Row ids every operation draws from: few, so operations meet on the same rows.
const std::vector<std::string>& RowIds();

// Candidate values per column, read once from the live schema: the CHECK ... IN
// lists, the routing column's unit ids, row ids for *_id columns, dates for dates,
// small numbers for INTEGER and REAL. Local-only columns are left to the caller
// (their values mark where they were written: see merge_fuzz.cc).
class ValuePools {
 public:
  // REQUIRES: `replica` has the schema and manifest the fuzzer uses.
  static ValuePools FromSchema(Replica& replica);

  // A value for table.column: mostly from its pool, sometimes NULL, a value of
  // the wrong type, a blob, a long or odd string — values the schema refuses.
  Value Pick(FuzzInput& in, const std::string& table, const std::string& column) const;
  // Only pool values (what a local write that should succeed would use).
  Value PickValid(FuzzInput& in, const std::string& table, const std::string& column) const;

 private:
  std::map<std::string, std::vector<Value>> pools_;  // "table.column" -> candidates
};

// An HLC near the nodes' clocks, now and then in the past, far in the future,
// above INT64_MAX, or 0 (which the decoder refuses).
uint64_t PickHlc(FuzzInput& in);
Version PickVersion(FuzzInput& in);

// A changeset from scratch: 1-3 table blocks (an unknown table now and then), the
// table's columns in order, reversed, a subset, or with a local-only or unknown
// column added; 0-4 rows each: upserts, tombstones, purges, evictions.
Changeset GenerateChangeset(FuzzInput& in, const Manifest& manifest, const ValuePools& pools);

// 0-7 structural mutations of a (real) changeset: a version moved, its origin or
// prev changed, a value replaced, a row turned into a tombstone, purge or eviction,
// an id changed, a column dropped, a row repeated, the origin changed.
void MutateChangeset(FuzzInput& in, Changeset& changeset, const ValuePools& pools);

// Usually the bytes as they are; otherwise one byte flipped, the tail cut, a byte
// appended, or a byte overwritten with a msgpack type marker.
Blob Damage(FuzzInput& in, Blob bytes);

}  // namespace unitsync::store::fuzz
