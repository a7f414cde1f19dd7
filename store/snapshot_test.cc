// Snapshots for re-seeding a unit (changeset_builder.h): chunked in snapshot order, each
// chunk an ordinary changeset, the whole equal to the unit's scope at central.
#include <gtest/gtest.h>

#include "store/change_log.h"
#include "store/changeset_builder.h"
#include "store/cursors.h"
#include "store/merge.h"
#include "store/sync_state.h"
#include "store/test_util.h"

namespace unitsync::store {
namespace {

using testing::Exec;
using testing::Query;
using testing::TempDir;
using testing::ValueOrDie;

void AddStudent(Replica& r, const std::string& id, const std::string& unit, int priv = 0) {
  Exec(r, "INSERT INTO student(id, unit_id, pseudo_id, grade, protected_identity) VALUES ('" + id +
              "', '" + unit + "', 'p-" + id + "', '7', " + std::to_string(priv) + ")");
}

// Central with rows for two units, reference data, a tombstone and a private row.
class SnapshotTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Exec(central_, "INSERT INTO unit(id, node_id, name) VALUES ('u1', 'unit-1', 'North')");
    Exec(central_,
         "INSERT INTO action_type(id, code, name, level, valid_from) VALUES ('t1', 'extra', "
         "'Extra', 'ea', '2026-01-01')");
    for (int i = 0; i < 23; ++i) {
      AddStudent(central_, "s1-" + std::to_string(100 + i), "unit-1");
      AddStudent(central_, "s2-" + std::to_string(100 + i), "unit-2");
    }
    AddStudent(central_, "s1-private", "unit-1", 1);
    Exec(central_, "DELETE FROM student WHERE id = 's1-105'");
    US_ASSERT_OK(StampPendingChangesNow(central_));
  }

  // Streams the whole snapshot for unit-1 into `unit`, `max_rows` per chunk.
  size_t StreamInto(Replica& unit, size_t max_rows, SnapshotKey after = {}) {
    size_t chunks = 0;
    for (;;) {
      SnapshotChunkRequest req;
      req.unit = "unit-1";
      req.after = after;
      req.max_rows = max_rows;
      auto chunk = ValueOrDie(BuildSnapshotChunk(central_, req), "chunk");
      EXPECT_LE(chunk.rows, max_rows);
      if (chunk.rows > 0) {
        auto cs = ValueOrDie(DecodeChangeset(chunk.bytes), "decode");
        // The scan may have passed rows it left out (private ones) after the chunk's last.
        auto last = LastKeyOf(cs);
        EXPECT_TRUE(last && (last->table != chunk.last.table || last->pk <= chunk.last.pk));
        ValueOrDie(ApplyChangeset(unit, chunk.bytes), "apply");
        ++chunks;
      }
      after = chunk.last;
      if (chunk.done) return chunks;
      EXPECT_GT(chunk.rows, 0u) << "a chunk that is not the last carries rows";
    }
  }

  TempDir dir_;
  Replica central_ = testing::MakeReplica(dir_, "central", Role::kCentral);
};

TEST_F(SnapshotTest, ChunksAddUpToTheUnitsScope) {
  Replica unit = testing::MakeReplica(dir_, "unit-1", Role::kUnit);
  const size_t chunks = StreamInto(unit, 4);
  // unit + action_type + 23 students (one of them a tombstone) = 25 rows, 4 per chunk.
  EXPECT_EQ(chunks, 7u);
  EXPECT_EQ(testing::Digests(unit, "unit-1"), testing::Digests(central_, "unit-1"));
  EXPECT_EQ(Query(unit, "SELECT count(*) FROM student WHERE unit_id <> 'unit-1'"), "0");
  EXPECT_EQ(Query(unit, "SELECT count(*) FROM student WHERE id = 's1-private'"), "0")
      << "private rows stay where they are";
  EXPECT_EQ(Query(unit, "SELECT count(*) FROM _us_clock WHERE deleted = 1"), "1")
      << "the tombstone came along";
  EXPECT_EQ(ValueOrDie(CountSnapshotRows(central_, "unit-1")), 26) << "private row counted";
}

TEST_F(SnapshotTest, OneChunkOrManyGiveTheSameReplica) {
  Replica one = testing::MakeReplica(dir_, "unit-1", Role::kUnit);
  TempDir other_dir;
  Replica many = testing::MakeReplica(other_dir, "unit-1", Role::kUnit);
  EXPECT_EQ(StreamInto(one, 1000), 1u);
  StreamInto(many, 1);
  EXPECT_EQ(testing::Digests(one), testing::Digests(many));
}

// Chunks are read as they are built, not from one instant. Rows written at central
// after the snapshot began — before or after the scan's position — reach the unit when it
// pulls the log from the head of the snapshot's start.
TEST_F(SnapshotTest, WritesDuringTheSnapshotArriveThroughTheLogFromItsHead) {
  Replica unit = testing::MakeReplica(dir_, "unit-1", Role::kUnit);
  const int64_t head = ValueOrDie(GetChangeLogStats(central_, INT64_MAX)).head_seq;
  SnapshotChunkRequest req;
  req.unit = "unit-1";
  req.max_rows = 10;
  auto first = ValueOrDie(BuildSnapshotChunk(central_, req), "chunk");
  ValueOrDie(ApplyChangeset(unit, first.bytes), "apply");
  AddStudent(central_, "s1-000", "unit-1");                              // behind the scan position
  Exec(central_, "UPDATE student SET grade = '9' WHERE id = 's1-101'");  // already sent
  Exec(central_, "DELETE FROM student WHERE id = 's1-120'");             // still ahead
  StreamInto(unit, 10, first.last);
  testing::Apply(unit, testing::Changes(central_, head, "unit-1"));
  EXPECT_EQ(testing::Digests(unit, "unit-1"), testing::Digests(central_, "unit-1"));
  EXPECT_EQ(Query(unit, "SELECT grade FROM student WHERE id = 's1-101'"), "9");
}

TEST_F(SnapshotTest, AnEmptyScopeIsOneEmptyDoneChunk) {
  SnapshotChunkRequest req;
  req.unit = "unit-9";
  auto chunk = ValueOrDie(BuildSnapshotChunk(central_, req), "chunk");
  EXPECT_EQ(chunk.rows, 2u) << "reference data only";
  EXPECT_TRUE(chunk.done);
}

TEST(SeedState, IsDurableAndClearedWhenFinished) {
  TempDir dir;
  Replica unit = testing::MakeReplica(dir, "unit-1", Role::kUnit);
  EXPECT_TRUE(ValueOrDie(IsPristine(unit)));
  EXPECT_FALSE(ValueOrDie(GetSeedState(unit)).wanted);
  US_ASSERT_OK(RequestSeed(unit));
  EXPECT_TRUE(ValueOrDie(GetSeedState(unit)).wanted);

  SeedState s;
  s.wanted = true;
  s.snapshot = "snap-1";
  s.next_chunk = 3;
  s.after_table = "student";
  s.after_pk = "s-9";
  s.head = 42;
  s.rows_done = 3000;
  s.rows_total = 5000;
  for (const auto& [k, v] : SeedStateMeta(s)) US_ASSERT_OK(unit.SetMeta(k, v));
  SeedState back = ValueOrDie(GetSeedState(unit));
  EXPECT_EQ(back.snapshot, "snap-1");
  EXPECT_EQ(back.next_chunk, 3);
  EXPECT_EQ(back.after_pk, "s-9");
  EXPECT_EQ(back.head, 42);
  EXPECT_EQ(back.rows_total, 5000);

  US_ASSERT_OK(FinishSeed(unit, "central", 42));
  back = ValueOrDie(GetSeedState(unit));
  EXPECT_FALSE(back.wanted);
  EXPECT_TRUE(back.snapshot.empty());
  EXPECT_EQ(Query(unit, "SELECT received_seq FROM _us_peers WHERE peer = 'central'"), "42");
  EXPECT_FALSE(ValueOrDie(IsPristine(unit))) << "it has synced now";

  Replica central = testing::MakeReplica(dir, "central", Role::kCentral);
  EXPECT_FALSE(RequestSeed(central)) << "central is restored, never re-seeded";
}

// A replica that had pulled before (a restored unit) keeps its lower cursor: moves and
// deletes of rows it held that happened before the snapshot's head still reach it.
TEST(SeedState, FinishingKeepsALowerCursorOfAReplicaThatHadPulled) {
  TempDir dir;
  Replica unit = testing::MakeReplica(dir, "unit-1", Role::kUnit);
  US_ASSERT_OK(AdvanceReceived(unit, "central", 10));
  US_ASSERT_OK(FinishSeed(unit, "central", 42));
  EXPECT_EQ(Query(unit, "SELECT received_seq FROM _us_peers WHERE peer = 'central'"), "10");
}

TEST(SeedState, AReplicaWithRowsIsNotPristine) {
  TempDir dir;
  Replica unit = testing::MakeReplica(dir, "unit-1", Role::kUnit);
  AddStudent(unit, "s1", "unit-1");
  EXPECT_FALSE(ValueOrDie(IsPristine(unit)));
}

TEST(PeerBuilt, IsRememberedPerUnit) {
  TempDir dir;
  Replica central = testing::MakeReplica(dir, "central", Role::kCentral);
  EXPECT_EQ(ValueOrDie(GetPeerBuilt(central, "unit-1")), 0);
  US_ASSERT_OK(SetPeerBuilt(central, "unit-1", 57));
  EXPECT_EQ(ValueOrDie(GetPeerBuilt(central, "unit-1")), 57);
  EXPECT_EQ(ValueOrDie(GetPeerBuilt(central, "unit-2")), 0);
}

}  // namespace
}  // namespace unitsync::store
