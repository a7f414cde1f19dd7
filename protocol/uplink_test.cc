// The unit's uplink alone, driven event by event: what it sends, which timers it arms
// and which store work it asks for. (Wired to central with real replicas:
// tests/sync_link_test.cc.)
#include "protocol/uplink.h"

#include <algorithm>

#include "protocol/sync_test_util.h"

namespace unitsync::protocol {
namespace {

using namespace testing;  // NOLINT: the fixture helpers

class UplinkTest : public ::testing::Test {
 protected:
  std::unique_ptr<Uplink> Make(UplinkState state) {
    return std::make_unique<Uplink>("unit-0001", state, options_, env_);
  }
  // Start, connect, HELLO out; returns the HELLO.
  Hello Connect(Uplink& u) {
    if (u.phase() == Uplink::Phase::kIdle) u.Start();
    Out start = Take(u.TakeActions());
    EXPECT_TRUE(start.connect);
    u.OnConnected();
    Out out = Take(u.TakeActions());
    const auto* h = Only<Hello>(out.sent);
    return h ? *h : Hello{};
  }
  Out Feed(Uplink& u, const Message& m) {
    u.OnBytes(FrameOf(m));
    return Take(u.TakeActions());
  }
  Out Result(Uplink& u, StoreResult r) {
    u.OnStoreResult(std::move(r));
    return Take(u.TakeActions());
  }

  FakeEnv env_;
  SyncOptions options_;
};

TEST_F(UplinkTest, HelloCarriesTheDurableCursors) {
  auto u = Make({5, 3, 70, "g-1"});
  Hello h = Connect(*u);
  EXPECT_EQ(h.node_id, "unit-0001");
  EXPECT_EQ(h.push_seq, 5u);
  EXPECT_EQ(h.pull_seq, 70u);
  EXPECT_EQ(h.central_generation, "g-1");
}

TEST_F(UplinkTest, ReconnectBackoffGrowsWithJitterUpToTheCap) {
  options_.backoff_base_ms = 1000;
  options_.backoff_max_ms = 16000;
  auto u = Make({});
  u->Start();
  Take(u->TakeActions());
  int64_t expected = 1000;
  for (int attempt = 0; attempt < 8; ++attempt) {
    env_.next_random = 123456789ull * (attempt + 1);
    u->OnDisconnected("connection refused");
    Out out = Take(u->TakeActions());
    auto delay = Armed(out, TimerId::kReconnect);
    ASSERT_TRUE(delay.has_value());
    EXPECT_GE(*delay, expected / 2) << "attempt " << attempt;
    EXPECT_LE(*delay, expected) << "attempt " << attempt;
    expected = std::min<int64_t>(expected * 2, 16000);
    u->OnTimer(TimerId::kReconnect);
    EXPECT_TRUE(Take(u->TakeActions()).connect);
  }
}

TEST_F(UplinkTest, NewGenerationResyncsBeforeAnythingIsPushed) {
  auto u = Make({/*built=*/5, /*acked=*/3, /*pull=*/70, "g-old"});
  Connect(*u);
  Out out = Feed(*u, Welcome{1, "central", "g-new", /*applied=*/2, /*head=*/40});
  ASSERT_EQ(out.work.size(), 1u);
  const auto* r = std::get_if<Resync>(&out.work[0]);
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->central_applied, 2u);
  EXPECT_EQ(r->pull, 40u) << "central's log head bounds a cursor from the lost generation";
  EXPECT_EQ(r->generation, "g-new");
  Out after = Result(*u, StoreDone{});
  ASSERT_EQ(after.work.size(), 1u);
  EXPECT_EQ(std::get<FetchPushes>(after.work[0]).after_seq, 2u);
  EXPECT_EQ(u->state().acked_seq, 2u);
}

TEST_F(UplinkTest, CentralAheadOfOurOutboxAlsoResyncs) {
  auto u = Make({/*built=*/1, 1, 0, "g-1"});
  Connect(*u);
  Out out = Feed(*u, Welcome{1, "central", "g-1", /*applied=*/9, 0});
  ASSERT_EQ(out.work.size(), 1u);
  EXPECT_TRUE(std::holds_alternative<Resync>(out.work[0]));
  EXPECT_EQ(u->state().built_seq, 9u) << "new pushes are numbered after what central has";
}

TEST_F(UplinkTest, PushesFlowThroughTheWindowAndAcksTrimTheOutbox) {
  options_.window = 2;
  auto u = Make({/*built=*/3, /*acked=*/1, 0, "g-1"});
  Connect(*u);
  Out out = Feed(*u, Welcome{1, "central", "g-1", /*applied=*/1, 0});
  ASSERT_EQ(out.work.size(), 1u);
  const auto& fetch = std::get<FetchPushes>(out.work[0]);
  EXPECT_EQ(fetch.after_seq, 1u);
  EXPECT_EQ(fetch.limit, 2u);
  PushesReady ready;
  ready.entries = {{2, FakeEnvelope()}, {3, FakeEnvelope()}};
  out = Result(*u, ready);
  ASSERT_EQ(out.sent.size(), 2u);
  EXPECT_EQ(std::get<Push>(out.sent[0]).seq, 2u);
  EXPECT_EQ(std::get<Push>(out.sent[1]).seq, 3u);
  EXPECT_EQ(u->in_flight(), 2u);
  EXPECT_TRUE(out.work.empty()) << "window full";

  out = Feed(*u, Ack{AckOf::kPush, 2});
  ASSERT_GE(out.work.size(), 1u);
  EXPECT_EQ(std::get<AckPushes>(out.work[0]).seq, 2u);
  EXPECT_EQ(u->in_flight(), 1u);
  // An ACK for something never sent is a protocol error.
  out = Feed(*u, Ack{AckOf::kPush, 9});
  EXPECT_TRUE(out.closed);
}

TEST_F(UplinkTest, PartialNackAcknowledgesAndKeepsTheRejections) {
  auto u = Make({1, 0, 0, "g-1"});
  Connect(*u);
  Feed(*u, Welcome{1, "central", "g-1", 0, 0});
  PushesReady ready;
  ready.entries = {{1, FakeEnvelope()}};
  Result(*u, ready);
  Out out = Feed(*u, Nack{AckOf::kPush,
                          1,
                          NackCode::kPartial,
                          "1 rows refused",
                          {{"student", "0190a000-0000-7000-8000-000000000009", 2}}});
  ASSERT_EQ(out.work.size(), 1u);
  EXPECT_EQ(std::get<AckPushes>(out.work[0]).seq, 1u);
  Out rec = Result(*u, StoreDone{});
  ASSERT_GE(rec.work.size(), 1u);
  const auto* r = std::get_if<RecordRejections>(&rec.work[0]);
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->rows.size(), 1u);
  EXPECT_NE(std::find(out.logs.begin(), out.logs.end(), "push_rows_rejected"), out.logs.end());
  EXPECT_EQ(u->state().acked_seq, 1u);
  EXPECT_FALSE(out.closed);
}

TEST_F(UplinkTest, ChangesApplyInOrderGapsAreReportedOnce) {
  auto u = Make({0, 0, /*pull=*/10, "g-1"});
  Connect(*u);
  Out out = Feed(*u, Welcome{1, "central", "g-1", 0, 30});
  Result(*u, PushesReady{});  // nothing to push

  Out gap = Feed(*u, Changes{15, 20, FakeEnvelope()});
  const auto* nack = Only<Nack>(gap.sent);
  ASSERT_NE(nack, nullptr);
  EXPECT_EQ(nack->code, NackCode::kOutOfOrder);
  EXPECT_TRUE(Feed(*u, Changes{21, 25, FakeEnvelope()}).sent.empty());

  Out ok = Feed(*u, Changes{11, 20, FakeEnvelope()});
  ASSERT_EQ(ok.work.size(), 1u);
  const auto& apply = std::get<ApplyChanges>(ok.work[0]);
  EXPECT_EQ(apply.from, 11u);
  EXPECT_EQ(apply.generation, "g-1");
  EXPECT_EQ(apply.central_node, "central");
  Out acked = Result(*u, ChangesApplied{});
  const auto* ack = Only<Ack>(acked.sent);
  ASSERT_NE(ack, nullptr);
  EXPECT_EQ(ack->of, AckOf::kChanges);
  EXPECT_EQ(ack->seq, 20u);
  EXPECT_EQ(u->state().pull_seq, 20u);

  Feed(*u, Changes{21, 22, FakeEnvelope()});
  ChangesApplied corrupt;
  corrupt.outcome = ApplyOutcome::kCorrupt;
  Out bad = Result(*u, corrupt);
  nack = Only<Nack>(bad.sent);
  ASSERT_NE(nack, nullptr);
  EXPECT_EQ(nack->code, NackCode::kCorrupt);
  EXPECT_EQ(u->state().pull_seq, 20u) << "nothing applied, cursor unchanged";
}

TEST_F(UplinkTest, SilentCentralIsDroppedAndRetried) {
  auto u = Make({});
  Connect(*u);
  Feed(*u, Welcome{1, "central", "g-1", 0, 0});
  u->OnTimer(TimerId::kHeartbeat);
  Out ping = Take(u->TakeActions());
  EXPECT_NE(Only<Ping>(ping.sent), nullptr);
  u->OnTimer(TimerId::kReadDeadline);
  Out out = Take(u->TakeActions());
  EXPECT_TRUE(out.closed);
  EXPECT_TRUE(Armed(out, TimerId::kReconnect).has_value());
  EXPECT_EQ(u->phase(), Uplink::Phase::kBackoff);
}

TEST_F(UplinkTest, PersistentErrorsBackOffToTheMaximum) {
  options_.backoff_max_ms = 60'000;
  auto u = Make({});
  Connect(*u);
  env_.next_random = 0;
  Out out = Feed(*u, ErrorMessage{ErrorCode::kNotAuthorized, "unknown unit"});
  EXPECT_TRUE(out.closed);
  auto delay = Armed(out, TimerId::kReconnect);
  ASSERT_TRUE(delay.has_value());
  EXPECT_GE(*delay, 30'000);
}

TEST_F(UplinkTest, MoreWaitingIsFetchedWhenTheWindowFreesWithoutANewLocalChange) {
  options_.window = 2;
  auto u = Make({0, 0, 0, "g-1"});
  Connect(*u);
  Feed(*u, Welcome{1, "central", "g-1", 0, 0});
  PushesReady ready;
  ready.entries = {{1, FakeEnvelope()}, {2, FakeEnvelope()}};
  ready.more = true;  // the change log holds more than the window allowed
  Out out = Result(*u, ready);
  ASSERT_EQ(out.sent.size(), 2u);
  out = Feed(*u, Ack{AckOf::kPush, 1});
  Out next = Result(*u, StoreDone{});  // AckPushes answered; the fetch follows
  bool fetched = false;
  for (const auto* w : {&out.work, &next.work}) {
    for (const auto& work : *w) {
      if (const auto* f = std::get_if<FetchPushes>(&work)) {
        fetched = true;
        EXPECT_EQ(f->after_seq, 2u);
      }
    }
  }
  EXPECT_TRUE(fetched) << "a backlog larger than the window must keep flowing";
}

TEST_F(UplinkTest, PausedUplinkSaysWhyStaysDownAndResumesAtOnce) {
  auto u = Make({0, 0, 0, "g-1"});
  Connect(*u);
  Feed(*u, Welcome{1, "central", "g-1", 0, 0});
  u->Stop("paused by the unit's admin");
  Out out = Take(u->TakeActions());
  const auto* err = Only<ErrorMessage>(out.sent);
  ASSERT_NE(err, nullptr);
  EXPECT_EQ(err->code, ErrorCode::kShuttingDown);
  EXPECT_EQ(err->message, "paused by the unit's admin");
  EXPECT_TRUE(out.closed);
  EXPECT_FALSE(Armed(out, TimerId::kReconnect).has_value()) << "paused means no reconnect";
  EXPECT_EQ(u->phase(), Uplink::Phase::kStopped);
  u->OnLocalChange();  // writes while paused wait in the log
  EXPECT_FALSE(Take(u->TakeActions()).connect);
  u->Resume();
  EXPECT_TRUE(Take(u->TakeActions()).connect);
  EXPECT_EQ(u->phase(), Uplink::Phase::kConnecting);
  u->Resume();  // only from kStopped
  EXPECT_FALSE(Take(u->TakeActions()).connect);
}

TEST_F(UplinkTest, ConnectNowSkipsTheBackoffWait) {
  options_.backoff_base_ms = 60'000;
  auto u = Make({});
  u->Start();
  Take(u->TakeActions());
  u->OnDisconnected("connection refused");
  Out out = Take(u->TakeActions());
  ASSERT_TRUE(Armed(out, TimerId::kReconnect).has_value());
  ASSERT_EQ(u->phase(), Uplink::Phase::kBackoff);
  u->ConnectNow();
  EXPECT_TRUE(Take(u->TakeActions()).connect);
  EXPECT_EQ(u->attempts(), 0u);
  u->ConnectNow();  // already connecting: nothing more
  EXPECT_FALSE(Take(u->TakeActions()).connect);
  u->OnTimer(TimerId::kReconnect);  // the cancelled wait firing late changes nothing
  EXPECT_FALSE(Take(u->TakeActions()).connect);
}

}  // namespace
}  // namespace unitsync::protocol
