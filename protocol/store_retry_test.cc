// The sync core when a store cannot write (a full disk, an I/O error), at the unit
// (Uplink) and at central (HubSession): failed work is retried by itself, with a delay
// that doubles while it keeps failing, and syncing resumes at the base pace once it
// succeeds. Nothing is retried at once (that would spin on a full disk).
#include <algorithm>

#include "protocol/hub.h"
#include "protocol/sync_test_util.h"
#include "protocol/uplink_fixture.h"

namespace unitsync::protocol {
namespace {

using namespace testing;  // NOLINT: the fixture helpers

class UplinkRetry : public UplinkFixture {
 protected:
  UplinkRetry() {
    options_.backoff_base_ms = 100;
    options_.backoff_max_ms = 800;
  }
  // Started, connected and WELCOMEd; the first FetchPushes is outstanding.
  std::unique_ptr<Uplink> Syncing() {
    auto u = Make({0, 0, 0, "g-1", std::nullopt});
    u->Start();
    Take(u->TakeActions());
    u->OnConnected();
    Take(u->TakeActions());
    Out out = Feed(*u, Welcome{1, "central", "g-1", 0, 0});
    EXPECT_TRUE(Has<FetchPushes>(out));
    return u;
  }
  static PushesReady Failed() {
    PushesReady r;
    r.ok = false;
    r.error = "step: INSERT INTO _us_outbox: database or disk is full";
    return r;
  }
};

TEST_F(UplinkRetry, FailedFetchIsRetriedByItselfWithADoublingDelay) {
  auto u = Syncing();
  std::vector<int64_t> delays;
  for (int i = 0; i < 5; ++i) {
    Out failed = Result(*u, Failed());
    EXPECT_FALSE(Has<FetchPushes>(failed)) << "no retry at once: that would spin on a full disk";
    auto delay = Armed(failed, TimerId::kRetry);
    ASSERT_TRUE(delay.has_value()) << "no local write comes while the disk is full: retry anyway";
    delays.push_back(*delay);
    u->OnTimer(TimerId::kRetry);
    ASSERT_TRUE(Has<FetchPushes>(Take(u->TakeActions())));
  }
  EXPECT_EQ(delays, (std::vector<int64_t>{100, 200, 400, 800, 800}));

  // Space is back: the fetch builds, the push goes out, and the next failure starts over.
  PushesReady ready;
  ready.entries = {{1, FakeEnvelope()}};
  Out sent = Result(*u, ready);
  ASSERT_EQ(sent.sent.size(), 1u);
  EXPECT_EQ(std::get<Push>(sent.sent[0]).seq, 1u);
  Feed(*u, Ack{AckOf::kPush, 1});
  u->OnLocalChange();
  Out more = Take(u->TakeActions());
  Out acked = Result(*u, StoreDone{});  // AckPushes; the fetch may wait for it
  ASSERT_TRUE(Has<FetchPushes>(more) || Has<FetchPushes>(acked));
  EXPECT_EQ(Armed(Result(*u, Failed()), TimerId::kRetry), 100);
}

TEST_F(UplinkRetry, BusyCentralIsRetriedLaterEachTimeAlthoughEachReconnectIsWelcomed) {
  auto u = Syncing();
  PushesReady ready;
  ready.entries = {{1, FakeEnvelope()}};
  Result(*u, ready);
  std::vector<int64_t> floors;
  for (int i = 0; i < 4; ++i) {
    env_.next_random = 0;  // the bottom of the jitter range: half the delay
    Out nacked = Feed(*u, Nack{AckOf::kPush, 1, NackCode::kBusy, "push not applied", {}});
    EXPECT_TRUE(nacked.closed);
    auto delay = Armed(nacked, TimerId::kReconnect);
    ASSERT_TRUE(delay.has_value());
    floors.push_back(*delay);
    u->OnTimer(TimerId::kReconnect);
    Take(u->TakeActions());
    u->OnConnected();
    Take(u->TakeActions());
    Feed(*u, Welcome{1, "central", "g-1", 0, 0});
    Out pushed = Result(*u, ready);  // the same spooled push again
    ASSERT_EQ(pushed.sent.size(), 1u) << "attempt " << i;
  }
  EXPECT_EQ(floors, (std::vector<int64_t>{50, 100, 200, 400}))
      << "a busy central is not hammered at one pace";
}

TEST_F(UplinkRetry, FailedAckPushesIsRequestedAgainLater) {
  auto u = Syncing();
  PushesReady ready;
  ready.entries = {{1, FakeEnvelope()}};
  Result(*u, ready);
  Feed(*u, Ack{AckOf::kPush, 1});
  Out failed = Result(*u, StoreDone{false, "exec COMMIT: database or disk is full"});
  EXPECT_EQ(Armed(failed, TimerId::kRetry), 100) << "the outbox would stay untrimmed";
  u->OnTimer(TimerId::kRetry);
  Out again = Take(u->TakeActions());
  ASSERT_FALSE(again.work.empty());
  EXPECT_EQ(std::get<AckPushes>(again.work[0]).seq, 1u);
  Out done = Result(*u, StoreDone{});
  EXPECT_FALSE(Armed(done, TimerId::kRetry).has_value()) << "stored: nothing more to retry";
}

class HubRetry : public ::testing::Test {
 protected:
  HubRetry() : hub_("central", "unit-0001", options_, env_) {}
  Out Feed(const Message& m) {
    hub_.OnBytes(FrameOf(m));
    return Take(hub_.TakeActions());
  }
  Out Result(StoreResult r) {
    hub_.OnStoreResult(std::move(r));
    return Take(hub_.TakeActions());
  }
  // HELLO + LoadUnit answered: the session is syncing, its first build outstanding.
  void Handshake() {
    hub_.OnConnected();
    Take(hub_.TakeActions());
    Feed(Hello{1, 1, "unit-0001", 0, 0, "g-1", {}});
    Result(UnitLoaded{true, "", 0, 50, "g-1", 0});
  }

  FakeEnv env_;
  SyncOptions options_;
  HubSession hub_;
};

// A unit whose disk is full NACKs busy until it is freed: central's retries wait longer
// each time (bounded work), and an ACK brings the base delay back.
TEST_F(HubRetry, BusyUnitIsRetriedWithADoublingDelayUntilItAcknowledges) {
  Handshake();
  std::vector<int64_t> delays;
  for (int i = 0; i < 4; ++i) {
    Result(ChangesBuilt{true, "", 10, 2, FakeEnvelope(), false});
    delays.push_back(
        *Armed(Feed(Nack{AckOf::kChanges, 10, NackCode::kBusy, "full", {}}), TimerId::kRetry));
    hub_.OnTimer(TimerId::kRetry);
    Take(hub_.TakeActions());  // the rebuild
  }
  const int64_t base = options_.backoff_base_ms;
  EXPECT_EQ(delays, (std::vector<int64_t>{base, 2 * base, 4 * base, 8 * base}));
  Result(ChangesBuilt{true, "", 10, 2, FakeEnvelope(), false});
  Feed(Ack{AckOf::kChanges, 10});
  Result(StoreDone{});  // AckChanges
  hub_.OnLogAdvanced();
  Take(hub_.TakeActions());
  Result(ChangesBuilt{true, "", 20, 2, FakeEnvelope(), false});
  EXPECT_EQ(Armed(Feed(Nack{AckOf::kChanges, 20, NackCode::kBusy, "full", {}}), TimerId::kRetry),
            base);
}

TEST_F(HubRetry, FailedAckChangesIsRequestedAgainLater) {
  Handshake();
  Result(ChangesBuilt{true, "", 10, 2, FakeEnvelope(), false});
  Out acked = Feed(Ack{AckOf::kChanges, 10});
  ASSERT_EQ(acked.work.size(), 1u);
  Out failed = Result(StoreDone{false, "exec COMMIT: database or disk is full"});
  EXPECT_EQ(Armed(failed, TimerId::kRetry), options_.backoff_base_ms);
  hub_.OnTimer(TimerId::kRetry);
  Out again = Take(hub_.TakeActions());
  ASSERT_EQ(again.work.size(), 1u);
  EXPECT_EQ(std::get<AckChanges>(again.work[0]).seq, 10u);
}

}  // namespace
}  // namespace unitsync::protocol
