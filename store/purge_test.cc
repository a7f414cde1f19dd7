// Erasure: a purge removes a row and its history on every replica, reaches a
// unit that was offline or that the row moved away from, and leaves a marker
// that stops an old copy from bringing the row back.
#include "store/purge.h"

#include "store/change_log.h"
#include "store/cursors.h"
#include "store/merge.h"
#include "store/rejections.h"
#include "store/star_fixture.h"
#include "store/sync_state.h"

namespace unitsync::store {
namespace {

using testing::Digests;
using testing::Exec;
using testing::Query;
using testing::ValueOrDie;

class PurgeTest : public testing::StarTest {
 protected:
  void SetUp() override {
    Exec(u1_,
         "INSERT INTO student(id, unit_id, pseudo_id, name) "
         "VALUES ('s', 'unit-0001', 'ps', 'Alva');"
         "INSERT INTO support_case(id, unit_id, student_id, opened_on) "
         "VALUES ('c', 'unit-0001', 's', '2026-01-10');");
    Push(u1_);
    Pull(u1_);
  }

  using StarTest::Pull;
  MergeReport Push(Replica& unit) { return PushReport(unit); }
  MergeReport Pull(Replica& unit) { return StarTest::Pull(unit, FanOut(unit)); }

  // What is left of row `id` of `table` on `r`, as "rows/clock-deleted/log/conflicts".
  static std::string Traces(Replica& r, const std::string& table, const std::string& id) {
    const std::string key = "tbl = '" + table + "' AND pk = '" + id + "'";
    return Query(r, "SELECT count(*) FROM " + table + " WHERE id = '" + id + "'") + "/" +
           Query(r, "SELECT coalesce((SELECT deleted FROM _us_clock WHERE " + key + "), '-')") +
           "/" + Query(r, "SELECT count(*) FROM _us_changes WHERE " + key + " AND op <> 'P'") +
           "/" + Query(r, "SELECT count(*) FROM _us_conflicts WHERE " + key);
  }
};

TEST_F(PurgeTest, CentralPurgeErasesTheRowAndItsHistoryAtTheUnit) {
  // A conflict on the row at both ends: history that must go too.
  clock_.Advance(1000);
  Exec(u1_, "UPDATE support_case SET opened_on = '2026-02-01' WHERE id = 'c'");
  Exec(central_, "UPDATE support_case SET opened_on = '2026-03-01' WHERE id = 'c'");
  Push(u1_);
  Pull(u1_);
  ASSERT_NE(Query(central_, "SELECT count(*) FROM _us_conflicts WHERE pk = 'c'"), "0");

  clock_.Advance(1000);
  const PurgeOutcome out = ValueOrDie(PurgeRow(central_, "support_case", "c"));
  EXPECT_FALSE(out.already_purged);
  EXPECT_EQ(out.unit, "unit-0001");
  EXPECT_EQ(out.version.origin, "central");
  EXPECT_EQ(Traces(central_, "support_case", "c"), "0/2/0/0");

  const Changeset to_u1 = FanOut(u1_);
  EXPECT_EQ(Rows(to_u1), std::vector<std::string>{"support_case/c:purge"});
  EXPECT_TRUE(Rows(FanOut(u2_)).empty()) << "another unit's row: no marker leaks there";
  const MergeReport r = Pull(u1_);
  EXPECT_EQ(r.rows_purged, 1u);
  EXPECT_EQ(r.rows_received, 1u);
  EXPECT_EQ(Traces(u1_, "support_case", "c"), "0/2/0/0");
  ExpectConverged();
  // A purged id is never used again, by merge or by a local write.
  EXPECT_FALSE(
      u1_.db().Exec("INSERT INTO support_case(id, unit_id, student_id, opened_on) "
                    "VALUES ('c', 'unit-0001', 's', '2026-04-01')"));
}

TEST_F(PurgeTest, APurgeThatDoesNotFitGoesFirstInTheNextChangeset) {
  Exec(central_, "INSERT INTO student(id, unit_id, pseudo_id) VALUES ('n', 'unit-0001', 'pn')");
  clock_.Advance(1000);
  ValueOrDie(PurgeRow(central_, "support_case", "c"));
  const Changeset first = FanOut(u1_, 1);
  EXPECT_EQ(Rows(first), std::vector<std::string>{"student/n:row"});
  Pull(u1_, first);
  const Changeset second = FanOut(u1_, 1);
  EXPECT_EQ(Rows(second), std::vector<std::string>{"support_case/c:purge"});
  Pull(u1_, second);
  EXPECT_EQ(Traces(u1_, "support_case", "c"), "0/2/0/0");
  EXPECT_TRUE(Rows(FanOut(u1_)).empty());
  ExpectConverged();
}

TEST_F(PurgeTest, UnitPurgeReachesCentralAndComesBackAsANoOp) {
  const PurgeOutcome out = ValueOrDie(PurgeRow(u1_, "support_case", "c"));
  EXPECT_EQ(out.version.origin, "unit-0001");
  EXPECT_EQ(Traces(u1_, "support_case", "c"), "0/2/0/0");
  const MergeReport at_central = Push(u1_);
  EXPECT_EQ(at_central.rows_purged, 1u);
  EXPECT_TRUE(at_central.rejected.empty());
  EXPECT_EQ(Traces(central_, "support_case", "c"), "0/2/0/0");
  // Central sends the unit its own purge back (a unit restored from an old backup
  // needs it); merging it changes nothing.
  const MergeReport back = Pull(u1_);
  EXPECT_EQ(back.rows_purged, 0u);
  EXPECT_EQ(back.rows_unchanged, 1u);
  ExpectConverged();
  // Purging again is harmless and says so.
  EXPECT_TRUE(ValueOrDie(PurgeRow(u1_, "support_case", "c")).already_purged);
}

TEST_F(PurgeTest, AStaleCopyIsRefusedAndItsSenderGetsThePurge) {
  // The unit restores an old backup: it still has the case and pushes it again.
  const std::string backup = dir_.File("u1-old.db");
  US_ASSERT_OK(u1_.db().Exec("VACUUM INTO '" + backup + "'"));
  ValueOrDie(PurgeRow(central_, "support_case", "c"));
  Pull(u1_);
  ASSERT_EQ(Traces(u1_, "support_case", "c"), "0/2/0/0");

  ReplicaOptions opts;
  opts.clock = &clock_;
  Replica restored = ValueOrDie(Replica::Open(backup, opts));
  ASSERT_EQ(Query(restored, "SELECT count(*) FROM support_case WHERE id = 'c'"), "1");
  clock_.Advance(1000);
  Exec(restored, "UPDATE support_case SET opened_on = '2026-05-01' WHERE id = 'c'");
  const MergeReport at_central = Push(restored);
  ASSERT_EQ(at_central.rejected.size(), 1u);
  EXPECT_EQ(at_central.rejected[0].reason, RowRejectReason::kPurged);
  EXPECT_EQ(Traces(central_, "support_case", "c"), "0/2/0/0") << "the stale copy stays out";

  const Changeset answer = FanOut(restored);
  EXPECT_EQ(Rows(answer), std::vector<std::string>{"support_case/c:purge"});
  ApplyOptions o;
  o.advance_received = ApplyOptions::Cursor{"central", last_seq_};
  EXPECT_EQ(ValueOrDie(ApplyChangeset(restored, EncodeChangeset(answer), o)).rows_purged, 1u);
  EXPECT_EQ(Traces(restored, "support_case", "c"), "0/2/0/0");
  EXPECT_EQ(Digests(restored, "unit-0001"), Digests(central_, "unit-0001"));
}

TEST_F(PurgeTest, APurgeReachesTheUnitARowMovedAwayFrom) {
  // Central moves the student to unit-0002, then purges it before unit-0001 has pulled
  // the eviction: unit-0001 must still erase its copy.
  clock_.Advance(1000);
  Exec(central_,
       "UPDATE support_case SET unit_id = 'unit-0002' WHERE id = 'c';"
       "UPDATE student SET unit_id = 'unit-0002' WHERE id = 's'");
  Pull(u2_);
  ASSERT_EQ(Query(u2_, "SELECT count(*) FROM support_case"), "1");
  clock_.Advance(1000);
  const PurgeOutcome out = ValueOrDie(PurgeRow(central_, "support_case", "c"));
  EXPECT_EQ(out.unit, "unit-0002");

  const Changeset to_u1 = FanOut(u1_);
  EXPECT_EQ(Rows(to_u1), (std::vector<std::string>{"student/s:evict", "support_case/c:purge"}));
  Pull(u1_);
  EXPECT_EQ(Query(u1_, "SELECT count(*) FROM support_case"), "0");
  EXPECT_EQ(Traces(u1_, "support_case", "c"), "0/-/0/0") << "not its row: not even a marker";
  EXPECT_EQ(Rows(FanOut(u2_)), std::vector<std::string>{"support_case/c:purge"});
  Pull(u2_);
  EXPECT_EQ(Traces(u2_, "support_case", "c"), "0/2/0/0");
  ExpectConverged();
}

TEST_F(PurgeTest, ConcurrentPurgesConvergeOnTheHigherVersion) {
  ValueOrDie(PurgeRow(u1_, "support_case", "c"));
  clock_.Advance(1000);
  ValueOrDie(PurgeRow(central_, "support_case", "c"));
  Push(u1_);
  Pull(u1_);
  Push(u1_);
  Pull(u1_);
  EXPECT_EQ(Query(u1_, "SELECT tomb_origin FROM _us_clock WHERE pk = 'c'"), "central");
  EXPECT_EQ(Query(central_, "SELECT tomb_origin FROM _us_clock WHERE pk = 'c'"), "central");
  ExpectConverged();
}

TEST_F(PurgeTest, ARowOthersReferToIsRefusedWithNothingChanged) {
  const auto before = Digests(u1_);
  auto refused = PurgeRow(u1_, "student", "s");
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, Errc::kRejected);
  EXPECT_EQ(refused.error().message.find("Alva"), std::string::npos);
  EXPECT_EQ(Digests(u1_), before);
  EXPECT_EQ(Query(u1_, "SELECT count(*) FROM _us_changes WHERE op = 'P'"), "0");
  // Children first, then the student.
  ValueOrDie(PurgeRow(u1_, "support_case", "c"));
  ValueOrDie(PurgeRow(u1_, "student", "s"));
  Push(u1_);
  EXPECT_EQ(Query(central_, "SELECT count(*) FROM student"), "0");
  ExpectConverged();
}

TEST_F(PurgeTest, BadRequestsFailClearly) {
  EXPECT_EQ(PurgeRow(u1_, "no_such_table", "c").error().code, Errc::kNotFound);
  EXPECT_EQ(PurgeRow(u1_, "support_case", "nope").error().code, Errc::kNotFound);
  Exec(central_, "INSERT INTO staff(id, display_name, role) VALUES ('st', 'Kim', 'kurator')");
  EXPECT_EQ(PurgeRow(u1_, "staff", "st").error().code, Errc::kInvalidArgument)
      << "shared reference data is purged at central";
}

TEST_F(PurgeTest, ReferenceDataPurgeReachesEveryUnit) {
  Exec(central_, "INSERT INTO staff(id, display_name, role) VALUES ('st', 'Kim', 'kurator')");
  Pull(u1_);
  Pull(u2_);
  ASSERT_EQ(Query(u2_, "SELECT count(*) FROM staff"), "1");
  const PurgeOutcome out = ValueOrDie(PurgeRow(central_, "staff", "st"));
  EXPECT_EQ(out.unit, "");
  EXPECT_EQ(Rows(FanOut(u1_)), std::vector<std::string>{"staff/st:purge"});
  Pull(u1_);
  Pull(u2_);
  EXPECT_EQ(Traces(u1_, "staff", "st"), "0/2/0/0");
  EXPECT_EQ(Traces(u2_, "staff", "st"), "0/2/0/0");
  EXPECT_EQ(Digests(u2_), Digests(central_, "unit-0002"));
}

TEST_F(PurgeTest, ASnapshotCarriesTheMarkerAndErasesAStaleRow) {
  const std::string backup = dir_.File("u1-old.db");
  US_ASSERT_OK(u1_.db().Exec("VACUUM INTO '" + backup + "'"));
  ValueOrDie(PurgeRow(central_, "support_case", "c"));
  SnapshotChunkRequest req;
  req.unit = "unit-0001";
  const BuiltSnapshotChunk chunk = ValueOrDie(BuildSnapshotChunk(central_, req));
  ASSERT_TRUE(chunk.done);
  const Changeset cs = ValueOrDie(DecodeChangeset(chunk.bytes));
  EXPECT_EQ(Rows(cs), (std::vector<std::string>{"student/s:row", "support_case/c:purge"}));

  ReplicaOptions opts;
  opts.clock = &clock_;
  Replica restored = ValueOrDie(Replica::Open(backup, opts));
  EXPECT_EQ(ValueOrDie(ApplyChangeset(restored, chunk.bytes)).rows_purged, 1u);
  EXPECT_EQ(Traces(restored, "support_case", "c"), "0/2/0/0");
  EXPECT_EQ(Digests(restored, "unit-0001"), Digests(central_, "unit-0001"));
}

}  // namespace
}  // namespace unitsync::store
