// Central's log and tombstone GC by the units' acknowledgements (log_gc.h), and the
// forced re-seed of a unit the trimmed log no longer reaches (seed_tracking.h).
#include "store/log_gc.h"

#include <gtest/gtest.h>

#include "store/change_log.h"
#include "store/log_gc_fixture.h"

namespace unitsync::store {
namespace {

using testing::Exec;
using testing::kRetention;
using testing::LogGcTest;
using testing::Query;
using testing::ValueOrDie;

TEST_F(LogGcTest, TheLogShrinksAsEveryUnitAcknowledges) {
  for (int i = 0; i < 10; ++i) {
    AddStudent(central_, "a" + std::to_string(i), "unit-0001");
    AddStudent(central_, "b" + std::to_string(i), "unit-0002");
  }
  US_ASSERT_OK(StampPendingChangesNow(central_));
  ASSERT_FALSE(Session(u1_));
  ASSERT_FALSE(Session(u2_));
  const int64_t before = LogEntries();
  ASSERT_EQ(before, 20);

  // unit-0002 has not seen the next writes: they stay while it is within the retention.
  for (int i = 10; i < 15; ++i) AddStudent(central_, "a" + std::to_string(i), "unit-0001");
  US_ASSERT_OK(StampPendingChangesNow(central_));
  ASSERT_FALSE(Session(u1_));
  LogGcReport r = Collect();
  EXPECT_EQ(r.entries_deleted, 20) << "what both units acknowledged goes";
  EXPECT_EQ(r.state.log_trimmed_upto, 20);
  EXPECT_EQ(LogEntries(), 5);
  EXPECT_TRUE(r.silent_units.empty());

  ASSERT_FALSE(Session(u2_));
  r = Collect();
  EXPECT_EQ(r.state.log_trimmed_upto, 25);
  EXPECT_EQ(LogEntries(), 1) << "the newest entry always stays";
  ASSERT_FALSE(Session(u1_));
  ASSERT_FALSE(Session(u2_));
  ExpectConverged();
}

TEST_F(LogGcTest, TombstonesGoOnceEveryUnitHasThemAndTheRetentionHasPassed) {
  ASSERT_NO_FATAL_FAILURE(SetUpSyncedTombstone());
  ASSERT_EQ(Tombstones(), 1);

  // Every unit acknowledged the delete, but the units' HELLOs came before it: a push they
  // built then might still carry a write to the row, so the tombstone stays.
  clock_.Advance(kRetention / 2);
  LogGcReport r = Collect();
  EXPECT_EQ(r.tombstones_deleted, 0);
  EXPECT_EQ(Tombstones(), 1);
  EXPECT_EQ(Query(central_, "SELECT count(*) FROM _us_changes WHERE pk = 'gone'"), "2")
      << "a live tombstone's log entries stay with it";

  // New sessions: each HELLO now names a pull cursor past the delete, and nothing the
  // units built before is outstanding. Still younger than the retention.
  ASSERT_FALSE(Session(u1_));
  ASSERT_FALSE(Session(u2_));
  r = Collect();
  EXPECT_EQ(r.tombstones_deleted, 0) << "younger than the retention";

  AddStudent(central_, "later", "unit-0002");  // the newest log entry is never deleted
  US_ASSERT_OK(StampPendingChangesNow(central_));
  clock_.Advance(kRetention);
  ASSERT_FALSE(Session(u1_));
  ASSERT_FALSE(Session(u2_));
  r = Collect();
  EXPECT_EQ(r.tombstones_deleted, 1);
  EXPECT_EQ(Tombstones(), 0);
  EXPECT_EQ(Query(central_, "SELECT group_concat(op || unit) FROM _us_changes WHERE pk = 'gone'"),
            "Xunit-0001")
      << "only an eviction for the row's unit is left: it drops the unit's tombstone too";
  EXPECT_EQ(Query(central_, "SELECT count(*) FROM student WHERE id = 'kept'"), "1");
  ASSERT_EQ(Query(u1_, "SELECT deleted FROM _us_clock WHERE pk = 'gone'"), "1");
  ASSERT_FALSE(Session(u1_)) << "an active unit is never told to re-seed";
  EXPECT_EQ(Query(u1_, "SELECT count(*) FROM _us_clock WHERE pk = 'gone'"), "0");
  ASSERT_FALSE(Session(u2_));
  ExpectConverged();
}

TEST_F(LogGcTest, ReferenceDataTombstonesStay) {
  Exec(central_,
       "INSERT INTO action_type(id, code, name, level, valid_from) VALUES ('t1', 'extra', "
       "'Extra', 'ea', '2026-01-01')");
  US_ASSERT_OK(StampPendingChangesNow(central_));
  ASSERT_FALSE(Session(u1_));
  ASSERT_FALSE(Session(u2_));
  Exec(central_, "DELETE FROM action_type WHERE id = 't1'");
  AddStudent(central_, "later", "unit-0002");
  US_ASSERT_OK(StampPendingChangesNow(central_));
  for (int i = 0; i < 2; ++i) {
    ASSERT_FALSE(Session(u1_));
    ASSERT_FALSE(Session(u2_));
    clock_.Advance(kRetention + 1);
  }
  ASSERT_FALSE(Session(u1_));
  ASSERT_FALSE(Session(u2_));
  EXPECT_EQ(Collect().tombstones_deleted, 0) << "every unit holds it; no eviction can drop it";
  EXPECT_EQ(Tombstones(), 1);
}

TEST_F(LogGcTest, PurgeMarkersAreNeverCollected) {
  AddStudent(central_, "p", "unit-0001");
  US_ASSERT_OK(StampPendingChangesNow(central_));
  ASSERT_FALSE(Session(u1_));
  ASSERT_FALSE(Session(u2_));
  Exec(central_, "UPDATE _us_clock SET deleted = 2 WHERE pk = 'p'");  // marker stand-in
  clock_.Advance(2 * kRetention);
  ASSERT_FALSE(Session(u1_));
  ASSERT_FALSE(Session(u2_));
  Collect();
  EXPECT_EQ(Query(central_, "SELECT count(*) FROM _us_clock WHERE pk = 'p' AND deleted = 2"), "1");
}

TEST_F(LogGcTest, ASilentUnitStopsHoldingTheLogBackAndMustReseed) {
  AddStudent(central_, "a0", "unit-0001");
  AddStudent(central_, "b0", "unit-0002");
  US_ASSERT_OK(StampPendingChangesNow(central_));
  ASSERT_FALSE(Session(u1_));
  ASSERT_FALSE(Session(u2_));
  // unit-0002 goes silent; central deletes one of its rows, moves another in.
  Exec(central_, "DELETE FROM student WHERE id = 'b0'");
  Exec(central_, "UPDATE student SET unit_id = 'unit-0002' WHERE id = 'a0'");
  AddStudent(central_, "b1", "unit-0002");
  US_ASSERT_OK(StampPendingChangesNow(central_));
  ASSERT_FALSE(Session(u1_));
  LogGcReport r = Collect();
  EXPECT_EQ(r.state.log_trimmed_upto, 2) << "unit-0002 still counts";

  clock_.Advance(kRetention + 1);
  ASSERT_FALSE(Session(u1_));
  r = Collect();
  EXPECT_EQ(r.silent_units, std::vector<std::string>{"unit-0002"});
  EXPECT_GT(r.state.log_trimmed_upto, 2);
  EXPECT_TRUE(ValueOrDie(RecordHello(central_, "unit-0002", 2, 0)))
      << "its pull cursor is behind the trimmed log";

  ForcedReseed(u2_, 1);
  EXPECT_FALSE(Session(u2_)) << "after the snapshot it syncs from the head";
  EXPECT_EQ(Query(u2_, "SELECT group_concat(id) FROM (SELECT id FROM student ORDER BY id)"),
            "a0,b1");
  ExpectConverged();
}

TEST_F(LogGcTest, BeforeAnyUnitHasSyncedNothingIsTrimmed) {
  AddStudent(central_, "a0", "unit-0001");
  AddStudent(central_, "gone", "unit-0001");
  Exec(central_, "DELETE FROM student WHERE id = 'gone'");
  US_ASSERT_OK(StampPendingChangesNow(central_));
  Collect();
  clock_.Advance(2 * kRetention);
  const LogGcReport r = Collect();
  EXPECT_EQ(r.state.log_trimmed_upto, 0) << "no unit is known to have applied anything";
  EXPECT_EQ(r.state.tombs_trimmed_upto, 0);
  EXPECT_EQ(r.entries_deleted, 0);
  EXPECT_EQ(r.tombstones_deleted, 0);
  EXPECT_EQ(LogEntries(), 3);
  EXPECT_EQ(Tombstones(), 1);
  ASSERT_FALSE(Session(u1_)) << "the first unit pulls the whole log";
  EXPECT_EQ(Query(u1_, "SELECT group_concat(id) FROM student"), "a0");
  EXPECT_EQ(Query(u1_, "SELECT deleted FROM _us_clock WHERE pk = 'gone'"), "1");
}

TEST_F(LogGcTest, WithEveryUnitSilentCentralTrimsOnlyWhatEveryUnitHas) {
  for (int i = 0; i < 3; ++i) {
    AddStudent(central_, "a" + std::to_string(i), "unit-0001");
    AddStudent(central_, "b" + std::to_string(i), "unit-0002");
  }
  US_ASSERT_OK(StampPendingChangesNow(central_));
  ASSERT_FALSE(Session(u1_));
  ASSERT_FALSE(Session(u2_));
  for (int i = 3; i < 6; ++i) AddStudent(central_, "a" + std::to_string(i), "unit-0001");
  US_ASSERT_OK(StampPendingChangesNow(central_));
  ASSERT_FALSE(Session(u1_));
  EXPECT_EQ(Collect().state.log_trimmed_upto, 6) << "unit-0002 acknowledged 6 of 9";
  // Central's clock jumps (or central itself was down): no unit is within the retention,
  // and the whole log is older than it. That is no reason to leave unit-0002 behind.
  clock_.Advance(2 * kRetention);
  const LogGcReport r = Collect();
  EXPECT_TRUE(r.silent_units.empty());
  EXPECT_EQ(r.state.log_trimmed_upto, 6);
  EXPECT_EQ(LogEntries(), 3);
  ASSERT_FALSE(Session(u2_)) << "unit-0002 pulls on from its cursor";
  ASSERT_FALSE(Session(u1_));
  ExpectConverged();
}

TEST_F(LogGcTest, AForcedReseedEvictsWhatTheSnapshotLeftOutAndKeepsWorkCentralCannotHave) {
  // A private row, a new row, edits and an unsent push at the unit; deletes and moves at
  // central.
  ASSERT_NO_FATAL_FAILURE(SetUpForcedReseedScenario());
  ForcedReseed(u1_, 2);
  EXPECT_EQ(Query(u1_, "SELECT group_concat(id) FROM (SELECT id FROM student ORDER BY id)"),
            "new,private,same");
  // The deletes came as the snapshot's tombstones; the moved rows were left out of it.
  EXPECT_EQ(Query(u1_,
                  "SELECT group_concat(pk) FROM (SELECT pk FROM _us_clock WHERE deleted = 1 "
                  "ORDER BY pk)"),
            "deleted,edited");
  EXPECT_EQ(Query(u1_, "SELECT count(*) FROM _us_clock WHERE pk IN ('moved', 'edited-moved')"),
            "0");
  // The unit's edits of rows that are gone are kept for the admin.
  EXPECT_EQ(Query(u1_,
                  "SELECT group_concat(pk || ':' || col || ':' || kind) FROM "
                  "(SELECT * FROM _us_conflicts ORDER BY pk, col)"),
            "edited:grade:delete,edited-moved:grade:evict");
  EXPECT_EQ(Query(u1_, "SELECT count(*) FROM _us_seed_pending"), "0");
  const OutboxState after = ValueOrDie(GetOutboxState(u1_));
  EXPECT_EQ(after.pending, 0) << "the unsent push carried edits of evicted rows";
  EXPECT_EQ(after.built_seq, after.acked_seq);
  EXPECT_EQ(ValueOrDie(GetSeedState(u1_)).wanted, false);
  EXPECT_EQ(ValueOrDie(GetCursor(u1_, "central")).received_seq,
            ValueOrDie(GetChangeLogStats(central_, INT64_MAX)).head_seq);

  // The rebuilt push carries the new row and the edit of a row that stayed, nothing else.
  MergeReport pushed = PushReport(u1_);
  EXPECT_TRUE(pushed.rejected.empty());
  EXPECT_EQ(Query(central_, "SELECT count(*) FROM student WHERE id IN ('deleted', 'edited')"), "0");
  EXPECT_EQ(Query(central_, "SELECT grade FROM student WHERE id = 'same'"), "8");
  EXPECT_EQ(Query(central_, "SELECT count(*) FROM student WHERE id = 'new'"), "1");
  EXPECT_EQ(Query(central_, "SELECT count(*) FROM student WHERE id = 'private'"), "0");
  ASSERT_FALSE(Session(u2_));
  ExpectConverged();
}

// A re-seed under way that was not forced (an admin's, a restored replica's) did not
// record what the unit held before its first chunk. When central then says the log no
// longer reaches the unit, the seed starts over, forced, from its first chunk: resumed at
// chunk N it could not tell which rows to evict.
TEST_F(LogGcTest, ASeedUnderWayThatBecomesForcedStartsOverAndEvictsWhatCentralMoved) {
  for (const char* id : {"a", "b", "moved", "c"}) AddStudent(central_, id, "unit-0001");
  US_ASSERT_OK(StampPendingChangesNow(central_));
  ASSERT_FALSE(Session(u1_));
  Exec(central_, "UPDATE student SET unit_id = 'unit-0002' WHERE id = 'moved'");
  US_ASSERT_OK(StampPendingChangesNow(central_));

  US_ASSERT_OK(RequestSeed(u1_));  // `unitsyncctl reseed`: one chunk arrives, then it stops
  SeedState seed = ValueOrDie(GetSeedState(u1_));
  seed.snapshot = "snap-admin";
  seed.next_chunk = 1;
  SnapshotChunkRequest req;
  req.unit = "unit-0001";
  req.max_rows = 1;
  const BuiltSnapshotChunk first = ValueOrDie(BuildSnapshotChunk(central_, req));
  ASSERT_EQ(first.rows, 1u);
  ValueOrDie(ApplySnapshotChunk(u1_, ValueOrDie(DecodeChangeset(first.bytes)), seed));
  ASSERT_EQ(ValueOrDie(GetSeedState(u1_)).next_chunk, 1);

  US_ASSERT_OK(RequestSeed(u1_, /*forced=*/true));
  const SeedState restarted = ValueOrDie(GetSeedState(u1_));
  EXPECT_TRUE(restarted.wanted);
  EXPECT_TRUE(restarted.forced);
  EXPECT_EQ(restarted.snapshot, "") << "the unforced snapshot's progress was kept";
  EXPECT_EQ(restarted.next_chunk, 0);
  EXPECT_EQ(restarted.rows_done, 0);

  ForcedReseed(u1_, 2);
  EXPECT_EQ(Query(u1_, "SELECT group_concat(id) FROM (SELECT id FROM student ORDER BY id)"),
            "a,b,c")
      << "a row central moved to another unit stayed";
  EXPECT_EQ(Query(u1_, "SELECT count(*) FROM _us_clock WHERE pk = 'moved'"), "0");
  // A forced seed under way keeps its progress when asked again.
  US_ASSERT_OK(RequestSeed(u1_, /*forced=*/true));
  seed = ValueOrDie(GetSeedState(u1_));
  seed.snapshot = "snap-forced";
  seed.next_chunk = 1;
  ValueOrDie(ApplySnapshotChunk(u1_, ValueOrDie(DecodeChangeset(first.bytes)), seed));
  US_ASSERT_OK(RequestSeed(u1_, /*forced=*/true));
  EXPECT_EQ(ValueOrDie(GetSeedState(u1_)).snapshot, "snap-forced");
  EXPECT_EQ(ValueOrDie(GetSeedState(u1_)).next_chunk, 1);
}

TEST_F(LogGcTest, AUnitWithPushesCentralNeverGotMustReseedOnceTombstonesWentWithoutIt) {
  AddStudent(central_, "x", "unit-0001");
  US_ASSERT_OK(StampPendingChangesNow(central_));
  ASSERT_FALSE(Session(u1_));
  ASSERT_FALSE(Session(u2_));
  Exec(central_, "DELETE FROM student WHERE id = 'x'");
  US_ASSERT_OK(StampPendingChangesNow(central_));
  ASSERT_FALSE(Session(u2_));
  ASSERT_FALSE(Session(u2_));
  Collect();  // dates the log as it is now
  // unit-0001 is silent past the retention: the tombstone goes without it.
  clock_.Advance(kRetention + 1);
  ASSERT_FALSE(Session(u2_));
  LogGcReport r = Collect();
  ASSERT_EQ(r.tombstones_deleted, 1);
  // It comes back claiming a push central never received: that push may edit 'x'.
  EXPECT_TRUE(ValueOrDie(RecordHello(central_, "unit-0001", r.state.log_trimmed_upto, 7)));
}

TEST_F(LogGcTest, RefusedOnAUnitAndWithoutARetention) {
  EXPECT_EQ(CollectLogGarbage(u1_, LogGcPolicy{kRetention}).error().code, Errc::kInvalidArgument);
  EXPECT_EQ(CollectLogGarbage(central_, LogGcPolicy{0}).error().code, Errc::kInvalidArgument);
  EXPECT_EQ(RecordHello(u1_, "unit-0001", 0, 0).error().code, Errc::kInvalidArgument);
}

}  // namespace
}  // namespace unitsync::store
