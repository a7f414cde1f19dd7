#include "store/merge.h"

#include "store/change_log.h"
#include "store/conflicts.h"
#include "store/inspect.h"
#include "store/test_util.h"

namespace unitsync::store {
namespace {

using testing::Apply;
using testing::Changes;
using testing::Digests;
using testing::Exec;
using testing::Query;
using testing::TempDir;
using testing::ValueOrDie;

constexpr int64_t kT0 = 1'780'000'000'000;  // 2026-05-28, any fixed instant.

// A unit and central with clocks the test moves by hand, holding one shared
// support action (student -> case -> action) written at the unit.
class MergeTest : public ::testing::Test {
 protected:
  MergeTest()
      : unit_clock_(kT0),
        central_clock_(kT0),
        unit_(testing::MakeReplica(dir_, "unit-0001", Role::kUnit, &unit_clock_)),
        central_(testing::MakeReplica(dir_, "central", Role::kCentral, &central_clock_)) {}

  void SetUp() override {
    Exec(unit_,
         "INSERT INTO student(id, unit_id, pseudo_id, personnummer, name) "
         "VALUES ('s', 'unit-0001', 'ps', '201001011234', 'Alva');"
         "INSERT INTO support_case(id, unit_id, student_id, opened_on) "
         "VALUES ('c', 'unit-0001', 's', '2026-01-10');"
         "INSERT INTO support_action(id, unit_id, case_id, action_type, description, start_on) "
         "VALUES ('a', 'unit-0001', 'c', 'EA-LASHJALP', 'Inläsningstjänst i svenska', "
         "'2026-01-12');");
    Sync();
  }

  // Both directions, full state, like a unit and central that reconnect.
  void Sync() {
    Apply(central_, Changes(unit_));
    Apply(unit_, Changes(central_, 0, "unit-0001"));
  }

  void ExpectConverged() { EXPECT_EQ(Digests(unit_, "unit-0001"), Digests(central_, "unit-0001")); }
  void ExpectConvergedAfterSync() {
    Sync();
    ExpectConverged();
  }

  std::string Description(Replica& r) {
    return Query(r, "SELECT description FROM support_action WHERE id = 'a'");
  }

  TempDir dir_;
  ManualWallClock unit_clock_;
  ManualWallClock central_clock_;
  Replica unit_;
  Replica central_;
};

TEST_F(MergeTest, InitialSyncCarriesRowsButNotLocalOnlyColumns) {
  EXPECT_EQ(Description(central_), "Inläsningstjänst i svenska");
  EXPECT_EQ(Query(central_, "SELECT pseudo_id FROM student WHERE id = 's'"), "ps");
  EXPECT_EQ(Query(central_,
                  "SELECT count(*) FROM student WHERE name IS NULL AND "
                  "personnummer IS NULL"),
            "1");
  ExpectConverged();
}

TEST_F(MergeTest, ConcurrentUpdatesOfOneColumnLaterWinsEverywhereAndLoserIsKept) {
  unit_clock_.Advance(1000);
  Exec(unit_, "UPDATE support_action SET description = 'unit text' WHERE id = 'a'");
  central_clock_.Advance(2000);  // Central writes later: central wins.
  Exec(central_, "UPDATE support_action SET description = 'central text' WHERE id = 'a'");
  Sync();
  EXPECT_EQ(Description(unit_), "central text");
  EXPECT_EQ(Description(central_), "central text");
  ExpectConverged();
  for (Replica* r : {&unit_, &central_}) {
    auto conflicts = ValueOrDie(ListConflicts(*r));
    ASSERT_EQ(conflicts.size(), 1u) << r->node_id();
    EXPECT_EQ(conflicts[0].kind, "update");
    EXPECT_EQ(conflicts[0].column, "description");
    EXPECT_EQ(std::get<std::string>(conflicts[0].loser_value), "unit text");
    EXPECT_EQ(conflicts[0].loser.origin, "unit-0001");
    EXPECT_EQ(std::get<std::string>(conflicts[0].winner_value), "central text");
    EXPECT_EQ(conflicts[0].winner.origin, "central");
  }
}

TEST_F(MergeTest, ConcurrentUpdatesOfDifferentColumnsBothSurvive) {
  unit_clock_.Advance(1000);
  Exec(unit_, "UPDATE support_action SET status = 'pagaende' WHERE id = 'a'");
  central_clock_.Advance(2000);
  Exec(central_, "UPDATE support_action SET provider = 'central_resurs' WHERE id = 'a'");
  Sync();
  for (Replica* r : {&unit_, &central_}) {
    EXPECT_EQ(Query(*r, "SELECT status || '/' || provider FROM support_action"),
              "pagaende/central_resurs");
    EXPECT_TRUE(ValueOrDie(ListConflicts(*r)).empty());
  }
  ExpectConverged();
}

TEST_F(MergeTest, DeleteWinsOverConcurrentUpdateAndTheUpdateIsKept) {
  central_clock_.Advance(1000);
  Exec(central_, "DELETE FROM support_action WHERE id = 'a'");
  unit_clock_.Advance(5000);  // The update is even later; the delete still wins.
  Exec(unit_, "UPDATE support_action SET description = 'late edit' WHERE id = 'a'");
  Sync();
  for (Replica* r : {&unit_, &central_}) {
    EXPECT_EQ(Query(*r, "SELECT count(*) FROM support_action"), "0") << r->node_id();
    auto conflicts = ValueOrDie(ListConflicts(*r));
    ASSERT_EQ(conflicts.size(), 1u) << r->node_id();
    EXPECT_EQ(conflicts[0].kind, "delete");
    EXPECT_EQ(std::get<std::string>(conflicts[0].loser_value), "late edit");
    auto restore = RestoreConflict(*r, conflicts[0].id);
    ASSERT_FALSE(restore);
    EXPECT_EQ(restore.error().code, Errc::kRejected);
  }
  ExpectConverged();
}

TEST_F(MergeTest, SequentialUpdatesAreNotConflicts) {
  unit_clock_.Advance(1000);
  Exec(unit_, "UPDATE support_action SET description = 'v2' WHERE id = 'a'");
  Sync();
  central_clock_.Advance(2000);
  Exec(central_, "UPDATE support_action SET description = 'v3' WHERE id = 'a'");
  Sync();
  EXPECT_EQ(Description(unit_), "v3");
  EXPECT_TRUE(ValueOrDie(ListConflicts(unit_)).empty());
  EXPECT_TRUE(ValueOrDie(ListConflicts(central_)).empty());
}

// Found by the simulator (tests/sim, seed 190): central's write lands between the
// shared version and a unit's first local write; the unit writes again before it syncs.
// Both sides must keep central's value as a conflict loser, not drop it silently.
TEST_F(MergeTest, AWriteConcurrentWithAChainOfLocalWritesIsAConflict) {
  central_clock_.Advance(1'000);
  Exec(central_, "UPDATE support_action SET description = 'central' WHERE id = 'a'");
  ASSERT_TRUE(StampPendingChangesNow(central_));
  unit_clock_.Advance(2'000);
  Exec(unit_, "UPDATE support_action SET description = 'unit 1' WHERE id = 'a'");
  ASSERT_TRUE(StampPendingChangesNow(unit_));
  unit_clock_.Advance(1'000);
  Exec(unit_, "UPDATE support_action SET description = 'unit 2' WHERE id = 'a'");
  ExpectConvergedAfterSync();
  EXPECT_EQ(Description(central_), "unit 2");
  // Central holds the conflict (the unit never receives central's losing value: the
  // winning row is all its own, so it is not echoed back).
  auto conflicts = ValueOrDie(ListConflicts(central_));
  ASSERT_EQ(conflicts.size(), 1u);
  EXPECT_EQ(conflicts[0].column, "description");
  EXPECT_EQ(std::get<std::string>(conflicts[0].loser_value), "central");
  EXPECT_EQ(std::get<std::string>(conflicts[0].winner_value), "unit 2");
}

// The same with the unit's chain losing: central's later write wins, and the unit keeps
// its last value as the loser.
TEST_F(MergeTest, AChainOfLocalWritesLosingToAConcurrentWriteIsAConflict) {
  unit_clock_.Advance(1'000);
  Exec(unit_, "UPDATE support_action SET description = 'unit 1' WHERE id = 'a'");
  ASSERT_TRUE(StampPendingChangesNow(unit_));
  unit_clock_.Advance(1'000);
  Exec(unit_, "UPDATE support_action SET description = 'unit 2' WHERE id = 'a'");
  central_clock_.Advance(1'500);
  Exec(central_, "UPDATE support_action SET description = 'central' WHERE id = 'a'");
  unit_clock_.Advance(-1'000);  // the unit's 'unit 2' is stamped before central's write
  ExpectConvergedAfterSync();
  EXPECT_EQ(Description(unit_), "central");
  for (Replica* r : {&central_, &unit_}) {
    auto conflicts = ValueOrDie(ListConflicts(*r));
    ASSERT_EQ(conflicts.size(), 1u) << r->node_id();
    EXPECT_EQ(std::get<std::string>(conflicts[0].loser_value), "unit 2") << r->node_id();
  }
}

TEST_F(MergeTest, ApplyingTwiceChangesNothing) {
  unit_clock_.Advance(1000);
  Exec(unit_, "UPDATE support_action SET description = 'v2' WHERE id = 'a'");
  const Blob cs = Changes(unit_);
  const MergeReport first = Apply(central_, cs);
  EXPECT_EQ(first.rows_updated, 1u);
  const auto before = Digests(central_);
  const MergeReport second = Apply(central_, cs);
  EXPECT_EQ(second.rows_updated + second.rows_inserted + second.rows_deleted, 0u);
  EXPECT_EQ(second.rows_unchanged, second.rows_received);
  EXPECT_EQ(Digests(central_), before);
}

TEST_F(MergeTest, UnwrittenLocalChangeIsVersionedBeforeARemoteOneCanOverwriteIt) {
  // Central's write is older, but the unit's is not stamped yet when the
  // changeset arrives: merge stamps first, so the unit's write wins.
  central_clock_.Advance(1000);
  Exec(central_, "UPDATE support_action SET description = 'central' WHERE id = 'a'");
  const Blob from_central = Changes(central_, 0, "unit-0001");
  unit_clock_.Advance(3000);
  Exec(unit_, "UPDATE support_action SET description = 'unit' WHERE id = 'a'");
  Apply(unit_, from_central);
  EXPECT_EQ(Description(unit_), "unit");
  ASSERT_EQ(ValueOrDie(ListConflicts(unit_)).size(), 1u);
  Sync();
  EXPECT_EQ(Description(central_), "unit");
  ExpectConverged();
}

TEST_F(MergeTest, RestoringALoserMakesItWinEverywhere) {
  unit_clock_.Advance(1000);
  Exec(unit_, "UPDATE support_action SET description = 'keep me' WHERE id = 'a'");
  central_clock_.Advance(2000);
  Exec(central_, "UPDATE support_action SET description = 'overwrite' WHERE id = 'a'");
  Sync();
  auto conflicts = ValueOrDie(ListConflicts(central_));
  ASSERT_EQ(conflicts.size(), 1u);
  central_clock_.Advance(1000);
  US_ASSERT_OK(RestoreConflict(central_, conflicts[0].id));
  EXPECT_TRUE(ValueOrDie(ListConflicts(central_)).empty());
  Sync();
  EXPECT_EQ(Description(unit_), "keep me");
  ExpectConverged();
}

// A conflict kept for a column the manifest no longer replicates (it was made local-only,
// or the table left) cannot be restored: the write would not sync. It stays open.
TEST_F(MergeTest, AConflictOnAColumnNoLongerReplicatedIsNotRestored) {
  unit_clock_.Advance(1000);
  Exec(unit_, "UPDATE support_action SET description = 'keep me' WHERE id = 'a'");
  central_clock_.Advance(2000);
  Exec(central_, "UPDATE support_action SET description = 'overwrite' WHERE id = 'a'");
  Sync();
  auto conflicts = ValueOrDie(ListConflicts(central_));
  ASSERT_EQ(conflicts.size(), 1u);
  for (const char* sql : {"UPDATE _us_conflicts SET col = 'gone_column'",
                          "UPDATE _us_conflicts SET col = 'description', tbl = 'gone_table'"}) {
    SCOPED_TRACE(sql);
    Exec(central_, sql);
    auto restored = RestoreConflict(central_, conflicts[0].id);
    ASSERT_FALSE(restored);
    EXPECT_EQ(restored.error().code, Errc::kRejected) << restored.error().ToString();
    EXPECT_NE(restored.error().message.find("no longer replicated"), std::string::npos);
    EXPECT_EQ(ValueOrDie(ListConflicts(central_)).size(), 1u);
    EXPECT_EQ(Description(central_), "overwrite");
  }
}

TEST_F(MergeTest, AConflictIsResolvedOnceAndAnUnknownOneIsNotFound) {
  unit_clock_.Advance(1000);
  Exec(unit_, "UPDATE support_action SET description = 'keep me' WHERE id = 'a'");
  central_clock_.Advance(2000);
  Exec(central_, "UPDATE support_action SET description = 'overwrite' WHERE id = 'a'");
  Sync();
  const auto conflicts = ValueOrDie(ListConflicts(central_));
  ASSERT_EQ(conflicts.size(), 1u);
  const int64_t id = conflicts[0].id;
  for (auto* resolve : {&RestoreConflict, &DismissConflict}) {
    auto st = (*resolve)(central_, id + 1000);
    ASSERT_FALSE(st);
    EXPECT_EQ(st.error().code, Errc::kNotFound) << st.error().ToString();
  }
  auto missing = GetConflict(central_, id + 1000);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, Errc::kNotFound);

  US_ASSERT_OK(DismissConflict(central_, id));
  for (auto* resolve : {&RestoreConflict, &DismissConflict}) {
    auto st = (*resolve)(central_, id);
    ASSERT_FALSE(st);
    EXPECT_EQ(st.error().code, Errc::kRejected) << st.error().ToString();
    EXPECT_NE(st.error().message.find("already resolved"), std::string::npos);
  }
  EXPECT_EQ(Description(central_), "overwrite") << "a dismissed conflict changes no data";
}

TEST_F(MergeTest, TheHistoryOfAnUnknownTableOrRowIsNotFound) {
  auto table = GetRowHistory(central_, "no_such_table", "a");
  ASSERT_FALSE(table);
  EXPECT_EQ(table.error().code, Errc::kNotFound);
  EXPECT_NE(table.error().message.find("is not replicated"), std::string::npos);
  auto row = GetRowHistory(central_, "support_action", "no-such-row");
  ASSERT_FALSE(row);
  EXPECT_EQ(row.error().code, Errc::kNotFound);
  EXPECT_NE(row.error().message.find("no row no-such-row in support_action"), std::string::npos);
  const RowHistory a = ValueOrDie(GetRowHistory(central_, "support_action", "a"));
  EXPECT_FALSE(a.deleted);
  EXPECT_EQ(a.versions.size(), a.columns.size());
}

// The status column's index in a support_action block.
int StatusColumn(const TableChanges& t) {
  return static_cast<int>(std::find(t.columns.begin(), t.columns.end(), "status") -
                          t.columns.begin());
}

TEST_F(MergeTest, ConstraintViolationRejectsTheWholeChangeset) {
  const auto before = Digests(central_);
  // Two rows: one fine, one with a status outside the CHECK.
  unit_clock_.Advance(1000);
  Exec(unit_, "UPDATE support_action SET description = 'fine' WHERE id = 'a'");
  Changeset cs = ValueOrDie(DecodeChangeset(Changes(unit_)));
  ASSERT_EQ(cs.tables.size(), 3u);
  std::swap(cs.tables[0], cs.tables[2]);  // support_action first.
  ASSERT_EQ(cs.tables[0].table, "support_action");
  ChangeRow bad = cs.tables[0].rows[0];
  bad.pk = "a2";
  bad.values[StatusColumn(cs.tables[0])] = std::string("hittepa");
  cs.tables[0].rows.push_back(bad);  // After the good row: it must be undone too.
  const int64_t log_before = ValueOrDie(GetChangeLogStats(central_, 0)).head_seq;
  auto r = ApplyChangeset(central_, cs);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kRejected);
  EXPECT_NE(r.error().message.find("support_action"), std::string::npos);
  EXPECT_NE(r.error().message.find("a2"), std::string::npos);
  EXPECT_EQ(r.error().message.find("hittepa"), std::string::npos) << "values never in errors";
  EXPECT_EQ(Digests(central_), before);
  EXPECT_EQ(Description(central_), "Inläsningstjänst i svenska");
  EXPECT_EQ(ValueOrDie(GetChangeLogStats(central_, 0)).head_seq, log_before);

  // Wrong type: STRICT tables refuse text in an INTEGER column.
  Changeset typed = cs;
  typed.tables.resize(1);
  typed.tables[0].rows.resize(1);
  typed.tables[0].table = "student";
  typed.tables[0].columns = {"unit_id", "pseudo_id", "birth_year"};
  typed.tables[0].rows[0].pk = "s2";
  typed.tables[0].rows[0].values = {std::string("unit-0001"), std::string("p"),
                                    std::string("nineteen")};
  typed.tables[0].rows[0].versions.resize(3, typed.tables[0].rows[0].versions[0]);
  auto t = ApplyChangeset(central_, typed);
  ASSERT_FALSE(t);
  EXPECT_EQ(t.error().code, Errc::kRejected);
  EXPECT_EQ(Digests(central_), before);
}

TEST_F(MergeTest, RejectedChangesetLeavesNoConflictClockOrLogBehind) {
  // Central edits the description; the unit, not having seen it, edits the
  // description too (a conflict) and a status this schema refuses.
  central_clock_.Advance(1000);
  Exec(central_, "UPDATE support_action SET description = 'central' WHERE id = 'a'");
  US_ASSERT_OK(StampPendingChangesNow(central_));
  unit_clock_.Advance(2000);
  Exec(unit_, "UPDATE support_action SET description = 'unit', status = 'pagaende' WHERE id = 'a'");
  Changeset cs = ValueOrDie(DecodeChangeset(Changes(unit_)));
  TableChanges* actions = nullptr;
  for (auto& t : cs.tables) {
    if (t.table == "support_action") actions = &t;
  }
  ASSERT_NE(actions, nullptr);
  ASSERT_EQ(actions->rows.size(), 1u);
  actions->rows[0].values[StatusColumn(*actions)] = std::string("hittepa");

  const std::string clock_before =
      Query(central_, "SELECT hex(versions) FROM _us_clock WHERE pk = 'a'");
  const int64_t log_before = ValueOrDie(GetChangeLogStats(central_, 0)).head_seq;
  auto r = ApplyChangeset(central_, cs);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kRejected);
  EXPECT_TRUE(ValueOrDie(ListConflicts(central_)).empty());
  EXPECT_EQ(Description(central_), "central");
  EXPECT_EQ(Query(central_, "SELECT hex(versions) FROM _us_clock WHERE pk = 'a'"), clock_before);
  EXPECT_EQ(ValueOrDie(GetChangeLogStats(central_, 0)).head_seq, log_before);
}

TEST_F(MergeTest, UnknownTableUnknownColumnAndGarbageRejectTheWholeChangeset) {
  const auto before = Digests(unit_);
  Changeset cs = ValueOrDie(DecodeChangeset(Changes(unit_)));
  ASSERT_EQ(cs.tables[0].table, "student");

  Changeset unknown_table = cs;
  unknown_table.tables[0].table = "grades";
  auto a = ApplyChangeset(unit_, unknown_table);
  ASSERT_FALSE(a);
  EXPECT_EQ(a.error().code, Errc::kRejected);

  Changeset unknown_col = cs;
  unknown_col.tables[0].columns[0] = "shoe_size";
  auto b = ApplyChangeset(unit_, unknown_col);
  ASSERT_FALSE(b);
  EXPECT_EQ(b.error().code, Errc::kRejected);

  Blob garbage = Changes(unit_);
  garbage.resize(garbage.size() / 2);
  auto d = ApplyChangeset(unit_, garbage);
  ASSERT_FALSE(d);
  EXPECT_EQ(d.error().code, Errc::kMalformed);
  EXPECT_EQ(Digests(unit_), before);
}

TEST_F(MergeTest, LocalOnlyColumnRejectsEveryRowOfItsBlockAndNothingElse) {
  unit_clock_.Advance(1000);
  Exec(unit_,
       "UPDATE student SET grade = '4' WHERE id = 's';"
       "UPDATE support_action SET description = 'v2' WHERE id = 'a'");
  Changeset cs = ValueOrDie(DecodeChangeset(Changes(unit_)));
  for (auto& t : cs.tables) {
    if (t.table == "student") t.columns[1] = "personnummer";  // Was pseudo_id.
  }
  const MergeReport report = ValueOrDie(ApplyChangeset(central_, cs));
  EXPECT_EQ(report.rejected,
            (std::vector<RowRejection>{{"student", "s", RowRejectReason::kLocalOnlyColumn}}));
  EXPECT_EQ(Description(central_), "v2");
  EXPECT_EQ(Query(central_, "SELECT grade IS NULL AND personnummer IS NULL FROM student"), "1");
}

TEST_F(MergeTest, ProtectedIdentityRowsNeverLeaveTheUnit) {
  Exec(unit_,
       "INSERT INTO student(id, unit_id, pseudo_id, protected_identity) "
       "VALUES ('hidden', 'unit-0001', 'px', 1)");
  Sync();
  EXPECT_EQ(Query(central_, "SELECT count(*) FROM student WHERE id = 'hidden'"), "0");
  ExpectConverged();  // Digests leave private rows out on both sides.
}

TEST_F(MergeTest, ClockGoingBackwardsStillOrdersWritesAfterRestart) {
  Exec(unit_, "UPDATE support_action SET description = 'first' WHERE id = 'a'");
  US_ASSERT_OK(StampPendingChangesNow(unit_));
  const uint64_t first = unit_.clock().last();
  const std::string path = unit_.path();
  unit_ = ValueOrDie(Replica::Open(path, [&] {
    ReplicaOptions o;
    o.clock = &unit_clock_;
    return o;
  }()));
  unit_clock_.Advance(-3'600'000);  // The wall clock jumps back an hour.
  Exec(unit_, "UPDATE support_action SET description = 'second' WHERE id = 'a'");
  US_ASSERT_OK(StampPendingChangesNow(unit_));
  EXPECT_GT(unit_.clock().last(), first);
  Sync();
  EXPECT_EQ(Description(central_), "second");
  ExpectConverged();
}

TEST_F(MergeTest, FarFutureRemoteTimestampIsMergedButNotAdopted) {
  central_clock_.Advance(2 * 86'400'000);  // Central's clock is two days ahead.
  Exec(central_, "UPDATE support_action SET description = 'from the future' WHERE id = 'a'");
  const MergeReport report = Apply(unit_, Changes(central_, 0, "unit-0001"));
  EXPECT_GT(report.far_future_versions, 0u);
  EXPECT_GE(report.max_far_future_ms, 2u * 86'400'000 - 1000);
  EXPECT_LE(HlcWallMs(unit_.clock().last()), unit_clock_.NowMs() + kDefaultMaxClockSkewMs);
  EXPECT_EQ(Description(unit_), "from the future");
  // A later local edit still wins: a new version always beats the one it replaces.
  Exec(unit_, "UPDATE support_action SET description = 'corrected' WHERE id = 'a'");
  Sync();
  EXPECT_EQ(Description(central_), "corrected");
  ExpectConverged();
}

TEST_F(MergeTest, FanOutNeverEchoesAUnitsOwnRowsAndRoutesByUnit) {
  Exec(central_,
       "INSERT INTO student(id, unit_id, pseudo_id) VALUES ('other', 'unit-0002', 'po');"
       "INSERT INTO action_type(id, code, name, level, valid_from) "
       "VALUES ('t1', 'EA-LASHJALP', 'Lässtöd', 'ea', '2026-01-01');");
  Changeset cs = ValueOrDie(DecodeChangeset(Changes(central_, 0, "unit-0001")));
  std::set<std::string> ids;
  for (const auto& t : cs.tables) {
    for (const auto& r : t.rows) ids.insert(t.table + "/" + r.pk);
  }
  EXPECT_EQ(ids, std::set<std::string>{"action_type/t1"});
}

TEST_F(MergeTest, BuilderBatchesAndTheCursorCoversEverything) {
  for (int i = 0; i < 25; ++i) {
    Exec(unit_, "INSERT INTO followup(id, unit_id, action_id, followed_up_on) VALUES ('f" +
                    std::to_string(i) + "', 'unit-0001', 'a', '2026-03-01')");
  }
  int64_t cursor = ValueOrDie(GetChangeLogStats(unit_, 0)).head_seq - 25;
  size_t batches = 0, rows = 0;
  for (;;) {
    BuildRequest req;
    req.after_seq = cursor;
    req.max_rows = 10;
    auto built = ValueOrDie(BuildChangeset(unit_, req));
    rows += built.rows;
    if (built.rows > 0) {
      ++batches;
      Apply(central_, built.bytes);
    }
    cursor = built.last_seq;
    if (!built.more) break;
  }
  EXPECT_EQ(batches, 3u);
  EXPECT_EQ(rows, 25u);
  ExpectConverged();
}

}  // namespace
}  // namespace unitsync::store
