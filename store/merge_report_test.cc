// MergeReport counts every received row once (merge.h), also the rows whose only
// effect is a tombstone record: found by the merge fuzzer (store/fuzz/regressions/
// tombstone-uncounted), where such rows were in no count at all.
#include "store/test_util.h"

namespace unitsync::store {
namespace {

using testing::Exec;
using testing::TempDir;
using testing::ValueOrDie;

constexpr int64_t kT0 = 1'780'000'000'000;

size_t Counted(const MergeReport& r) {
  return r.rows_inserted + r.rows_updated + r.rows_deleted + r.rows_tombstoned + r.rows_unchanged +
         r.rows_evicted + r.rows_purged + r.rejected.size();
}

class MergeReportTest : public ::testing::Test {
 protected:
  MergeReportTest()
      : clock_(kT0),
        a_(testing::MakeReplica(dir_, "unit-0001", Role::kUnit, &clock_)),
        b_(testing::MakeReplica(dir_, "unit-0002", Role::kUnit, &clock_)),
        c_(testing::MakeReplica(dir_, "central", Role::kCentral, &clock_)) {}

  TempDir dir_;
  ManualWallClock clock_;
  Replica a_;
  Replica b_;
  Replica c_;
};

TEST_F(MergeReportTest, ATombstoneOfARowNeverSeenIsCounted) {
  Exec(a_,
       "INSERT INTO staff(id, display_name, role) VALUES ('s1', 'x', 'mentor');"
       "DELETE FROM staff WHERE id = 's1';");
  const MergeReport r = testing::Apply(c_, testing::Changes(a_));
  EXPECT_EQ(r.rows_received, 1u);
  EXPECT_EQ(r.rows_deleted, 0u);  // nothing was removed here
  EXPECT_EQ(r.rows_tombstoned, 1u);
  EXPECT_EQ(Counted(r), r.rows_received);

  const MergeReport again = testing::Apply(c_, testing::Changes(a_));
  EXPECT_EQ(again.rows_tombstoned, 0u);
  EXPECT_EQ(again.rows_unchanged, 1u);
  EXPECT_EQ(Counted(again), again.rows_received);
}

TEST_F(MergeReportTest, ANewerTombstoneOfADeletedRowIsCounted) {
  // Both units delete the row they both have; the later delete's tombstone wins
  // at the third replica, which already holds the earlier one.
  Exec(a_, "INSERT INTO staff(id, display_name, role) VALUES ('s1', 'x', 'mentor')");
  testing::Apply(b_, testing::Changes(a_));
  testing::Apply(c_, testing::Changes(a_));
  Exec(a_, "DELETE FROM staff WHERE id = 's1'");
  const Blob first = testing::Changes(a_);
  clock_.Advance(1000);
  Exec(b_, "DELETE FROM staff WHERE id = 's1'");
  const Blob second = testing::Changes(b_);

  const MergeReport deleted = testing::Apply(c_, first);
  EXPECT_EQ(deleted.rows_deleted, 1u);
  const MergeReport newer = testing::Apply(c_, second);
  EXPECT_EQ(newer.rows_received, 1u);
  EXPECT_EQ(newer.rows_tombstoned, 1u);
  EXPECT_EQ(Counted(newer), newer.rows_received);
  EXPECT_EQ(ValueOrDie(ComputeDigests(c_)), ValueOrDie(ComputeDigests(b_)));
}

}  // namespace
}  // namespace unitsync::store
