// A verify's edges (protocol/verify_exchange.h), driven through the unit's uplink: ids and
// limits StartVerify refuses, our own digests failing or late, a repeated DIGESTS, and the
// log line naming every table that differs.
#include <algorithm>

#include "protocol/sync_test_util.h"
#include "protocol/uplink.h"

namespace unitsync::protocol {
namespace {

using namespace testing;  // NOLINT: the fixture helpers

const VerifyPosition kPos{/*push=*/4, /*pull=*/30, /*head=*/12, /*waiting=*/0};

class VerifyExchangeTest : public ::testing::Test {
 protected:
  VerifyExchangeTest()
      : u_("unit-0001", UplinkState{0, 0, 0, "g-1", std::nullopt}, options_, env_) {
    u_.Start();
    u_.OnConnected();
    u_.OnBytes(FrameOf(Welcome{1, "central", "g-1", 0, 0}));
    u_.OnStoreResult(PushesReady{});
    u_.TakeActions();
  }
  Out Feed(const Message& m) {
    u_.OnBytes(FrameOf(m));
    return Take(u_.TakeActions());
  }
  Out Result(StoreResult r) {
    u_.OnStoreResult(std::move(r));
    return Take(u_.TakeActions());
  }
  // StartVerify(id) and central's DIGESTS for it: our own ComputeDigests is outstanding.
  void Answered(uint64_t id, const DigestsComputed& theirs) {
    ASSERT_TRUE(u_.StartVerify(id));
    u_.TakeActions();
    Out out = Feed(Digests{id, kPos, "", theirs.tables});
    ASSERT_EQ(out.work.size(), 1u);
  }
  // The fields of the first log line `event` in `actions`.
  static std::string Fields(const std::vector<SyncAction>& actions, const std::string& event) {
    for (const auto& a : actions) {
      if (const auto* l = std::get_if<LogLine>(&a); l && l->event == event) return l->fields;
    }
    return "";
  }

  FakeEnv env_;
  SyncOptions options_;
  Uplink u_;
};

TEST_F(VerifyExchangeTest, IdsOutOfRangeAndTooManyVerifiesAreRefused) {
  EXPECT_FALSE(u_.StartVerify(kMaxSeq + 1));
  EXPECT_TRUE(u_.StartVerify(kMaxSeq));
  for (uint64_t id = 1; id < kMaxPendingVerifies; ++id) EXPECT_TRUE(u_.StartVerify(id));
  EXPECT_EQ(u_.verifies_pending(), kMaxPendingVerifies);
  Take(u_.TakeActions());
  EXPECT_FALSE(u_.StartVerify(100)) << "bounded";
  EXPECT_TRUE(u_.TakeActions().empty()) << "no VERIFY sent for a refused one";
}

TEST_F(VerifyExchangeTest, OurOwnDigestsFailingEndTheVerifyWithTheStoresError) {
  Answered(9, Computed(kPos, 2));
  DigestsComputed failed;
  failed.ok = false;
  failed.code = Errc::kBusy;
  failed.error = "database is locked";
  Out out = Result(failed);
  ASSERT_EQ(out.verify_done.size(), 1u);
  EXPECT_EQ(out.verify_done[0].id, 9u);
  ASSERT_FALSE(out.verify_done[0].result);
  EXPECT_EQ(out.verify_done[0].result.error().code, Errc::kBusy);
  EXPECT_NE(out.verify_done[0].result.error().message.find("could not compute our digests"),
            std::string::npos);
  EXPECT_TRUE(LoggedEvent(out, "verify_failed"));
  EXPECT_TRUE(out.sent.empty()) << "central is not told: it only answered";
  EXPECT_EQ(u_.verifies_pending(), 0u);
}

TEST_F(VerifyExchangeTest, ARepeatedDigestsIsIgnored) {
  const DigestsComputed theirs = Computed(kPos, 2);
  Answered(9, theirs);
  Out again = Feed(Digests{9, kPos, "", theirs.tables});
  EXPECT_TRUE(again.work.empty()) << "our digests are computed once";
  EXPECT_TRUE(LoggedEvent(again, "verify_unknown_answer"));
  EXPECT_FALSE(again.closed);
  Out done = Result(Computed(kPos, 2));
  ASSERT_EQ(done.verify_done.size(), 1u);
  EXPECT_TRUE(done.verify_done[0].result);
}

TEST_F(VerifyExchangeTest, OurDigestsNotComputedInTimeFailTheVerify) {
  Answered(5, Computed(kPos, 2));
  env_.now += options_.verify_timeout_ms;
  u_.OnTimer(TimerId::kVerify);
  Out out = Take(u_.TakeActions());
  ASSERT_EQ(out.verify_done.size(), 1u);
  ASSERT_FALSE(out.verify_done[0].result);
  EXPECT_EQ(out.verify_done[0].result.error().code, Errc::kUnavailable);
  EXPECT_NE(out.verify_done[0].result.error().message.find("our own digests were not computed"),
            std::string::npos);
  Out late = Result(Computed(kPos, 2));
  EXPECT_TRUE(late.verify_done.empty()) << "exactly one VerifyDone per id";
}

TEST_F(VerifyExchangeTest, TheLogNamesEveryTableThatDiffers) {
  DigestsComputed theirs = Computed(kPos, 3);
  theirs.tables[0].sha256[0] ^= 1;
  theirs.tables[2].rows = 9;
  Answered(4, theirs);
  u_.OnStoreResult(Computed(kPos, 3));
  const std::vector<SyncAction> actions = u_.TakeActions();
  const Out out = Take(actions);
  ASSERT_EQ(out.verify_done.size(), 1u);
  ASSERT_TRUE(out.verify_done[0].result);
  EXPECT_EQ(out.verify_done[0].result->differing(), 2u);
  const std::string fields = Fields(actions, "verify_done");
  EXPECT_NE(fields.find("differ=2"), std::string::npos) << fields;
  EXPECT_NE(fields.find("differing=t0,t2"), std::string::npos) << fields;
}

}  // namespace
}  // namespace unitsync::protocol
