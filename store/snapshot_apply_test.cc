// The re-seed's chunk apply (snapshot_apply.h): fresh blocks skip the per-row clock
// lookup, and the replica that results must be exactly the ordinary merge's
// (ApplyChangeset) for the same chunks, whatever the unit already holds: rows from an
// interrupted run, local writes, purge markers, conflicts, rows without a clock, or a
// chunk that is not in snapshot order. Each case builds the same starting state in two
// replicas, applies the same chunks one way to each and compares rows, versions, change
// log, conflicts and the seed state. Failures name tables and counts, never values.
#include "store/snapshot_apply.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "common/clock.h"
#include "store/change_log.h"
#include "store/changeset_builder.h"
#include "store/purge.h"
#include "store/sync_state.h"
#include "store/test_util.h"
#include "store/wal_checkpointer.h"

namespace unitsync::store {
namespace {

using testing::Exec;
using testing::Query;
using testing::TempDir;
using testing::ValueOrDie;

void AddStudent(Replica& r, const std::string& id, const std::string& unit) {
  Exec(r, "INSERT INTO student(id, unit_id, pseudo_id, grade) VALUES ('" + id + "', '" + unit +
              "', 'p-" + id + "', '7')");
}

// Every row of the engine's own tables that a merge writes, as text, in a fixed order
// (ids and times that differ by construction left out).
std::vector<std::string> EngineRows(Replica& r) {
  std::vector<std::string> out;
  const std::pair<const char*, int> queries[] = {
      {"SELECT tbl, pk, unit, deleted, tomb_hlc, tomb_origin, hex(versions) "
       "FROM _us_clock ORDER BY tbl, pk",
       7},
      {"SELECT tbl, pk, col, kind, quote(winner_value), winner_hlc, winner_origin, "
       "quote(loser_value), loser_hlc, loser_origin FROM _us_conflicts ORDER BY tbl, pk, col, "
       "loser_hlc, loser_origin",
       10},
      {"SELECT seq, tbl, pk, op, cols, unit FROM _us_changes ORDER BY seq", 6},
      {"SELECT key, value FROM _us_meta WHERE key LIKE 'seed%' ORDER BY key", 2},
  };
  for (const auto& [sql, columns] : queries) {
    auto stmt = ValueOrDie(r.db().Prepare(sql), "prepare");
    while (ValueOrDie(stmt.Step(), "step")) {
      std::string line = sql;
      for (int i = 0; i < columns; ++i) line += "|" + stmt.ColumnText(i);
      out.push_back(std::move(line));
    }
  }
  return out;
}

// The same replica state: row data (digests cover values and versions per table) and
// the engine's tables. Reports where they differ by name and count only.
void ExpectSameReplica(Replica& fast, Replica& merged) {
  EXPECT_EQ(testing::Digests(fast), testing::Digests(merged)) << "per-table digests";
  const std::vector<std::string> a = EngineRows(fast), b = EngineRows(merged);
  EXPECT_EQ(a.size(), b.size()) << "engine rows";
  size_t differ = 0;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) differ += a[i] != b[i];
  EXPECT_EQ(differ, 0u) << "engine rows that differ (clock, conflicts, change log, seed state)";
}

// The connection settings a chunk changes for its transaction (snapshot_apply.cc
// ChunkSettings), as text; and the auto-checkpoint, which a chunk must leave alone (the
// daemon's WalCheckpointer replaces it).
std::string ChunkSettingsOf(Replica& r) {
  return "synchronous=" + Query(r, "PRAGMA synchronous") +
         " cache_size=" + Query(r, "PRAGMA cache_size") +
         " wal_autocheckpoint=" + Query(r, "PRAGMA wal_autocheckpoint");
}

// The seed state recorded with chunk `i` (from 0) of snapshot "snap-1".
SeedState StateAfter(size_t i) {
  SeedState next;
  next.snapshot = "snap-1";
  next.next_chunk = static_cast<int64_t>(i) + 1;
  return next;
}

// Whether the replica's own connection fires triggers: a local write there is captured.
bool CapturesLocalWrites(Replica& r) {
  const std::string before = Query(r, "SELECT count(*) FROM _us_changes");
  Exec(r, "INSERT INTO staff(id, display_name, role) VALUES ('probe-" + before +
              "', 'Probe', 'mentor')");
  return Query(r, "SELECT count(*) FROM _us_changes") != before;
}

class SnapshotApplyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Exec(central_, "INSERT INTO unit(id, node_id, name) VALUES ('u1', 'unit-1', 'North')");
    Exec(central_,
         "INSERT INTO action_type(id, code, name, level, valid_from) VALUES ('t1', 'extra', "
         "'Extra', 'ea', '2026-01-01')");
    for (int i = 0; i < 40; ++i) {
      AddStudent(central_, "s-" + std::to_string(100 + i), "unit-1");
      AddStudent(central_, "s-" + std::to_string(200 + i), "unit-2");
    }
    Exec(central_, "DELETE FROM student WHERE id = 's-105'");  // a tombstone
    US_ASSERT_OK(StampPendingChangesNow(central_));
    ValueOrDie(PurgeRow(central_, "student", "s-117"), "purge");  // a purge marker
    US_ASSERT_OK(StampPendingChangesNow(central_));
  }

  // The whole snapshot for unit-1, `max_rows` per chunk, decoded.
  std::vector<Changeset> Chunks(size_t max_rows) {
    std::vector<Changeset> out;
    SnapshotChunkRequest req;
    req.unit = "unit-1";
    req.max_rows = max_rows;
    for (;;) {
      auto chunk = ValueOrDie(BuildSnapshotChunk(central_, req), "chunk");
      if (chunk.rows > 0) out.push_back(ValueOrDie(DecodeChangeset(chunk.bytes), "decode"));
      if (chunk.done) return out;
      req.after = chunk.last;
    }
  }

  // Applies `chunks` to `fast` with ApplySnapshotChunk and to `merged` with
  // ApplyChangeset (the same seed state in set_meta); returns the fast side's fresh rows.
  size_t ApplyBoth(const std::vector<Changeset>& chunks) {
    size_t fresh = 0;
    for (const Changeset& cs : chunks) {
      SeedState next;
      next.wanted = true;
      next.snapshot = "snap-1";
      next.next_chunk = ++chunk_index_;
      next.rows_done = static_cast<int64_t>(cs.RowCount());
      auto report = ValueOrDie(ApplySnapshotChunk(fast_, cs, next), "snapshot apply");
      fresh += report.rows_fresh;
      ApplyOptions options;
      options.set_meta = SeedStateMeta(next);
      auto plain = ValueOrDie(ApplyChangeset(merged_, cs, options), "merge");
      EXPECT_EQ(plain.rows_fresh, 0u);
      EXPECT_EQ(report.rows_received, plain.rows_received);
      EXPECT_EQ(report.rows_inserted, plain.rows_inserted);
      EXPECT_EQ(report.rows_updated, plain.rows_updated);
      EXPECT_EQ(report.rows_deleted, plain.rows_deleted);
      EXPECT_EQ(report.rows_unchanged, plain.rows_unchanged);
      EXPECT_EQ(report.rows_purged, plain.rows_purged);
      EXPECT_EQ(report.conflicts, plain.conflicts);
    }
    return fresh;
  }

  // Runs the same SQL on both unit replicas.
  void ExecBoth(const std::string& sql) {
    Exec(fast_, sql);
    Exec(merged_, sql);
  }

  TempDir dir_;
  TempDir other_dir_;
  Replica central_ = testing::MakeReplica(dir_, "central", Role::kCentral);
  // One manual clock for both units: their own stamps (local writes, purges) are equal.
  ManualWallClock unit_clock_{1'800'000'000'000};
  Replica fast_ = testing::MakeReplica(dir_, "unit-1", Role::kUnit, &unit_clock_);
  Replica merged_ = testing::MakeReplica(other_dir_, "unit-1", Role::kUnit, &unit_clock_);
  int64_t chunk_index_ = 0;
};

TEST_F(SnapshotApplyTest, AFreshReplicaTakesTheFastPathForEveryRowWithTheSameResult) {
  const std::vector<Changeset> chunks = Chunks(7);
  ASSERT_GT(chunks.size(), 3u);
  size_t rows = 0;
  for (const Changeset& cs : chunks) rows += cs.RowCount();
  EXPECT_EQ(ApplyBoth(chunks), rows) << "every row of a fresh replica is fresh";
  ExpectSameReplica(fast_, merged_);
  EXPECT_EQ(testing::Digests(fast_, "unit-1"), testing::Digests(central_, "unit-1"));
  EXPECT_EQ(Query(fast_, "SELECT count(*) FROM _us_clock WHERE deleted = 1"), "1");
  EXPECT_EQ(Query(fast_, "SELECT count(*) FROM _us_clock WHERE deleted = 2"), "1");
  EXPECT_EQ(Query(fast_, "SELECT count(*) FROM _us_changes"), "0") << "nothing captured";
  EXPECT_EQ(Query(fast_, "PRAGMA synchronous"), "2") << "FULL again after the chunk";
}

// A chunk's transaction runs with its own settings (NORMAL sync, a larger cache,
// triggers off) and puts the connection back as it was afterwards.
TEST_F(SnapshotApplyTest, AChunkRunsWithTriggersOffAndRestoresTheConnection) {
  // A trigger that does not test _us_applying would fire during an ordinary merge; in a
  // chunk no trigger runs at all.
  Exec(fast_,
       "CREATE TABLE fired(id TEXT); CREATE TRIGGER unguarded AFTER INSERT ON student "
       "BEGIN INSERT INTO fired VALUES (NEW.id); END");
  Exec(fast_, "PRAGMA cache_size = -3000");  // not SQLite's default: restored, not reset
  const std::string settings = ChunkSettingsOf(fast_);
  const std::vector<Changeset> chunks = Chunks(7);
  for (size_t i = 0; i < chunks.size(); ++i) {
    ValueOrDie(ApplySnapshotChunk(fast_, chunks[i], StateAfter(i)), "snapshot apply");
    EXPECT_EQ(ChunkSettingsOf(fast_), settings) << "after chunk " << i;
  }
  EXPECT_EQ(Query(fast_, "SELECT count(*) FROM fired"), "0") << "a trigger ran in a chunk";
  EXPECT_NE(Query(fast_, "SELECT count(*) FROM student"), "0");
  EXPECT_TRUE(CapturesLocalWrites(fast_)) << "triggers stayed off after the chunks";
  Exec(fast_, "INSERT INTO student(id, unit_id, pseudo_id) VALUES ('local', 'unit-1', 'p')");
  EXPECT_EQ(Query(fast_, "SELECT count(*) FROM fired"), "1");
}

// The daemon checkpoints on a thread of its own (wal_checkpointer.h); chunks keep its
// hook in place: after them, a commit still wakes the thread (PRAGMA wal_autocheckpoint
// reads 0 for "no hook" as for "another hook", so the test writes and waits).
TEST_F(SnapshotApplyTest, ChunksLeaveABackgroundCheckpointerInCharge) {
  auto checkpointer = WalCheckpointer::Start(fast_.db(), {.wake_pages = 1, .limit_pages = 1 << 20});
  US_ASSERT_OK(checkpointer);
  auto passes_reach = [&](uint64_t n) {
    return testing::Eventually([&] { return (*checkpointer)->stats().passes >= n; });
  };
  const std::vector<Changeset> chunks = Chunks(7);
  for (size_t i = 0; i < chunks.size(); ++i) {
    ValueOrDie(ApplySnapshotChunk(fast_, chunks[i], StateAfter(i)), "snapshot apply");
  }
  ASSERT_TRUE(passes_reach(1)) << "no chunk's commit woke the checkpointer";
  const uint64_t after_chunks = (*checkpointer)->stats().passes;
  Exec(fast_, "INSERT INTO staff(id, display_name, role) VALUES ('after', 'After', 'mentor')");
  EXPECT_TRUE(passes_reach(after_chunks + 1)) << "the chunks took the checkpointer's hook away";
  (*checkpointer)->Stop();
  EXPECT_EQ((*checkpointer)->stats().failures, 0u);
}

// An interrupted re-seed resumes with chunks that overlap what was applied (a lost tail
// after a power cut, or central resuming from an older key): those blocks merge row by row.
TEST_F(SnapshotApplyTest, ARepeatedOrOverlappingChunkMergesRowByRow) {
  const std::vector<Changeset> chunks = Chunks(7);
  ApplyBoth({chunks[0], chunks[1], chunks[2]});
  EXPECT_EQ(ApplyBoth({chunks[1], chunks[2]}), 0u) << "every block overlaps applied rows";
  const std::vector<Changeset> wide = Chunks(20);  // straddles applied and new rows
  EXPECT_LT(ApplyBoth(wide), [&] {
    size_t n = 0;
    for (const Changeset& cs : wide) n += cs.RowCount();
    return n;
  }());
  ExpectSameReplica(fast_, merged_);
  EXPECT_EQ(testing::Digests(fast_, "unit-1"), testing::Digests(central_, "unit-1"));
}

// What a unit can hold when a snapshot (re)arrives: a resumed run re-sends chunks it
// applied before a power cut, after the unit wrote locally (stamped first, inside the
// chunk's transaction), purged a row, recorded a conflict, or got a row without a clock.
TEST_F(SnapshotApplyTest, RowsTheUnitAlreadyHoldsAreMergedAsUsual) {
  const std::vector<Changeset> chunks = Chunks(7);
  ASSERT_GT(chunks.size(), 5u);
  ApplyBoth({chunks[0], chunks[1], chunks[2]});
  // Rows of chunks 1 and 2, which come again: a local update not stamped yet, a purge.
  ExecBoth("UPDATE student SET grade = '8' WHERE id = 's-110'");
  for (Replica* r : {&fast_, &merged_}) ValueOrDie(PurgeRow(*r, "student", "s-115"), "purge");
  // A new local row inside a later chunk's range.
  AddStudent(fast_, "s-1225", "unit-1");
  AddStudent(merged_, "s-1225", "unit-1");
  // A row written behind the engine's back with no clock (the flag silences capture).
  ExecBoth(
      "BEGIN; INSERT INTO _us_applying(flag) VALUES (1); INSERT INTO student(id, unit_id, "
      "pseudo_id, grade) VALUES ('s-131', 'unit-1', 'p-x', '5'); DELETE FROM _us_applying; "
      "COMMIT");
  ExecBoth(
      "INSERT INTO _us_conflicts(tbl, pk, col, kind, winner_value, winner_hlc, winner_origin, "
      "loser_value, loser_hlc, loser_origin, detected_ms) VALUES ('student', 's-126', 'grade', "
      "'update', '1', 5, 'a', '2', 4, 'b', 0)");
  const std::vector<Changeset> resumed(chunks.begin() + 1, chunks.end());
  EXPECT_EQ(ApplyBoth({resumed.begin(), resumed.begin() + 2}), 0u) << "applied before";
  EXPECT_GT(ApplyBoth({resumed.begin() + 2, resumed.end()}), 0u) << "the rest is fresh";
  ExpectSameReplica(fast_, merged_);
  EXPECT_EQ(Query(fast_, "SELECT grade FROM student WHERE id = 's-110'"), "8")
      << "the newer local write stays";
  EXPECT_EQ(Query(fast_, "SELECT count(*) FROM student WHERE id = 's-115'"), "0")
      << "a purged row does not come back";
  EXPECT_EQ(Query(fast_, "SELECT count(*) FROM _us_conflicts"),
            Query(merged_, "SELECT count(*) FROM _us_conflicts"));
}

// A faulty or hostile sender's chunk with an id twice, or out of snapshot order, is not
// provably fresh: it merges row by row (the second copy of an id is a duplicate).
TEST_F(SnapshotApplyTest, AChunkWithARepeatedIdMergesRowByRow) {
  std::vector<Changeset> chunks = Chunks(1000);
  ASSERT_EQ(chunks.size(), 1u);
  for (TableChanges& t : chunks[0].tables) t.rows.push_back(t.rows.front());
  EXPECT_EQ(ApplyBoth(chunks), 0u);
  ExpectSameReplica(fast_, merged_);
  EXPECT_EQ(testing::Digests(fast_, "unit-1"), testing::Digests(central_, "unit-1"));
}

TEST_F(SnapshotApplyTest, AChunkOutOfOrderMergesRowByRow) {
  std::vector<Changeset> chunks = Chunks(1000);
  ASSERT_EQ(chunks.size(), 1u);
  for (TableChanges& t : chunks[0].tables) std::reverse(t.rows.begin(), t.rows.end());
  const size_t single_row_blocks = 2;  // unit and action_type: one row, in order
  EXPECT_EQ(ApplyBoth(chunks), single_row_blocks);
  ExpectSameReplica(fast_, merged_);
  EXPECT_EQ(testing::Digests(fast_, "unit-1"), testing::Digests(central_, "unit-1"));
}

// A chunk that cannot be applied leaves nothing: no rows, no seed state, the connection's
// settings as they were.
TEST_F(SnapshotApplyTest, AFailedChunkLeavesNothingAndKeepsFullSync) {
  std::vector<Changeset> chunks = Chunks(1000);
  Changeset bad = chunks[0];
  bad.tables.push_back(TableChanges{"no_such_table", {"a"}, {}});
  const SeedState next = StateAfter(0);
  const std::string settings = ChunkSettingsOf(fast_);
  auto r = ApplySnapshotChunk(fast_, bad, next);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, Errc::kRejected);
  EXPECT_EQ(Query(fast_, "SELECT count(*) FROM _us_clock"), "0");
  EXPECT_TRUE(ValueOrDie(GetSeedState(fast_)).snapshot.empty());
  EXPECT_EQ(ChunkSettingsOf(fast_), settings) << "the chunk's settings stuck";
  EXPECT_TRUE(CapturesLocalWrites(fast_)) << "triggers stayed off after a failed chunk";
  Replica central_again = testing::MakeReplica(other_dir_, "central", Role::kCentral);
  EXPECT_FALSE(ApplySnapshotChunk(central_again, chunks[0], next).has_value())
      << "only a unit is re-seeded";
}

// Found by the fault sweep (fault_sweep_gc_test.cc): setting synchronous back to FULL
// comes after the commit, so when it fails the chunk is applied, with its resume point,
// and the error is still reported (the connection must not stay at NORMAL unnoticed).
TEST_F(SnapshotApplyTest, AChunkWhoseFullSyncCannotBeRestoredIsAppliedAndSaysSo) {
  const std::vector<Changeset> chunks = Chunks(1000);
  SeedState next;
  next.wanted = true;
  next.snapshot = "snap-1";
  next.next_chunk = 1;
  SqliteFaultPlan count;  // fails nothing: how many calls a chunk makes
  {
    ScopedSqliteFaults faults(count);
    ASSERT_TRUE(ApplySnapshotChunk(merged_, chunks[0], next));
  }
  // The last two calls: synchronous = FULL (the last setting put back), then foreign keys
  // on again.
  SqliteFaultPlan plan;
  plan.fail_at = count.calls - 1;
  plan.rc = SQLITE_IOERR;
  Result<MergeReport> r = MergeReport{};
  {
    ScopedSqliteFaults faults(plan);
    r = ApplySnapshotChunk(fast_, chunks[0], next);
  }
  ASSERT_TRUE(plan.injected);
  EXPECT_EQ(plan.injected_call, SqliteCall::kExec);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, Errc::kIo) << r.error().ToString();
  EXPECT_EQ(ValueOrDie(GetSeedState(fast_)).snapshot, "snap-1") << "committed with its rows";
  ExpectSameReplica(fast_, merged_);
  EXPECT_EQ(Query(fast_, "PRAGMA synchronous"), "2") << "FULL again on the way out";
  // The uplink restarts the seed after a failed chunk: applying it again is harmless.
  const MergeReport again = ValueOrDie(ApplySnapshotChunk(fast_, chunks[0], next));
  EXPECT_EQ(again.rows_inserted, 0u);
  ExpectSameReplica(fast_, merged_);
}

}  // namespace
}  // namespace unitsync::store
