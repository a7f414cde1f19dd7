// World::CheckedApply: one changeset through the real merge, with the invariants
// that hold for a single apply (store/fuzz/DESIGN.md "Invariants").
#include <cstdio>
#include <cstdlib>
#include <map>

#include "store/fuzz/world.h"

namespace unitsync::store::fuzz {
namespace {

// Rows the changeset names more than once where one of them is an eviction (an
// instruction, not a state: merge.h), or one that erases the row (ErasingRows).
// The builder names a row once per changeset; such a changeset still converges,
// but a repeat may count (evictions: record) its rows again.
enum class Repeats { kNone, kErasing, kEviction };
Repeats RepeatedErasures(const Replica& r, const Changeset& cs) {
  const std::set<RowKey> erasing = ErasingRows(r, cs);
  Repeats out = Repeats::kNone;
  for (const TableChanges& block : cs.tables) {
    std::map<std::string, int> seen;
    for (const ChangeRow& row : block.rows) ++seen[row.pk];
    for (const ChangeRow& row : block.rows) {
      if (seen[row.pk] < 2 || !erasing.count({block.table, row.pk})) continue;
      if (row.evict) return Repeats::kEviction;
      out = Repeats::kErasing;
    }
  }
  return out;
}

bool ChangedSomething(const MergeReport& r) {
  return r.rows_inserted + r.rows_updated + r.rows_deleted + r.rows_tombstoned + r.rows_evicted +
             r.rows_purged + r.conflicts >
         0;
}

// The report's numbers, for a violation message.
std::string Counts(const MergeReport& m) {
  return "received " + std::to_string(m.rows_received) + ", inserted " +
         std::to_string(m.rows_inserted) + ", updated " + std::to_string(m.rows_updated) +
         ", deleted " + std::to_string(m.rows_deleted) + ", tombstoned " +
         std::to_string(m.rows_tombstoned) + ", unchanged " + std::to_string(m.rows_unchanged) +
         ", evicted " + std::to_string(m.rows_evicted) + ", purged " +
         std::to_string(m.rows_purged) + ", conflicts " + std::to_string(m.conflicts) +
         ", rejected " + std::to_string(m.rejected.size());
}

}  // namespace

std::optional<MergeReport> World::CheckedApply(int n, const Blob& bytes,
                                               const ApplyOptions& options, const char* what) {
  Replica& r = node(n);
  const std::string where = std::string(what) + " at " + r.node_id();
  StampNow(r);
  const TableDump before = DumpTables(r);
  const Clocks clocks_before = LoadClocks(r);
  const uint64_t hlc_before = r.clock().last();

  auto report = ApplyChangeset(r, bytes, options);
  auto decoded = DecodeChangeset(bytes);
  if (std::getenv("UNITSYNC_FUZZ_TRACE") != nullptr) {
    std::fprintf(stderr, "merge_fuzz: %s %s\n", what,
                 report ? (report->rejected.empty() ? "applied" : "applied-with-rejections")
                        : std::string(ErrcName(report.error().code)).c_str());
  }
  if (!report) {
    // Only what a changeset itself can earn: bytes that do not decode, a table,
    // column or value this schema refuses. Anything else is a bug or a broken file.
    const Errc code = report.error().code;
    Require(code == Errc::kMalformed || code == Errc::kRejected,
            where + ": unexpected failure: " + report.error().message);
    Require(decoded.has_value() == (code != Errc::kMalformed),
            where + ": kMalformed iff the bytes do not decode");
    Require(DumpTables(r) == before, where + ": a refused changeset changed the replica");
    Require(r.clock().last() == hlc_before, where + ": a refused changeset moved the clock");
    return std::nullopt;
  }
  Require(decoded.has_value(), where + ": applied bytes that do not decode");
  const MergeReport& m = *report;
  Require(m.rows_received == decoded->RowCount(), where + ": a row was not counted");
  Require(m.rows_received == m.rows_inserted + m.rows_updated + m.rows_deleted + m.rows_tombstoned +
                                 m.rows_unchanged + m.rows_evicted + m.rows_purged +
                                 m.rejected.size(),
          where + ": the report's counts do not add up: " + Counts(m));
  const Clocks after = LoadClocks(r);
  const std::set<RowKey> erasing = ErasingRows(r, *decoded);
  CheckVersionsForward(clocks_before, after, erasing, where);
  for (const RowKey& key : erasing) markers(n).erase(key);
  Track();
  CheckReplica(r, markers(n), /*scan_values=*/false);

  const Repeats repeats = RepeatedErasures(r, *decoded);
  if (repeats == Repeats::kEviction) return m;
  // At-least-once delivery: the same changeset again changes nothing.
  const TableDump once = WithoutRepeatNoise(DumpTables(r));
  const uint64_t hlc_once = r.clock().last();
  auto again = ApplyChangeset(r, bytes, options);
  Require(again.has_value(), where + ": a changeset applied once is refused the second time");
  Require(repeats == Repeats::kErasing || !ChangedSomething(*again),
          where + ": applying a changeset twice changed more: " + Counts(*again));
  Require(WithoutRepeatNoise(DumpTables(r)) == once, where + ": a repeat changed the replica");
  Require(r.clock().last() == hlc_once, where + ": a repeat moved the clock");
  return m;
}

}  // namespace unitsync::store::fuzz
