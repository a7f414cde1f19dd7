// What the merge fuzzer looks at in a replica, and how it reports a broken
// invariant: it prints which invariant, with table names and row ids only (the
// fuzzer's ids "a".."d"; never a value), and aborts, so libFuzzer keeps the input.
#pragma once

#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "store/changeset.h"
#include "store/digest.h"
#include "store/replica.h"
#include "store/row_version.h"

namespace unitsync::store::fuzz {

[[noreturn]] void Violation(const std::string& what);
inline void Require(bool ok, const std::string& what) {
  if (!ok) Violation(what);
}
// Aborts unless `r` holds a value; returns it.
template <typename T>
T Must(Result<T> r, const char* what) {
  if (!r) Violation(std::string(what) + ": " + r.error().message);
  return std::move(*r);
}
void Must(Status st, const char* what);

// Every row of every table in the file (engine tables included), canonical:
// table -> its rows as strings, sorted. Values are typed (1 and "1" differ).
using TableDump = std::map<std::string, std::vector<std::string>>;
TableDump DumpTables(Replica& replica);

// The dump without what a repeated apply may legitimately add: refused rows kept
// for the admin (_us_rejections) and central's 'P' answers to a purged row's copy.
TableDump WithoutRepeatNoise(TableDump dump);
// Only the replicated tables and _us_clock: the state merge must agree on.
TableDump DataOnly(TableDump dump);

using RowKey = std::pair<std::string, std::string>;  // (table, id)
struct ClockEntry {
  std::string unit;
  int64_t deleted = 0;  // 0 live, 1 tombstone, 2 purge marker
  Version tombstone;
  std::vector<ColumnVersion> columns;
};
using Clocks = std::map<RowKey, ClockEntry>;
Clocks LoadClocks(Replica& replica);

// Unscoped digests, then the digests scoped to each unit.
std::vector<TableDigest> AllDigests(Replica& replica);

// The (table, id) of every row of `changeset` that may erase a row's clock at
// `replica`: an eviction, or at a unit a purge of a row that is not its own.
std::set<RowKey> ErasingRows(const Replica& replica, const Changeset& changeset);

// Versions never go back: a live row's column versions only grow, a tombstone stays
// (its version only grows), a purge marker stays a marker; a clock disappears only
// for a row in `erasing`.
void CheckVersionsForward(const Clocks& before, const Clocks& after,
                          const std::set<RowKey>& erasing, const std::string& where);

// The replica agrees with itself: a live clock has its row, a deleted or purged one
// has none; every purge marker in `markers` is still there; no value written into a
// local-only column at another node ("LOCAL-<node>") is here (`scan_values`: reads
// every table, so the fuzzer does it once per input).
void CheckReplica(Replica& replica, const std::set<RowKey>& markers, bool scan_values);

}  // namespace unitsync::store::fuzz
