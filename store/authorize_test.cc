// Write authorization at central (ApplyOptions::authorize_unit) and the
// cursor that advances inside the apply (ApplyOptions::advance_received).
#include "store/change_log.h"
#include "store/cursors.h"
#include "store/merge.h"
#include "store/test_util.h"

namespace unitsync::store {
namespace {

using testing::Changes;
using testing::Digests;
using testing::Exec;
using testing::Query;
using testing::TempDir;
using testing::ValueOrDie;

constexpr int64_t kT0 = 1'780'000'000'000;

ApplyOptions AsUnit(const std::string& unit) {
  ApplyOptions o;
  o.authorize_unit = unit;
  return o;
}

// A forged row: every column first written by `origin`.
ChangeRow Row(const std::string& pk, std::vector<Value> values, const std::string& origin) {
  ChangeRow r;
  r.pk = pk;
  r.versions.assign(values.size(), ColumnVersion{{static_cast<uint64_t>(kT0) << 16, origin}, {}});
  r.values = std::move(values);
  return r;
}

class AuthorizeTest : public ::testing::Test {
 protected:
  AuthorizeTest()
      : clock_(kT0),
        central_(testing::MakeReplica(dir_, "central", Role::kCentral, &clock_)),
        u1_(testing::MakeReplica(dir_, "unit-0001", Role::kUnit, &clock_)),
        u2_(testing::MakeReplica(dir_, "unit-0002", Role::kUnit, &clock_)) {}

  void SetUp() override {
    // unit-0002 owns a student and a case; both reach central.
    Exec(u2_,
         "INSERT INTO student(id, unit_id, pseudo_id) VALUES ('s2', 'unit-0002', 'p2');"
         "INSERT INTO support_case(id, unit_id, student_id, opened_on) "
         "VALUES ('c2', 'unit-0002', 's2', '2026-01-10');");
    const MergeReport r = ValueOrDie(ApplyChangeset(central_, Changes(u2_), AsUnit("unit-0002")));
    ASSERT_TRUE(r.rejected.empty());
    ASSERT_EQ(r.rows_inserted, 2u);
  }

  int64_t LogHead() { return ValueOrDie(GetChangeLogStats(central_, 0)).head_seq; }

  TempDir dir_;
  ManualWallClock clock_;
  Replica central_;
  Replica u1_;
  Replica u2_;
};

TEST_F(AuthorizeTest, ARealUnitPushIsAcceptedWhole) {
  Exec(u1_,
       "INSERT INTO student(id, unit_id, pseudo_id, personnummer) "
       "VALUES ('s1', 'unit-0001', 'p1', '201001011234');"
       "INSERT INTO support_case(id, unit_id, student_id, opened_on) "
       "VALUES ('c1', 'unit-0001', 's1', '2026-01-10');"
       "DELETE FROM support_case WHERE id = 'c1';");
  const MergeReport r = ValueOrDie(ApplyChangeset(central_, Changes(u1_), AsUnit("unit-0001")));
  EXPECT_TRUE(r.rejected.empty());
  EXPECT_EQ(r.rows_inserted, 1u);
  EXPECT_EQ(r.rows_deleted, 0u);  // c1 arrives as a tombstone of a row central never had.
  EXPECT_EQ(r.rows_tombstoned, 1u);
  EXPECT_EQ(Digests(u1_, "unit-0001"), Digests(central_, "unit-0001"));
}

TEST_F(AuthorizeTest, OnlyTheUnitsOwnRowsInUnitTablesWithoutLocalOnlyColumnsApply) {
  const auto unit2_before = Digests(central_, "unit-0002");
  const auto all_before = Digests(central_);
  const int64_t log_before = LogHead();

  Changeset cs;
  cs.origin = "unit-0001";
  TableChanges cases{"support_case", {"unit_id", "student_id", "opened_on"}, {}};
  cases.rows.push_back(Row("c-good",
                           {std::string("unit-0001"), std::string("s1"), std::string("2026-02-01")},
                           "unit-0001"));
  cases.rows.push_back(Row("c-foreign",
                           {std::string("unit-0002"), std::string("s2"), std::string("2026-02-01")},
                           "unit-0001"));
  // c2 exists at central under unit-0002; unit-0001 tries to take it over.
  cases.rows.push_back(Row(
      "c2", {std::string("unit-0001"), std::string("s2"), std::string("2026-02-02")}, "unit-0001"));
  ChangeRow tomb;  // ... and to delete it.
  tomb.pk = "c2";
  tomb.tombstone = true;
  tomb.tombstone_version = {static_cast<uint64_t>(kT0 + 5) << 16, "unit-0001"};
  tomb.tombstone_unit = "unit-0001";
  tomb.versions.resize(3);
  cases.rows.push_back(tomb);
  ChangeRow evict;  // Only central evicts.
  evict.pk = "c2";
  evict.evict = true;
  cases.rows.push_back(evict);
  cs.tables.push_back(cases);
  TableChanges types{"action_type", {"code", "name", "level", "valid_from"}, {}};
  types.rows.push_back(Row(
      "t1", {std::string("EA-X"), std::string("x"), std::string("ea"), std::string("2026-01-01")},
      "unit-0001"));
  cs.tables.push_back(types);
  TableChanges students{"student", {"unit_id", "pseudo_id", "personnummer"}, {}};
  students.rows.push_back(
      Row("s1", {std::string("unit-0001"), std::string("p1"), std::string("201001011234")},
          "unit-0001"));
  cs.tables.push_back(students);

  const MergeReport r =
      ValueOrDie(ApplyChangeset(central_, EncodeChangeset(cs), AsUnit("unit-0001")));
  const std::vector<RowRejection> expected = {
      {"support_case", "c-foreign", RowRejectReason::kForeignUnit},
      {"support_case", "c2", RowRejectReason::kOwnedElsewhere},
      {"support_case", "c2", RowRejectReason::kOwnedElsewhere},
      {"support_case", "c2", RowRejectReason::kEviction},
      {"action_type", "t1", RowRejectReason::kCentralScope},
      {"student", "s1", RowRejectReason::kLocalOnlyColumn},
  };
  EXPECT_EQ(r.rejected, expected);
  EXPECT_EQ(r.rows_received, 7u);
  EXPECT_EQ(r.rows_inserted, 1u);
  EXPECT_EQ(r.rows_updated + r.rows_deleted + r.rows_evicted, 0u);

  EXPECT_EQ(Query(central_, "SELECT unit_id FROM support_case WHERE id = 'c-good'"), "unit-0001");
  EXPECT_EQ(Query(central_, "SELECT count(*) FROM support_case WHERE id = 'c-foreign'"), "0");
  EXPECT_EQ(Query(central_, "SELECT unit_id || opened_on FROM support_case WHERE id = 'c2'"),
            "unit-00022026-01-10");
  EXPECT_EQ(Query(central_, "SELECT count(*) FROM action_type"), "0");
  EXPECT_EQ(Query(central_, "SELECT count(*) FROM student WHERE id = 's1'"), "0");
  EXPECT_EQ(Digests(central_, "unit-0002"), unit2_before);
  // Besides support_case (c-good), every table digest is as before.
  const auto all_after = Digests(central_);
  for (size_t i = 0; i < all_after.size(); ++i) {
    if (all_after[i].table != "support_case") {
      EXPECT_EQ(all_after[i], all_before[i]);
    }
  }
  EXPECT_EQ(Query(central_, "SELECT group_concat(op || ':' || pk) FROM _us_changes WHERE seq > " +
                                std::to_string(log_before)),
            "M:c-good");
  // Rejections name tables and ids, never values.
  for (const RowRejection& rej : r.rejected) {
    EXPECT_EQ(rej.pk.find("2026"), std::string::npos);
    EXPECT_FALSE(RowRejectReasonName(rej.reason).empty());
  }
}

TEST_F(AuthorizeTest, AUnitCannotMoveItsRowAwayNorTouchItOnceMoved) {
  Exec(u1_, "INSERT INTO student(id, unit_id, pseudo_id) VALUES ('s1', 'unit-0001', 'p1')");
  ASSERT_TRUE(
      ValueOrDie(ApplyChangeset(central_, Changes(u1_), AsUnit("unit-0001"))).rejected.empty());
  const int64_t after = ValueOrDie(GetChangeLogStats(u1_, 0)).head_seq;

  // The unit moves the row itself: refused, the row stays where it was.
  clock_.Advance(1000);
  Exec(u1_, "UPDATE student SET unit_id = 'unit-0002' WHERE id = 's1'");
  MergeReport r = ValueOrDie(ApplyChangeset(central_, Changes(u1_, after), AsUnit("unit-0001")));
  EXPECT_EQ(r.rejected,
            (std::vector<RowRejection>{{"student", "s1", RowRejectReason::kForeignUnit}}));
  EXPECT_EQ(Query(central_, "SELECT unit_id FROM student WHERE id = 's1'"), "unit-0001");

  // Central moves it; the unit's later edit (still naming itself) is refused.
  clock_.Advance(1000);
  Exec(central_, "UPDATE student SET unit_id = 'unit-0002' WHERE id = 's1'");
  Exec(u1_, "UPDATE student SET unit_id = 'unit-0001', grade = '5' WHERE id = 's1'");
  const int64_t after2 = ValueOrDie(GetChangeLogStats(u1_, 0)).head_seq - 2;
  r = ValueOrDie(ApplyChangeset(central_, Changes(u1_, after2), AsUnit("unit-0001")));
  EXPECT_EQ(r.rejected,
            (std::vector<RowRejection>{{"student", "s1", RowRejectReason::kOwnedElsewhere}}));
  EXPECT_EQ(Query(central_,
                  "SELECT unit_id || '/' || ifnull(grade, '-') FROM student"
                  " WHERE id = 's1'"),
            "unit-0002/-");
}

TEST_F(AuthorizeTest, TheLiveRowsOwnerCountsEvenWithoutOrAgainstItsClock) {
  // Rows central holds that capture never saw (written with the apply flag
  // set, like rows that predate unitsync): one with no clock, and c2, whose
  // clock still says unit-0002 but whose row now belongs to unit-0003.
  Exec(central_,
       "INSERT INTO _us_applying(flag) VALUES (1);"
       "INSERT INTO support_case(id, unit_id, student_id, opened_on) "
       "VALUES ('untracked', 'unit-0003', 's2', '2026-01-01');"
       "UPDATE support_case SET unit_id = 'unit-0003' WHERE id = 'c2';"
       "DELETE FROM _us_applying;");
  ASSERT_EQ(Query(central_, "SELECT unit FROM _us_clock WHERE pk = 'c2'"), "unit-0002");
  Changeset cs;
  cs.origin = "unit-0002";
  TableChanges cases{"support_case", {"unit_id", "student_id", "opened_on"}, {}};
  for (const char* id : {"untracked", "c2"}) {
    cases.rows.push_back(Row(
        id, {std::string("unit-0002"), std::string("s2"), std::string("2026-03-03")}, "unit-0002"));
    cases.rows.back().versions.assign(
        3, ColumnVersion{{static_cast<uint64_t>(kT0 + 60'000) << 16, "unit-0002"}, {}});
  }
  cs.tables.push_back(cases);
  const MergeReport r =
      ValueOrDie(ApplyChangeset(central_, EncodeChangeset(cs), AsUnit("unit-0002")));
  EXPECT_EQ(r.rejected, (std::vector<RowRejection>{
                            {"support_case", "untracked", RowRejectReason::kOwnedElsewhere},
                            {"support_case", "c2", RowRejectReason::kOwnedElsewhere}}));
  EXPECT_EQ(Query(central_,
                  "SELECT group_concat(unit_id || opened_on) FROM (SELECT * FROM support_case "
                  "WHERE id IN ('untracked', 'c2') ORDER BY id)"),
            "unit-00032026-01-10,unit-00032026-01-01");
}

TEST_F(AuthorizeTest, OnlyCentralAuthorizes) {
  auto r = ApplyChangeset(u1_, Changes(u2_), AsUnit("unit-0002"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kInvalidArgument);
}

TEST_F(AuthorizeTest, ANamelessUnitOrPeerIsRefusedBeforeAnythingIsRead) {
  Exec(u1_, "INSERT INTO student(id, unit_id, pseudo_id) VALUES ('s1', 'unit-0001', 'p1')");
  const Blob push = Changes(u1_);
  const int64_t head = LogHead();
  auto nameless = ApplyChangeset(central_, push, AsUnit(""));
  ASSERT_FALSE(nameless);
  EXPECT_EQ(nameless.error().code, Errc::kInvalidArgument);
  EXPECT_NE(nameless.error().message.find("names no unit"), std::string::npos);
  ApplyOptions o = AsUnit("unit-0001");
  o.advance_received = ApplyOptions::Cursor{"", 1};
  auto no_peer = ApplyChangeset(central_, push, o);
  ASSERT_FALSE(no_peer);
  EXPECT_EQ(no_peer.error().code, Errc::kInvalidArgument);
  EXPECT_NE(no_peer.error().message.find("names no peer"), std::string::npos);
  EXPECT_EQ(Query(central_, "SELECT count(*) FROM student WHERE id = 's1'"), "0");
  EXPECT_EQ(LogHead(), head);
  o.advance_received->peer = "unit-0001";
  EXPECT_EQ(ValueOrDie(ApplyChangeset(central_, push, o)).rows_inserted, 1u);
}

TEST_F(AuthorizeTest, ReceivedCursorMovesWithTheApplyAndOnlyWithIt) {
  Exec(u1_, "INSERT INTO student(id, unit_id, pseudo_id) VALUES ('s1', 'unit-0001', 'p1')");
  ApplyOptions o = AsUnit("unit-0001");
  o.advance_received = ApplyOptions::Cursor{"unit-0001", 7};

  // Fails before anything is written: nothing moves.
  Blob garbage = Changes(u1_);
  garbage.resize(garbage.size() - 3);
  auto bad = ApplyChangeset(central_, garbage, o);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, Errc::kMalformed);
  EXPECT_EQ(ValueOrDie(GetCursor(central_, "unit-0001")).received_seq, 0);

  // Fails halfway, inside the transaction (an undecodable clock record of a
  // later row): the earlier row and the cursor roll back together.
  Exec(u1_,
       "INSERT INTO support_case(id, unit_id, student_id, opened_on) "
       "VALUES ('c1', 'unit-0001', 's1', '2026-01-10')");
  Exec(central_,
       "INSERT INTO _us_clock(tbl, pk, unit, versions) "
       "VALUES ('support_case', 'c1', 'unit-0001', x'c1')");
  auto corrupt = ApplyChangeset(central_, Changes(u1_), o);
  ASSERT_FALSE(corrupt);
  EXPECT_EQ(corrupt.error().code, Errc::kCorrupt);
  EXPECT_EQ(Query(central_, "SELECT count(*) FROM student WHERE id = 's1'"), "0");
  EXPECT_EQ(ValueOrDie(GetCursor(central_, "unit-0001")).received_seq, 0);
  Exec(central_, "DELETE FROM _us_clock WHERE pk = 'c1'");

  // Applies: the cursor moves, durably.
  const MergeReport r = ValueOrDie(ApplyChangeset(central_, Changes(u1_), o));
  EXPECT_EQ(r.rows_inserted, 2u);
  const std::string path = central_.path();
  central_ = ValueOrDie(Replica::Open(path));
  EXPECT_EQ(ValueOrDie(GetCursor(central_, "unit-0001")).received_seq, 7);

  // Never backwards, also when every row is rejected.
  o.advance_received->seq = 5;
  Exec(u1_, "UPDATE student SET unit_id = 'unit-0002' WHERE id = 's1'");
  const MergeReport late = ValueOrDie(ApplyChangeset(central_, Changes(u1_), o));
  EXPECT_FALSE(late.rejected.empty());
  EXPECT_EQ(ValueOrDie(GetCursor(central_, "unit-0001")).received_seq, 7);
  o.advance_received->seq = 9;
  US_ASSERT_OK(ApplyChangeset(central_, Changes(u1_), o));
  EXPECT_EQ(ValueOrDie(GetCursor(central_, "unit-0001")).received_seq, 9);
}

TEST(RowRejectReason, NamesAreTheRegistry) {
  EXPECT_EQ(RowRejectReasonName(RowRejectReason::kCentralScope), "central_scope");
  EXPECT_EQ(RowRejectReasonName(RowRejectReason::kForeignUnit), "foreign_unit");
  EXPECT_EQ(RowRejectReasonName(RowRejectReason::kOwnedElsewhere), "owned_elsewhere");
  EXPECT_EQ(RowRejectReasonName(RowRejectReason::kLocalOnlyColumn), "local_only_column");
  EXPECT_EQ(RowRejectReasonName(RowRejectReason::kConstraint), "constraint");
  EXPECT_EQ(RowRejectReasonName(RowRejectReason::kEviction), "eviction");
  EXPECT_EQ(static_cast<int>(RowRejectReason::kCentralScope), 1);
  EXPECT_EQ(static_cast<int>(RowRejectReason::kEviction), 6);
}

}  // namespace
}  // namespace unitsync::store

namespace unitsync::store {
namespace {

// A version beyond central's clock by more than kMaxFutureVersionMs is refused: one at
// 2^64 - 1 could never be written over (the next write's stamp, one above it, wraps and
// loses), so central and the unit would differ for good after central's next edit. A
// version a month ahead (a unit clock gone wrong) still applies, and central's next write
// still beats it.
TEST_F(AuthorizeTest, AVersionTooFarInTheFutureIsRefusedAndTheRestApplies) {
  Exec(u1_,
       "INSERT INTO student(id, unit_id, pseudo_id) VALUES ('max', 'unit-0001', 'p');"
       "INSERT INTO student(id, unit_id, pseudo_id) VALUES ('year2', 'unit-0001', 'p');"
       "INSERT INTO student(id, unit_id, pseudo_id) VALUES ('month', 'unit-0001', 'p');");
  Changeset cs = ValueOrDie(DecodeChangeset(Changes(u1_)));
  const uint64_t day = uint64_t{24} * 60 * 60 * 1000;
  for (ChangeRow& row : cs.tables.at(0).rows) {
    uint64_t hlc = UINT64_MAX;
    if (row.pk == "year2") hlc = (static_cast<uint64_t>(kT0) + 2 * 365 * day) << 16;
    if (row.pk == "month") hlc = (static_cast<uint64_t>(kT0) + 30 * day) << 16;
    for (ColumnVersion& cv : row.versions) cv = {{hlc, "unit-0001"}, {}};
  }
  const MergeReport r = ValueOrDie(ApplyChangeset(central_, cs, AsUnit("unit-0001")));
  std::vector<RowRejection> expected = {{"student", "max", RowRejectReason::kFutureVersion},
                                        {"student", "year2", RowRejectReason::kFutureVersion}};
  EXPECT_EQ(r.rejected, expected);
  EXPECT_EQ(r.rows_inserted, 1u);
  EXPECT_EQ(RowRejectReasonName(RowRejectReason::kFutureVersion), "future_version");

  // Central's own write to the month-ahead row wins over it.
  Exec(central_, "UPDATE student SET grade = '7' WHERE id = 'month'");
  ValueOrDie(ApplyChangeset(u1_, Changes(central_, 0, "unit-0001")));
  EXPECT_EQ(Query(u1_, "SELECT grade FROM student WHERE id = 'month'"), "7");
}

// The same for a tombstone: a delete central could never write over is refused, and the
// row stays.
TEST_F(AuthorizeTest, ATombstoneTooFarInTheFutureIsRefusedAndTheRowStays) {
  Exec(u2_, "DELETE FROM support_case WHERE id = 'c2'");
  Changeset cs = ValueOrDie(DecodeChangeset(Changes(u2_)));
  bool forged = false;
  for (TableChanges& t : cs.tables) {
    for (ChangeRow& row : t.rows) {
      if (!row.tombstone) continue;
      row.tombstone_version.hlc = UINT64_MAX;
      forged = true;
    }
  }
  ASSERT_TRUE(forged);
  const MergeReport r = ValueOrDie(ApplyChangeset(central_, cs, AsUnit("unit-0002")));
  EXPECT_EQ(r.rejected,
            (std::vector<RowRejection>{{"support_case", "c2", RowRejectReason::kFutureVersion}}));
  EXPECT_EQ(r.rows_deleted, 0u);
  EXPECT_EQ(Query(central_, "SELECT count(*) FROM support_case WHERE id = 'c2'"), "1");
}

}  // namespace
}  // namespace unitsync::store
