// A row that central moves to another unit: the old unit receives an
// eviction and forgets the row, the new unit receives the whole row.
#include <algorithm>

#include "store/change_log.h"
#include "store/conflicts.h"
#include "store/cursors.h"
#include "store/merge.h"
#include "store/star_fixture.h"
#include "store/sync_state.h"

namespace unitsync::store {
namespace {

using testing::Digests;
using testing::Exec;
using testing::Query;
using testing::ValueOrDie;

class EvictionTest : public testing::StarTest {
 protected:
  void SetUp() override {
    Exec(u1_,
         "INSERT INTO student(id, unit_id, pseudo_id, name) "
         "VALUES ('s', 'unit-0001', 'ps', 'Alva');"
         "INSERT INTO support_case(id, unit_id, student_id, opened_on) "
         "VALUES ('c', 'unit-0001', 's', '2026-01-10');");
    Push(u1_);
  }

  // The unit's push; central accepts every row of it.
  void Push(Replica& unit) { EXPECT_TRUE(PushReport(unit).rejected.empty()); }
};

TEST_F(EvictionTest, MovedRowIsEvictedFromTheOldUnitAndSentWholeToTheNewOne) {
  EXPECT_TRUE(Rows(FanOut(u1_)).empty()) << "no echo";
  Pull(u1_, FanOut(u1_));
  EXPECT_TRUE(Rows(FanOut(u2_)).empty()) << "routed to unit-0001 only";
  Pull(u2_, FanOut(u2_));

  clock_.Advance(1000);
  Exec(central_, "UPDATE student SET unit_id = 'unit-0002' WHERE id = 's'");
  const Changeset to_u1 = FanOut(u1_);
  EXPECT_EQ(Rows(to_u1), std::vector<std::string>{"student/s:evict"});
  const MergeReport r1 = Pull(u1_, to_u1);
  EXPECT_EQ(r1.rows_evicted, 1u);
  EXPECT_EQ(Query(u1_, "SELECT count(*) FROM student"), "0");
  EXPECT_EQ(Query(u1_, "SELECT count(*) FROM _us_clock WHERE pk = 's'"), "0");
  EXPECT_TRUE(ValueOrDie(ListConflicts(u1_)).empty()) << "everything was acknowledged";
  EXPECT_EQ(Query(u1_, "SELECT count(*) FROM support_case"), "1") << "only the moved row goes";
  EXPECT_EQ(Query(u1_, "SELECT count(*) FROM _us_changes WHERE op = 'X'"), "0")
      << "the eviction is not captured";

  const Changeset to_u2 = FanOut(u2_);
  EXPECT_EQ(Rows(to_u2), std::vector<std::string>{"student/s:row"});
  EXPECT_EQ(Pull(u2_, to_u2).rows_inserted, 1u);
  EXPECT_EQ(Query(u2_, "SELECT unit_id || '/' || pseudo_id FROM student"), "unit-0002/ps");
  ExpectConverged();

  // Evicting again (a repeated fan-out) is a no-op.
  EXPECT_EQ(Pull(u1_, to_u1).rows_evicted, 0u);

  // It moves back: the whole row inserts cleanly where it was evicted.
  clock_.Advance(1000);
  Exec(central_, "UPDATE student SET unit_id = 'unit-0001', grade = '7' WHERE id = 's'");
  EXPECT_EQ(Rows(FanOut(u2_)), std::vector<std::string>{"student/s:evict"});
  Pull(u2_, FanOut(u2_));
  const Changeset back = FanOut(u1_);
  EXPECT_EQ(Rows(back), std::vector<std::string>{"student/s:row"});
  EXPECT_EQ(Pull(u1_, back).rows_inserted, 1u);
  EXPECT_EQ(Query(u1_, "SELECT unit_id || '/' || grade FROM student"), "unit-0001/7");
  EXPECT_EQ(Query(u2_, "SELECT count(*) FROM student"), "0");
  ExpectConverged();

  // And the unit can work with it again.
  clock_.Advance(1000);
  Exec(u1_, "UPDATE student SET grade = '8' WHERE id = 's'");
  Push(u1_);
  EXPECT_EQ(Query(central_, "SELECT grade FROM student WHERE id = 's'"), "8");
}

TEST_F(EvictionTest, CaptureLogsTheOldUnitAndStampingBumpsOnlyTheRoutingColumn) {
  const int64_t head = ValueOrDie(GetChangeLogStats(central_, 0)).head_seq;
  Exec(central_, "UPDATE support_case SET unit_id = 'unit-0002' WHERE id = 'c'");
  auto log = ValueOrDie(ListChanges(central_, head, 10));
  ASSERT_EQ(log.size(), 2u);
  EXPECT_EQ(log[0].op, 'U');
  EXPECT_EQ(log[0].unit, "unit-0002");
  EXPECT_EQ(log[0].cols, "unit_id");
  EXPECT_EQ(log[1].op, 'X');
  EXPECT_EQ(log[1].unit, "unit-0001");
  US_ASSERT_OK(StampPendingChangesNow(central_));
  Changeset cs = FanOut(u2_);
  ASSERT_EQ(cs.tables.size(), 1u);
  const TableChanges& t = cs.tables[0];
  for (size_t i = 0; i < t.columns.size(); ++i) {
    EXPECT_EQ(t.rows[0].versions[i].v.origin, t.columns[i] == "unit_id" ? "central" : "unit-0001")
        << t.columns[i];
  }
  // An update that keeps the unit logs no X.
  Exec(central_, "UPDATE support_case SET reason = 'r' WHERE id = 'c'");
  EXPECT_EQ(ValueOrDie(ListChanges(central_, head, 10)).back().op, 'U');
}

TEST_F(EvictionTest, TheEvictionFollowsTheRowsOtherEntriesEvenAcrossABatchBoundary) {
  Exec(central_,
       "INSERT INTO student(id, unit_id, pseudo_id) VALUES ('n', 'unit-0001', 'pn');"
       "UPDATE student SET unit_id = 'unit-0002' WHERE id = 's';");
  const Changeset first = FanOut(u1_, 1);
  EXPECT_EQ(Rows(first), std::vector<std::string>{"student/n:row"});
  Pull(u1_, first);
  const Changeset second = FanOut(u1_, 1);
  EXPECT_EQ(Rows(second), std::vector<std::string>{"student/s:evict"});
  Pull(u1_, second);
  EXPECT_EQ(Query(u1_, "SELECT group_concat(id) FROM student"), "n");
  Pull(u2_, FanOut(u2_));
  ExpectConverged();
}

// A row the unit holds without a clock record (written with capture off, before unitsync
// tracked it) is evicted as well: the unit keeps nothing of a row that is not its own.
TEST_F(EvictionTest, ARowHeldWithoutAClockRecordIsEvictedToo) {
  Pull(u1_, FanOut(u1_));
  Exec(u1_,
       "INSERT INTO _us_applying(flag) VALUES (1);"
       "INSERT INTO student(id, unit_id, pseudo_id) VALUES ('old', 'unit-0001', 'po');"
       "DELETE FROM _us_applying");
  Exec(central_,
       "INSERT INTO student(id, unit_id, pseudo_id) VALUES ('old', 'unit-0001', 'po');"
       "INSERT INTO student(id, unit_id, pseudo_id) VALUES ('kept', 'unit-0001', 'pk');");
  US_ASSERT_OK(StampPendingChangesNow(central_));
  Exec(central_, "UPDATE student SET unit_id = 'unit-0002' WHERE id = 'old'");
  const Changeset cs = FanOut(u1_);
  std::vector<std::string> rows = Rows(cs);
  std::sort(rows.begin(), rows.end());
  ASSERT_EQ(rows, (std::vector<std::string>{"student/kept:row", "student/old:evict"}));
  ASSERT_EQ(Query(u1_, "SELECT count(*) FROM _us_clock WHERE pk = 'old'"), "0");
  const MergeReport r = Pull(u1_, cs);
  EXPECT_EQ(r.rows_evicted, 1u);
  EXPECT_EQ(r.rows_inserted, 1u);
  EXPECT_EQ(Query(u1_, "SELECT count(*) FROM student WHERE id = 'old'"), "0");
  EXPECT_EQ(Query(u1_, "SELECT count(*) FROM _us_conflicts"), "0");
}

TEST_F(EvictionTest, ARowMovedAwayAndDeletedIsEvictedNotTombstoned) {
  Exec(central_,
       "UPDATE support_case SET unit_id = 'unit-0002' WHERE id = 'c';"
       "DELETE FROM support_case WHERE id = 'c';");
  EXPECT_EQ(Rows(FanOut(u1_)), std::vector<std::string>{"support_case/c:evict"});
  Pull(u1_, FanOut(u1_));
  EXPECT_EQ(Query(u1_, "SELECT count(*) FROM _us_clock WHERE pk = 'c'"), "0");
  EXPECT_EQ(Rows(FanOut(u2_)), std::vector<std::string>{"support_case/c:tombstone"});
  Pull(u2_, FanOut(u2_));
  ExpectConverged();
}

TEST_F(EvictionTest, UnacknowledgedLocalWorkIsKeptAsEvictConflicts) {
  clock_.Advance(1000);
  Exec(u1_, "UPDATE support_case SET reason = 'unacked edit' WHERE id = 'c'");
  clock_.Advance(1000);
  Exec(central_, "UPDATE support_case SET unit_id = 'unit-0002' WHERE id = 'c'");
  const MergeReport r = Pull(u1_, FanOut(u1_));
  EXPECT_EQ(r.rows_evicted, 1u);
  EXPECT_EQ(Query(u1_, "SELECT count(*) FROM support_case"), "0");

  // One per column this unit wrote: every column, unit_id included (the
  // unit never saw central's move).
  auto conflicts = ValueOrDie(ListConflicts(u1_));
  const TableSpec* spec = u1_.manifest().Find("support_case");
  EXPECT_EQ(conflicts.size(), spec->columns.size());
  EXPECT_EQ(r.conflicts, conflicts.size());
  const Conflict* reason = nullptr;
  for (const Conflict& c : conflicts) {
    EXPECT_EQ(c.kind, "evict");
    EXPECT_EQ(c.loser.origin, "unit-0001");
    EXPECT_TRUE(c.winner.empty());
    EXPECT_TRUE(std::holds_alternative<std::monostate>(c.winner_value));
    if (c.column == "reason") reason = &c;
  }
  ASSERT_NE(reason, nullptr);
  EXPECT_EQ(std::get<std::string>(reason->loser_value), "unacked edit");
  auto restore = RestoreConflict(u1_, reason->id);
  ASSERT_FALSE(restore);
  EXPECT_EQ(restore.error().code, Errc::kRejected);
  EXPECT_EQ(restore.error().message.find("unacked edit"), std::string::npos);
  EXPECT_EQ(Query(u1_, "SELECT count(*) FROM support_case"), "0");
}

TEST_F(EvictionTest, OnlyCentralEvicts) {
  Changeset cs;
  cs.origin = "unit-0001";
  ChangeRow evict;
  evict.pk = "s";
  evict.evict = true;
  cs.tables.push_back({"student", u1_.manifest().Find("student")->columns, {evict}});
  const Blob bytes = EncodeChangeset(cs);
  const auto before = Digests(central_);

  ApplyOptions o;
  o.authorize_unit = "unit-0001";
  const MergeReport pushed = ValueOrDie(ApplyChangeset(central_, bytes, o));
  EXPECT_EQ(pushed.rejected,
            (std::vector<RowRejection>{{"student", "s", RowRejectReason::kEviction}}));
  EXPECT_EQ(pushed.rows_evicted, 0u);

  const MergeReport ignored = ValueOrDie(ApplyChangeset(central_, bytes));
  EXPECT_TRUE(ignored.rejected.empty());
  EXPECT_EQ(ignored.rows_evicted, 0u);
  EXPECT_EQ(ignored.rows_unchanged, 1u);
  EXPECT_EQ(Digests(central_), before);
  EXPECT_EQ(Query(central_, "SELECT count(*) FROM student"), "1");
}

TEST_F(EvictionTest, ARoutingChangeMergedAtCentralLogsAnEvictionForTheOldUnit) {
  // A changeset applied without authorization (another central, an admin
  // import) that moves a row: central's log gets M (new unit) and X (old).
  clock_.Advance(1000);
  Exec(u1_, "UPDATE support_case SET unit_id = 'unit-0002' WHERE id = 'c'");
  const int64_t head = ValueOrDie(GetChangeLogStats(central_, 0)).head_seq;
  const OutboxState state = ValueOrDie(GetOutboxState(u1_));
  testing::Apply(central_, testing::Changes(u1_, state.built_log_seq));
  auto log = ValueOrDie(ListChanges(central_, head, 10));
  ASSERT_EQ(log.size(), 2u);
  EXPECT_EQ(log[0].op, 'M');
  EXPECT_EQ(log[0].unit, "unit-0002");
  EXPECT_EQ(log[1].op, 'X');
  EXPECT_EQ(log[1].unit, "unit-0001");
  EXPECT_EQ(Rows(FanOut(u1_)), std::vector<std::string>{"support_case/c:evict"});
}

}  // namespace
}  // namespace unitsync::store
