#include "store/change_log.h"

#include "store/cursors.h"
#include "store/test_util.h"

namespace unitsync::store {
namespace {

using testing::Exec;
using testing::TempDir;
using testing::ValueOrDie;

TEST(ChangeLog, StatsTrimAndSequenceNumbersAreNeverReused) {
  TempDir dir;
  ManualWallClock clock(1'780'000'000'000);
  auto r = testing::MakeReplica(dir, "unit-0001", Role::kUnit, &clock);
  for (int i = 0; i < 5; ++i) {
    Exec(r, "INSERT INTO student(id, unit_id, pseudo_id) VALUES ('s" + std::to_string(i) +
                "', 'unit-0001', 'p')");
  }
  auto stats = ValueOrDie(GetChangeLogStats(r, 0));
  EXPECT_EQ(stats.head_seq, 5);
  EXPECT_EQ(stats.pending, 5);
  EXPECT_GT(stats.oldest_wall_ms, 0);

  // Unstamped entries are never trimmed, whatever the caller asks.
  US_ASSERT_OK(TrimChangeLog(r, 5));
  EXPECT_EQ(ValueOrDie(GetChangeLogStats(r, 0)).pending, 5);

  US_ASSERT_OK(StampPendingChangesNow(r));
  US_ASSERT_OK(TrimChangeLog(r, 3));
  stats = ValueOrDie(GetChangeLogStats(r, 0));
  EXPECT_EQ(stats.pending, 2);
  EXPECT_EQ(ValueOrDie(ListChanges(r, 0, 10)).front().seq, 4);

  // Trimming everything keeps the newest entry, so the next seq is 6, not
  // a number a peer has already acknowledged.
  US_ASSERT_OK(TrimChangeLog(r, 5));
  auto left = ValueOrDie(ListChanges(r, 0, 10));
  ASSERT_EQ(left.size(), 1u);
  EXPECT_EQ(left[0].seq, 5);
  Exec(r, "UPDATE student SET grade = '3' WHERE id = 's0'");
  EXPECT_EQ(ValueOrDie(ListChanges(r, 0, 10)).back().seq, 6) << "seq continues after a trim";
  EXPECT_EQ(ValueOrDie(GetChangeLogStats(r, 0)).head_seq, 6);

  // Trimmed rows keep their versions: the next changeset still carries them
  // if a peer starts from zero (re-seed paths rely on _us_clock, not the log).
  EXPECT_EQ(ValueOrDie(DecodeChangeset(testing::Changes(r, 5))).RowCount(), 1u);
}

TEST(Cursors, OnlyMoveForwardUnlessReset) {
  TempDir dir;
  auto r = testing::MakeReplica(dir, "central", Role::kCentral);
  EXPECT_EQ(ValueOrDie(GetCursor(r, "unit-0001")).acked_seq, 0);
  US_ASSERT_OK(AdvanceSent(r, "unit-0001", 10));
  US_ASSERT_OK(AdvanceAcked(r, "unit-0001", 7));
  US_ASSERT_OK(AdvanceAcked(r, "unit-0001", 3));  // A late duplicate ack.
  US_ASSERT_OK(AdvanceReceived(r, "unit-0001", 42));
  PeerCursor c = ValueOrDie(GetCursor(r, "unit-0001"));
  EXPECT_EQ(c.sent_seq, 10);
  EXPECT_EQ(c.acked_seq, 7);
  EXPECT_EQ(c.received_seq, 42);
  US_ASSERT_OK(ResetCursor(r, {"unit-0001", 2, 2, 40, 0}));
  EXPECT_EQ(ValueOrDie(GetCursor(r, "unit-0001")).acked_seq, 2);
  EXPECT_EQ(ValueOrDie(ListCursors(r)).size(), 1u);
}

}  // namespace
}  // namespace unitsync::store
