// The unit's uplink across a session's life: liveness, cursors a WELCOME settles without a
// resync, repeats, store work held for a connection that goes away, events that arrive in
// a phase where they mean nothing. Driven event by event like protocol/uplink_test.cc.
#include <algorithm>

#include "protocol/uplink_fixture.h"

namespace unitsync::protocol {
namespace {

using namespace testing;  // NOLINT: the fixture helpers

class UplinkSession : public UplinkFixture {
 protected:
  // Welcomed with pushes 1..n built, all sent: the store is idle.
  std::unique_ptr<Uplink> Pushed(uint64_t n) {
    auto u = Welcomed({n, 0, 0, "g-1", std::nullopt});
    PushesReady ready;
    for (uint64_t seq = 1; seq <= n; ++seq) ready.entries.push_back({seq, FakeEnvelope()});
    Out out = Result(*u, ready);
    EXPECT_EQ(out.sent.size(), n);
    EXPECT_TRUE(out.work.empty());
    return u;
  }
};

TEST_F(UplinkSession, CentralsPingIsAnsweredWithItsNonceInEveryPhase) {
  auto u = Make({});
  Connect(*u);
  Out waiting = Feed(*u, Ping{41});
  const auto* pong = Only<Pong>(waiting.sent);
  ASSERT_NE(pong, nullptr);
  EXPECT_EQ(pong->nonce, 41u);
  EXPECT_EQ(u->phase(), Uplink::Phase::kAwaitWelcome) << "a PING is not the WELCOME";

  Feed(*u, Welcome{1, "central", "g-1", 0, 0});
  Out syncing = Feed(*u, Ping{42});
  pong = Only<Pong>(syncing.sent);
  ASSERT_NE(pong, nullptr);
  EXPECT_EQ(pong->nonce, 42u);
  Out answered = Feed(*u, Pong{7});
  EXPECT_TRUE(answered.sent.empty()) << "a PONG needs no answer";
  EXPECT_FALSE(answered.closed);
}

TEST_F(UplinkSession, WelcomeAcknowledgesPushesWhoseAckWasLost) {
  // Central applied push 4 but the connection went before its ACK arrived.
  auto u = Make({/*built=*/5, /*acked=*/3, 0, "g-1", std::nullopt});
  Connect(*u);
  Out out = Feed(*u, Welcome{1, "central", "g-1", /*applied=*/4, 0});
  ASSERT_FALSE(out.work.empty());
  const auto* ack = std::get_if<AckPushes>(&out.work[0]);
  ASSERT_NE(ack, nullptr) << "not a resync: central is within what we built";
  EXPECT_EQ(ack->seq, 4u);
  EXPECT_FALSE(Has<Resync>(out));
  EXPECT_EQ(u->state().acked_seq, 4u);
  EXPECT_EQ(u->state().built_seq, 5u);
  Out fetch = Result(*u, StoreDone{});
  ASSERT_EQ(fetch.work.size(), 1u);
  EXPECT_EQ(std::get<FetchPushes>(fetch.work[0]).after_seq, 4u) << "push 5 goes next";
}

TEST_F(UplinkSession, RepeatedAckChangesNothing) {
  auto u = Pushed(2);
  Out first = Feed(*u, Ack{AckOf::kPush, 1});
  EXPECT_TRUE(Has<AckPushes>(first));
  Result(*u, StoreDone{});
  Out again = Feed(*u, Ack{AckOf::kPush, 1});
  EXPECT_TRUE(again.work.empty()) << "the outbox is not trimmed twice";
  EXPECT_TRUE(again.sent.empty());
  EXPECT_FALSE(again.closed);
  EXPECT_EQ(u->state().acked_seq, 1u);
  EXPECT_EQ(u->in_flight(), 1u);
}

TEST_F(UplinkSession, LocalChangesWhileAFetchIsOutstandingAskForNoSecondFetch) {
  auto u = Welcomed({0, 0, 0, "g-1", std::nullopt});  // FetchPushes outstanding
  u->OnLocalChange();
  u->OnLocalChange();
  EXPECT_TRUE(Take(u->TakeActions()).work.empty());
  PushesReady ready;
  ready.entries = {{1, FakeEnvelope()}};
  Out out = Result(*u, ready);
  ASSERT_EQ(out.sent.size(), 1u);
  ASSERT_EQ(out.work.size(), 1u) << "one fetch for the changes noticed meanwhile";
  EXPECT_EQ(std::get<FetchPushes>(out.work[0]).after_seq, 1u);
}

TEST_F(UplinkSession, PushesNotDueAreSkippedAndMoreIsFetched) {
  auto u = Welcomed({0, 0, 0, "g-1", std::nullopt});
  PushesReady ready;
  ready.entries = {{2, FakeEnvelope()}};  // push 1 is due first
  ready.more = true;
  Out out = Result(*u, ready);
  EXPECT_TRUE(out.sent.empty());
  ASSERT_EQ(out.work.size(), 1u);
  EXPECT_EQ(std::get<FetchPushes>(out.work[0]).after_seq, 0u);
}

TEST_F(UplinkSession, AnAckOfAnEarlierPushDoesNotForgiveACorruptOne) {
  auto u = Pushed(2);
  Out first = Feed(*u, Nack{AckOf::kPush, 2, NackCode::kCorrupt, "tag mismatch", {}});
  EXPECT_TRUE(first.closed) << "the first refusal is retried";
  Connect(*u);
  Feed(*u, Welcome{1, "central", "g-1", 0, 0});
  PushesReady ready;
  ready.entries = {{1, FakeEnvelope()}, {2, FakeEnvelope()}};
  ASSERT_EQ(Result(*u, ready).sent.size(), 2u);
  Feed(*u, Ack{AckOf::kPush, 1});
  Out second = Feed(*u, Nack{AckOf::kPush, 2, NackCode::kCorrupt, "tag mismatch", {}});
  EXPECT_FALSE(second.closed);
  EXPECT_TRUE(LoggedEvent(second, "push_blocked")) << "push 2 was refused twice";
  EXPECT_EQ(u->state().acked_seq, 1u);
}

TEST_F(UplinkSession, WorkHeldForALostConnectionIsDroppedButBookkeepingStillRuns) {
  auto u = Pushed(1);
  ASSERT_EQ(Feed(*u, Changes{1, 2, FakeEnvelope()}).work.size(), 1u);  // outstanding
  EXPECT_TRUE(Feed(*u, Ack{AckOf::kPush, 1}).work.empty());            // AckPushes held
  EXPECT_TRUE(Feed(*u, Changes{3, 4, FakeEnvelope()}).work.empty());   // ApplyChanges held
  EXPECT_TRUE(Feed(*u, Verify{5}).work.empty());                       // ComputeDigests held
  u->OnLocalChange();                                                  // FetchPushes held
  EXPECT_TRUE(Take(u->TakeActions()).work.empty());

  u->OnDisconnected("reset by peer");
  Take(u->TakeActions());
  Out out = Result(*u, ChangesApplied{});
  EXPECT_EQ(u->state().pull_seq, 2u);
  EXPECT_TRUE(out.sent.empty());
  ASSERT_EQ(out.work.size(), 1u) << "only the durable bookkeeping is left";
  EXPECT_EQ(std::get<AckPushes>(out.work[0]).seq, 1u);
  EXPECT_TRUE(Result(*u, StoreDone{}).work.empty());
}

TEST_F(UplinkSession, FailedAckIsRetriedWhileDisconnected) {
  options_.backoff_base_ms = 100;
  auto u = Pushed(1);
  Feed(*u, Ack{AckOf::kPush, 1});
  u->OnDisconnected("reset by peer");
  Take(u->TakeActions());
  Out failed = Result(*u, StoreDone{false, "disk full"});
  EXPECT_EQ(Armed(failed, TimerId::kRetry), 100);
  Out retry = Timer(*u, TimerId::kRetry);
  ASSERT_EQ(retry.work.size(), 1u) << "the outbox is trimmed without waiting for central";
  EXPECT_EQ(std::get<AckPushes>(retry.work[0]).seq, 1u);
  EXPECT_FALSE(Has<FetchPushes>(retry)) << "nothing is fetched without a session";
}

TEST_F(UplinkSession, ChangesAppliedForAnEarlierConnectionAreNotAcknowledgedOnTheNextOne) {
  auto u = Welcomed({0, 0, 10, "g-1", std::nullopt});
  Result(*u, PushesReady{});
  ASSERT_EQ(Feed(*u, Changes{11, 20, FakeEnvelope()}).work.size(), 1u);
  u->OnDisconnected("reset by peer");
  Take(u->TakeActions());
  Connect(*u);
  Out welcomed = Feed(*u, Welcome{1, "central", "g-1", 0, 100});
  EXPECT_TRUE(welcomed.work.empty()) << "the fetch waits behind the outstanding apply";
  Out out = Result(*u, ChangesApplied{});
  EXPECT_TRUE(out.sent.empty()) << "central of the new session rewinds to the HELLO's cursor";
  EXPECT_EQ(u->state().pull_seq, 20u);
  EXPECT_TRUE(Has<FetchPushes>(out));
}

TEST_F(UplinkSession, StopWhileWaitingToReconnectStaysStopped) {
  auto u = Make({});
  Connect(*u);
  u->OnDisconnected("reset by peer");
  Take(u->TakeActions());
  ASSERT_EQ(u->phase(), Uplink::Phase::kBackoff);
  u->Stop("admin pause");
  Out out = Take(u->TakeActions());
  EXPECT_FALSE(out.closed) << "there is no connection to close";
  EXPECT_TRUE(out.sent.empty());
  EXPECT_EQ(u->phase(), Uplink::Phase::kStopped);
  EXPECT_FALSE(Timer(*u, TimerId::kReconnect).connect);
  u->ConnectNow();
  EXPECT_FALSE(Take(u->TakeActions()).connect) << "sync-now does not undo a pause";
}

TEST_F(UplinkSession, DisconnectWithoutAConnectionIsIgnored) {
  auto u = Make({});
  u->OnDisconnected("spurious");
  EXPECT_TRUE(Take(u->TakeActions()).logs.empty());
  EXPECT_EQ(u->phase(), Uplink::Phase::kIdle);

  Connect(*u);
  u->OnDisconnected("reset by peer");
  Take(u->TakeActions());
  const uint32_t attempts = u->attempts();
  u->OnDisconnected("reported twice");
  Out twice = Take(u->TakeActions());
  EXPECT_TRUE(twice.logs.empty());
  EXPECT_FALSE(Armed(twice, TimerId::kReconnect).has_value());
  EXPECT_EQ(u->attempts(), attempts) << "one lost connection is one failed attempt";
}

// Central's frames that arrive in the same read as a malformed one are not handled: the
// session is already closed as malformed (ERROR malformed sent), and is retried.
TEST_F(UplinkSession, FramesBeforeGarbageInTheSameReadEndTheSessionAsMalformed) {
  auto u = Pushed(1);
  Bytes bytes = FrameOf(Ack{AckOf::kPush, 1});
  const Bytes garbage{0, 0, 0, 3, 0xc1, 0xc1, 0xc1};
  bytes.insert(bytes.end(), garbage.begin(), garbage.end());
  u->OnBytes(bytes);
  Out out = Take(u->TakeActions());
  const auto* e = Only<ErrorMessage>(out.sent);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->code, ErrorCode::kMalformed);
  EXPECT_TRUE(out.closed);
  EXPECT_TRUE(LoggedEvent(out, "malformed_from_central"));
  EXPECT_TRUE(Armed(out, TimerId::kReconnect).has_value()) << "not left without a connection";
  EXPECT_EQ(u->phase(), Uplink::Phase::kBackoff);
  EXPECT_EQ(u->state().acked_seq, 0u) << "push 1 is resent; central acknowledges it again";

  u->OnTimer(TimerId::kReconnect);
  EXPECT_TRUE(Take(u->TakeActions()).connect);
}

TEST_F(UplinkSession, ErrorAndGarbageInTheSameReadPlanOneReconnect) {
  auto u = Pushed(1);
  Bytes bytes = FrameOf(ErrorMessage{ErrorCode::kOverloaded, "too many units"});
  const Bytes garbage{0, 0, 0, 3, 0xc1, 0xc1, 0xc1};
  bytes.insert(bytes.end(), garbage.begin(), garbage.end());
  u->OnBytes(bytes);
  Out out = Take(u->TakeActions());
  EXPECT_TRUE(out.closed);
  EXPECT_EQ(std::count_if(out.armed.begin(), out.armed.end(),
                          [](const ArmTimer& t) { return t.id == TimerId::kReconnect; }),
            1);
  EXPECT_EQ(u->attempts(), 1u);
  EXPECT_EQ(u->phase(), Uplink::Phase::kBackoff);
}

}  // namespace
}  // namespace unitsync::protocol
