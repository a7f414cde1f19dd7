// The fault sweep (test_util.h SweepFaults) over central's log GC and a unit's forced
// re-seed (log_gc.h, seed_tracking.h, snapshot_apply.h): every SQLite call of a GC pass,
// a HELLO, each snapshot chunk and the re-seed's end fails in turn, and each operation
// must return the failure with the replica exactly as before.
#include "store/log_gc_fixture.h"

namespace unitsync::store {
namespace {

using testing::Exec;
using testing::kRetention;
using testing::Query;
using testing::SweepFaults;
using testing::ValueOrDie;

class LogGcSweepTest : public testing::LogGcTest {
 protected:
  // The merge's last call turns foreign keys on again after its commit, best effort.
  static bool FkRestore(const SqliteFaultPlan& p) {
    return p.injected_call == SqliteCall::kExec && p.calls == p.fail_at;
  }
};

TEST_F(LogGcSweepTest, AGcPassAndAHelloFailWholeAndThenSucceed) {
  // As LogGcTest.TombstonesGoOnce...: a tombstone every unit has, older than the retention.
  ASSERT_NO_FATAL_FAILURE(SetUpSyncedTombstone());
  ASSERT_FALSE(Session(u1_));
  ASSERT_FALSE(Session(u2_));
  Collect();  // the first mark dates the log
  AddStudent(central_, "later", "unit-0002");
  US_ASSERT_OK(StampPendingChangesNow(central_));
  clock_.Advance(kRetention + 1);
  ASSERT_FALSE(Session(u1_));
  ASSERT_FALSE(Session(u2_));
  const int64_t entries = LogEntries();

  LogGcReport report;
  const auto stats = SweepFaults(central_.db(), [&]() -> Status {
    auto r = CollectLogGarbage(central_, LogGcPolicy{kRetention});
    if (!r) return tl::unexpected(r.error());
    report = std::move(*r);
    return {};
  });
  EXPECT_GT(stats.faults, 20);
  EXPECT_EQ(report.tombstones_deleted, 1);
  EXPECT_GT(report.entries_deleted, 0);
  EXPECT_EQ(report.state.last_run_ms, clock_.NowMs());
  EXPECT_EQ(Tombstones(), 0);
  // The pass deleted what it reported and logged one eviction for the tombstone's unit.
  EXPECT_EQ(LogEntries(), entries - report.entries_deleted - 2 + 1);
  EXPECT_EQ(Query(central_, "SELECT group_concat(op || unit) FROM _us_changes WHERE pk = 'gone'"),
            "Xunit-0001");

  SweepFaults(central_.db(), [&] { return GetLogGcState(central_); });
  const LogGcState state = ValueOrDie(GetLogGcState(central_));
  EXPECT_EQ(state.log_trimmed_upto, report.state.log_trimmed_upto);
  EXPECT_EQ(state.tombs_trimmed_upto, report.state.tombs_trimmed_upto);
  EXPECT_EQ(state.last_run_ms, report.state.last_run_ms);
  SweepFaults(central_.db(), [&] { return CountLogAndTombstones(central_); });
  EXPECT_EQ(ValueOrDie(CountLogAndTombstones(central_)), std::make_pair(LogEntries(), int64_t{0}));

  // A HELLO from behind the trimmed log: recorded whole or not at all, and the answer is
  // "re-seed" every time.
  clock_.Advance(5);
  bool reseed = false;
  SweepFaults(central_.db(), [&]() -> Status {
    auto r = RecordHello(central_, "unit-0002", 1, 0);
    if (!r) return tl::unexpected(r.error());
    reseed = *r;
    return {};
  });
  EXPECT_TRUE(reseed);
  EXPECT_EQ(Query(central_, "SELECT value FROM _us_meta WHERE key = 'peer_hello/unit-0002'"),
            "1 0 " + std::to_string(clock_.NowMs()));
}

TEST_F(LogGcSweepTest, EachChunkAndTheEndOfAForcedReseedFailWholeAndThenSucceed) {
  // As LogGcTest.AForcedReseedEvicts...: a private row, a new row and edits at the unit,
  // an unsent push in its outbox; deletes and moves at central.
  ASSERT_NO_FATAL_FAILURE(SetUpForcedReseedScenario());

  US_ASSERT_OK(RequestSeed(u1_, /*forced=*/true));
  const int64_t head = ValueOrDie(GetChangeLogStats(central_, INT64_MAX)).head_seq;
  SeedState seed = ValueOrDie(GetSeedState(u1_));
  seed.snapshot = "snap-sweep";
  seed.head = head;
  // A chunk commits with its own settings (synchronous = NORMAL, ...) and puts them back
  // afterwards; a failure there is reported although the chunk is applied
  // (snapshot_apply.h), as is the foreign keys' restore. Both come after the commit that
  // wrote the chunk's resume point.
  auto committed = [&](const SqliteFaultPlan& p) {
    return p.injected_call == SqliteCall::kExec &&
           ValueOrDie(GetSeedState(u1_)).next_chunk == seed.next_chunk;
  };
  SnapshotKey after;
  int chunks = 0;
  for (;;) {
    SnapshotChunkRequest req;
    req.unit = "unit-0001";
    req.after = after;
    req.max_rows = 2;
    const BuiltSnapshotChunk built = ValueOrDie(BuildSnapshotChunk(central_, req));
    if (built.rows > 0) {
      ++chunks;
      ++seed.next_chunk;
      const Changeset chunk = ValueOrDie(DecodeChangeset(built.bytes));
      const auto stats = SweepFaults(
          u1_.db(), [&] { return ApplySnapshotChunk(u1_, chunk, seed); }, committed);
      EXPECT_GT(stats.faults, 20);
      ASSERT_EQ(ValueOrDie(GetSeedState(u1_)).next_chunk, seed.next_chunk);
      if (chunks == 1) {
        ASSERT_EQ(Rows(chunk), (std::vector<std::string>{"student/deleted:tombstone",
                                                         "student/edited:tombstone"}));
        EXPECT_EQ(Query(u1_,
                        "SELECT group_concat(pk) FROM (SELECT pk FROM _us_seed_pending "
                        "ORDER BY pk)"),
                  "edited-moved,moved,new,private,same")
            << "what the unit held before the first chunk, less what it delivered";
      }
    }
    after = built.last;
    if (built.done) break;
  }
  ASSERT_EQ(chunks, 2);

  const auto stats = SweepFaults(
      u1_.db(), [&] { return FinishSeed(u1_, "central", head); }, FkRestore);
  EXPECT_GT(stats.faults, 20);
  EXPECT_EQ(Query(u1_, "SELECT group_concat(id) FROM (SELECT id FROM student ORDER BY id)"),
            "new,private,same");
  EXPECT_EQ(Query(u1_, "SELECT count(*) FROM _us_clock WHERE pk IN ('moved', 'edited-moved')"),
            "0");
  EXPECT_EQ(Query(u1_,
                  "SELECT group_concat(pk || ':' || col || ':' || kind) FROM "
                  "(SELECT * FROM _us_conflicts ORDER BY pk, col)"),
            "edited:grade:delete,edited-moved:grade:evict");
  EXPECT_EQ(Query(u1_, "SELECT count(*) FROM _us_seed_pending"), "0");
  const OutboxState rewound = ValueOrDie(GetOutboxState(u1_));
  EXPECT_EQ(rewound.pending, 0);
  EXPECT_EQ(rewound.built_seq, rewound.acked_seq);
  EXPECT_FALSE(ValueOrDie(GetSeedState(u1_)).wanted);
  EXPECT_EQ(ValueOrDie(GetCursor(u1_, "central")).received_seq, head);
}

}  // namespace
}  // namespace unitsync::store
