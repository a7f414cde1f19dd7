// The unit's uplink when its own store or central's cannot write (a full disk, an I/O
// error): failed work is retried by itself, with a delay that doubles while it keeps
// failing, and syncing resumes at the base pace once it succeeds.
#include <algorithm>

#include "protocol/sync_test_util.h"
#include "protocol/uplink.h"

namespace unitsync::protocol {
namespace {

using namespace testing;  // NOLINT: the fixture helpers

class UplinkRetry : public ::testing::Test {
 protected:
  UplinkRetry() {
    options_.backoff_base_ms = 100;
    options_.backoff_max_ms = 800;
  }
  // Started, connected and WELCOMEd; the first FetchPushes is outstanding.
  std::unique_ptr<Uplink> Syncing() {
    auto u = std::make_unique<Uplink>("unit-0001", UplinkState{0, 0, 0, "g-1", std::nullopt},
                                      options_, env_);
    u->Start();
    Take(u->TakeActions());
    u->OnConnected();
    Take(u->TakeActions());
    Out out = Feed(*u, Welcome{1, "central", "g-1", 0, 0});
    EXPECT_TRUE(HasFetch(out));
    return u;
  }
  Out Feed(Uplink& u, const Message& m) {
    u.OnBytes(FrameOf(m));
    return Take(u.TakeActions());
  }
  Out Result(Uplink& u, StoreResult r) {
    u.OnStoreResult(std::move(r));
    return Take(u.TakeActions());
  }
  static bool HasFetch(const Out& out) {
    return std::any_of(out.work.begin(), out.work.end(),
                       [](const StoreWork& w) { return std::holds_alternative<FetchPushes>(w); });
  }
  static PushesReady Failed() {
    PushesReady r;
    r.ok = false;
    r.error = "step: INSERT INTO _us_outbox: database or disk is full";
    return r;
  }

  FakeEnv env_;
  SyncOptions options_;
};

TEST_F(UplinkRetry, FailedFetchIsRetriedByItselfWithADoublingDelay) {
  auto u = Syncing();
  std::vector<int64_t> delays;
  for (int i = 0; i < 5; ++i) {
    Out failed = Result(*u, Failed());
    EXPECT_FALSE(HasFetch(failed)) << "no retry at once: that would spin on a full disk";
    auto delay = Armed(failed, TimerId::kRetry);
    ASSERT_TRUE(delay.has_value()) << "no local write comes while the disk is full: retry anyway";
    delays.push_back(*delay);
    u->OnTimer(TimerId::kRetry);
    ASSERT_TRUE(HasFetch(Take(u->TakeActions())));
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
  ASSERT_TRUE(HasFetch(more) || HasFetch(acked));
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

}  // namespace
}  // namespace unitsync::protocol
