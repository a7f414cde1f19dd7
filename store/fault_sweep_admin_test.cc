// The fault sweep (test_util.h SweepFaults) over what admins and recovery use: the
// inspect and verify helpers, conflicts, rejections, snapshots for re-seeding, backups
// and checks, creating and opening a replica; and the bind errors the seam exposed.
#include <filesystem>

#include "store/backup.h"
#include "store/change_log.h"
#include "store/conflicts.h"
#include "store/cursors.h"
#include "store/inspect.h"
#include "store/merge.h"
#include "store/rejections.h"
#include "store/star_fixture.h"
#include "store/sync_state.h"

namespace unitsync::store {
namespace {

using testing::Exec;
using testing::Query;
using testing::SweepFaults;
using testing::ValueOrDie;

// unit-0001 and central with a synced student and case, one conflict on the case at
// central and one refused row recorded there.
class AdminSweepTest : public testing::StarTest {
 protected:
  void SetUp() override {
    Exec(central_,
         "INSERT INTO unit(id, node_id, name) VALUES ('u1', 'unit-0001', 'North');"
         "INSERT INTO action_type(id, code, name, level, valid_from) "
         "VALUES ('t1', 'extra', 'Extra', 'ea', '2026-01-01')");
    Exec(u1_,
         "INSERT INTO student(id, unit_id, pseudo_id, name) VALUES ('s', 'unit-0001', 'ps', "
         "'Alva');"
         "INSERT INTO support_case(id, unit_id, student_id, opened_on) "
         "VALUES ('c', 'unit-0001', 's', '2026-01-10');");
    PushReport(u1_);
    Pull(u1_, FanOut(u1_));
    clock_.Advance(1000);
    Exec(central_, "UPDATE support_case SET opened_on = '2026-03-03' WHERE id = 'c'");
    clock_.Advance(10);
    Exec(u1_, "UPDATE support_case SET opened_on = '2026-02-02' WHERE id = 'c'");
    EXPECT_GT(PushReport(u1_).conflicts, 0u);
    EXPECT_TRUE(RecordRejections(central_, "unit-0001", RejectionDirection::kRefusedHere, 2,
                                 {RowRejection{"student", "z", RowRejectReason::kForeignUnit}}));
    conflict_ = ValueOrDie(ListConflicts(central_)).at(0).id;
    // Digests, snapshots and backups stamp first, in a commit of their own (swept in
    // fault_sweep_test.cc): nothing is left to stamp.
    EXPECT_TRUE(StampPendingChangesNow(central_));
    EXPECT_TRUE(StampPendingChangesNow(u1_));
  }

  int64_t conflict_ = 0;
};

TEST_F(AdminSweepTest, InspectAndVerifyHelpers) {
  SweepFaults(central_.db(), [&] { return ComputeDigests(central_, DigestScope{"unit-0001"}); });
  SweepFaults(central_.db(), [&] { return ComputeDigests(central_); });
  SweepFaults(central_.db(), [&] { return GetRowHistory(central_, "support_case", "c"); });
  SweepFaults(central_.db(), [&] { return OpenConflictsByUnit(central_); });
  SweepFaults(central_.db(), [&] { return SummarizeRejections(central_); });
  SweepFaults(central_.db(), [&] { return ListRejections(central_, 10); });
  SweepFaults(central_.db(), [&] { return FanoutBacklog(central_, "unit-0001", 0); });
  SweepFaults(central_.db(), [&] { return GetOutboxState(u1_); });
  SweepFaults(u1_.db(), [&] { return ListCursors(u1_); });
  EXPECT_EQ(testing::Digests(u1_, "unit-0001"), testing::Digests(central_, "unit-0001"));
}

TEST_F(AdminSweepTest, ConflictsListShowRestoreDismiss) {
  SweepFaults(central_.db(), [&] { return ListConflicts(central_); });
  SweepFaults(central_.db(), [&] { return GetConflict(central_, conflict_); });
  SweepFaults(central_.db(), [&] { return RestoreConflict(central_, conflict_); });
  EXPECT_TRUE(ValueOrDie(GetConflict(central_, conflict_)).resolved_ms.has_value());
  clock_.Advance(10);
  Exec(central_, "UPDATE support_case SET opened_on = '2026-06-06' WHERE id = 'c'");
  Exec(u1_, "UPDATE support_case SET opened_on = '2026-07-07' WHERE id = 'c'");
  PushReport(u1_);
  US_ASSERT_OK(StampPendingChangesNow(central_));
  const auto open = ValueOrDie(ListConflicts(central_));
  ASSERT_FALSE(open.empty());
  SweepFaults(central_.db(), [&] { return DismissConflict(central_, open[0].id); });
}

TEST_F(AdminSweepTest, SnapshotBuildAndApply) {
  SweepFaults(central_.db(), [&] { return CountSnapshotRows(central_, "unit-0001"); });
  SnapshotChunkRequest req;
  req.unit = "unit-0001";
  req.max_rows = 3;
  BuiltSnapshotChunk chunk;
  SweepFaults(central_.db(), [&]() -> Status {
    auto c = BuildSnapshotChunk(central_, req);
    if (!c) return tl::unexpected(c.error());
    chunk = std::move(*c);
    return {};
  });
  ASSERT_EQ(chunk.rows, 3u);

  // A unit whose disk was lost, re-seeding: the chunk and its resume point in one apply.
  Replica fresh = testing::MakeReplica(dir_, "unit-0001-new", Role::kUnit, &clock_);
  US_ASSERT_OK(RequestSeed(fresh));
  SeedState seed = ValueOrDie(GetSeedState(fresh));
  seed.snapshot = "snap-1";
  seed.next_chunk = 1;
  seed.after_table = chunk.last.table;
  seed.after_pk = chunk.last.pk;
  seed.rows_done = 3;
  ApplyOptions o;
  o.set_meta = SeedStateMeta(seed);
  SweepFaults(
      fresh.db(), [&] { return ApplyChangeset(fresh, chunk.bytes, o); },
      [](const SqliteFaultPlan& p) {  // foreign keys on again after the commit: best effort
        return p.injected_call == SqliteCall::kExec && p.calls == p.fail_at;
      });
  EXPECT_EQ(ValueOrDie(GetSeedState(fresh)).rows_done, 3);
  EXPECT_EQ(Query(fresh, "SELECT count(*) FROM _us_clock"), "3");
}

TEST_F(AdminSweepTest, BackupsAndChecks) {
  // A copy is a new file; the source must be untouched and a failed copy leave no file.
  int copies = 0;
  auto no_file_left = [&](const std::string& path, const Status& st) {
    std::error_code ec;
    if (!st) {
      EXPECT_FALSE(std::filesystem::exists(path, ec))
          << path << ": a failed copy was left behind: " << st.error().ToString();
    }
  };
  // The copy loop retries a busy step; a busy step is absorbed, nothing else is.
  auto busy_step = [](const SqliteFaultPlan& p) {
    return p.injected_call == SqliteCall::kBackupStep && p.rc == SQLITE_BUSY;
  };
  SweepFaults(
      u1_.db(),
      [&]() -> Status {
        const std::string dest = dir_.File("pinned-" + std::to_string(++copies) + ".db");
        auto pin = PinStampedSnapshot(u1_);
        if (!pin) return tl::unexpected(pin.error());
        auto st = CopySnapshot(std::move(*pin), dest);
        no_file_left(dest, st);
        return st;
      },
      busy_step);
  SweepFaults(
      u1_.db(),
      [&]() -> Status {
        const std::string dest = dir_.File("copy-" + std::to_string(++copies) + ".db");
        auto st = CopyDatabase(u1_.path(), dest);
        no_file_left(dest, st);
        return st;
      },
      busy_step);
  const std::string copy = dir_.File("copy-" + std::to_string(copies) + ".db");
  SweepFaults(u1_.db(), [&] { return CheckIntegrity(copy); });
  SweepFaults(u1_.db(), [&] { return QuickCheck(copy); });
  // Restoring is opening the copy as the replica.
  ReplicaOptions opts;
  opts.expect_node_id = "unit-0001";
  SweepFaults(u1_.db(), [&] { return Replica::Open(copy, opts); });
}

TEST_F(AdminSweepTest, CreatingAReplicaLeavesNothingOnFailureAndCanBeRetried) {
  const std::string path = dir_.File("new.db");
  auto nothing_left = [&] {
    // Whatever is left must not stop the operator's retry ("a file already exists").
    std::error_code ec;
    return !std::filesystem::exists(path, ec) || std::filesystem::file_size(path, ec) == 0;
  };
  for (int64_t n = 1;; ++n) {
    SqliteFaultPlan plan;
    plan.fail_at = n;
    plan.rc = testing::kSweepCodes[n % 4];
    Result<Replica> r = Fail(Errc::kInternal, "not run");
    {
      ScopedSqliteFaults faults(plan);
      r = Replica::Create(path, Role::kCentral, "central-2");
    }
    if (!plan.injected) {
      ASSERT_TRUE(r) << r.error().ToString();
      break;
    }
    ASSERT_FALSE(r) << "call " << n << " failed, yet Create succeeded";
    EXPECT_EQ(r.error().code, testing::SweepErrc(plan.rc)) << "call " << n;
    ASSERT_TRUE(nothing_left()) << "call " << n << " (" << SqliteCallName(plan.injected_call)
                                << ") left a file behind";
  }
}

TEST(StatementBind, AFailedBindFailsTheStepInsteadOfRunningWithNull) {
  testing::TempDir dir;
  auto db = ValueOrDie(Db::Open(dir.File("t.db"), true));
  US_ASSERT_OK(db.Exec("CREATE TABLE t(x TEXT)"));
  auto ins = ValueOrDie(db.Prepare("INSERT INTO t(x) VALUES (?1)"));
  ins.BindText(2, "out of range");  // SQLITE_RANGE: there is no parameter 2
  const Status st = ins.Run();
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message.find("bind"), std::string::npos) << st.error().ToString();
  auto count = ValueOrDie(db.Prepare("SELECT count(*) FROM t"));
  ASSERT_TRUE(ValueOrDie(count.Step()));
  EXPECT_EQ(count.ColumnInt(0), 0) << "the insert ran with its parameter left NULL";
  ins.Reset();  // clears the failed bind: the statement is usable again
  ins.BindText(1, "v");
  US_ASSERT_OK(ins.Run());
}

}  // namespace
}  // namespace unitsync::store
