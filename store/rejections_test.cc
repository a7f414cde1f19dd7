#include "store/rejections.h"

#include <gtest/gtest.h>

#include "store/test_util.h"

namespace unitsync::store {
namespace {

using testing::MakeReplica;
using testing::TempDir;
using testing::ValueOrDie;

TEST(Rejections, RecordedNewestFirstAndBounded) {
  TempDir dir;
  Replica r = MakeReplica(dir, "central", Role::kCentral);
  ASSERT_TRUE(RecordRejections(r, "unit-0001", RejectionDirection::kRefusedHere, 4,
                               {{"student", "a", RowRejectReason::kForeignUnit},
                                {"action_type", "b", RowRejectReason::kCentralScope}}));
  auto list = ValueOrDie(ListRejections(r, 10));
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0].pk, "b");
  EXPECT_EQ(list[0].reason, static_cast<uint16_t>(RowRejectReason::kCentralScope));
  EXPECT_EQ(list[1].table, "student");
  EXPECT_EQ(list[1].seq, 4);
  EXPECT_EQ(list[1].peer, "unit-0001");

  // A unit refused in a loop cannot grow the table without bound.
  std::vector<RowRejection> flood(kMaxRejectionRecords + 5,
                                  {"student", "x", RowRejectReason::kForeignUnit});
  ASSERT_TRUE(RecordRejections(r, "unit-0002", RejectionDirection::kRefusedHere, 5, flood));
  auto all = ValueOrDie(ListRejections(r, kMaxRejectionRecords * 2));
  EXPECT_EQ(static_cast<int64_t>(all.size()), kMaxRejectionRecords);
  EXPECT_EQ(all.back().peer, "unit-0002") << "the oldest records went first";
}

}  // namespace
}  // namespace unitsync::store
