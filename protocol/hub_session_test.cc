// Central's session across its life: liveness, the unit's ACKs and repeats, a fan-out
// that finds the log trimmed, empty CHANGES that move a unit's cursor, tombstone GC
// fanning out, one retry for several failures, answers after the session ended. Driven
// event by event like protocol/hub_test.cc.
#include <algorithm>

#include "protocol/hub_fixture.h"

namespace unitsync::protocol {
namespace {

using namespace testing;  // NOLINT: the fixture helpers

class HubSessionTest : public HubFixture {
 protected:
  HubSessionTest() { options_.backoff_base_ms = 100; }

  // Syncing (the unit's pull cursor `pull`, central's head `head`); the first
  // BuildChanges is outstanding.
  std::unique_ptr<HubSession> Building(uint64_t pull = 0, uint64_t head = 50) {
    auto hub = Greeted(Hello{1, 1, "unit-0001", 0, pull, "g-1", {}});
    Loaded(*hub, head);
    if (pull > 0) Result(*hub, StoreDone{});  // AckChanges(pull) first
    return hub;
  }
  // Syncing with CHANGES 1..10 in flight; the store is idle.
  std::unique_ptr<HubSession> OneInFlight() {
    auto hub = Building();
    EXPECT_EQ(Result(*hub, ChangesBuilt{true, "", 10, 2, FakeEnvelope(), false}).sent.size(), 1u);
    return hub;
  }
};

TEST_F(HubSessionTest, TheUnitsPingIsAnsweredWithItsNonce) {
  auto hub = OneInFlight();
  Out out = Feed(*hub, Ping{77});
  const auto* pong = Only<Pong>(out.sent);
  ASSERT_NE(pong, nullptr);
  EXPECT_EQ(pong->nonce, 77u);
  Out answered = Feed(*hub, Pong{5});
  EXPECT_TRUE(answered.sent.empty());
  EXPECT_EQ(hub->phase(), HubSession::Phase::kSyncing);
}

TEST_F(HubSessionTest, AckOfChangesNeverSentIsUnexpected) {
  auto hub = OneInFlight();
  Out out = Feed(*hub, Ack{AckOf::kChanges, 11});
  EXPECT_EQ(ErrorSent(out), ErrorCode::kUnexpectedMessage);
  EXPECT_TRUE(out.work.empty()) << "no cursor is recorded";
  EXPECT_EQ(hub->fan_acked(), 0u);
  EXPECT_EQ(hub->phase(), HubSession::Phase::kClosed);
}

TEST_F(HubSessionTest, PartialNackOfChangesNeverSentIsUnexpected) {
  auto hub = OneInFlight();
  Out out = Feed(*hub, Nack{AckOf::kChanges, 11, NackCode::kPartial, "refused", {{"t", "r-1", 1}}});
  EXPECT_EQ(ErrorSent(out), ErrorCode::kUnexpectedMessage);
  EXPECT_EQ(hub->fan_acked(), 0u);
}

TEST_F(HubSessionTest, RepeatedAckRecordsNothingNew) {
  auto hub = OneInFlight();
  ASSERT_TRUE(Has<AckChanges>(Feed(*hub, Ack{AckOf::kChanges, 10})));
  Result(*hub, StoreDone{});
  Out again = Feed(*hub, Ack{AckOf::kChanges, 10});
  EXPECT_FALSE(Has<AckChanges>(again));
  EXPECT_FALSE(again.closed);
  EXPECT_EQ(hub->fan_acked(), 10u);
}

TEST_F(HubSessionTest, BuildThatFindsTheLogTrimmedTellsTheUnitToReseed) {
  auto hub = Building(/*pull=*/7);
  ChangesBuilt trimmed;
  trimmed.ok = false;
  trimmed.must_reseed = true;
  Out out = Result(*hub, trimmed);
  EXPECT_EQ(ErrorSent(out), ErrorCode::kReseedRequired);
  EXPECT_TRUE(out.closed);
  EXPECT_TRUE(LoggedEvent(out, "reseed_required"));
  EXPECT_FALSE(Armed(out, TimerId::kRetry).has_value()) << "rebuilding cannot help";
  EXPECT_EQ(hub->phase(), HubSession::Phase::kClosed);
}

TEST_F(HubSessionTest, EmptyChangesMoveAUnitsCursorPastOthersEntriesOnlyNowAndThen) {
  auto hub = Building(0, 2000);
  // 1..100 held nothing for this unit: not worth a message.
  Out few = Result(*hub, ChangesBuilt{true, "", 100, 0, FakeEnvelope(), true});
  EXPECT_TRUE(few.sent.empty());
  ASSERT_EQ(few.work.size(), 1u);
  // Up to 600 (at least 512 past the unit's cursor): an empty CHANGES to acknowledge.
  Out many = Result(*hub, ChangesBuilt{true, "", 600, 0, FakeEnvelope(), true});
  const auto* ch = Only<Changes>(many.sent);
  ASSERT_NE(ch, nullptr);
  EXPECT_EQ(ch->from_seq, 1u);
  EXPECT_EQ(ch->to_seq, 600u);
  // While it is in flight, another long empty stretch is not sent.
  Out more = Result(*hub, ChangesBuilt{true, "", 1200, 0, FakeEnvelope(), false});
  EXPECT_TRUE(more.sent.empty());
  EXPECT_EQ(hub->changes_in_flight(), 1u);
  // Nor one the store sealed nothing for.
  auto bare = Building(0, 2000);
  EXPECT_TRUE(Result(*bare, ChangesBuilt{true, "", 600, 0, {}, false}).sent.empty());
}

TEST_F(HubSessionTest, AcknowledgementThatLetGcLogEvictionsFansThemOut) {
  auto hub = OneInFlight();
  Feed(*hub, Ack{AckOf::kChanges, 10});
  StoreDone done;
  done.log_advanced = true;
  Out out = Result(*hub, done);
  EXPECT_TRUE(out.log_advanced) << "the other units' sessions are told";
  ASSERT_EQ(out.work.size(), 1u) << "and this one builds";
  EXPECT_EQ(std::get<BuildChanges>(out.work[0]).after_seq, 10u);
}

TEST_F(HubSessionTest, OneRetryIsArmedForSeveralFailures) {
  auto hub = OneInFlight();
  ASSERT_TRUE(Has<AckChanges>(Feed(*hub, Ack{AckOf::kChanges, 10})));
  hub->OnLogAdvanced();  // BuildChanges held behind the AckChanges
  EXPECT_TRUE(Take(hub->TakeActions()).work.empty());
  Out ack_failed = Result(*hub, StoreDone{false, "disk full"});
  EXPECT_EQ(Armed(ack_failed, TimerId::kRetry), 100);
  ASSERT_TRUE(Has<BuildChanges>(ack_failed));
  ChangesBuilt failed;
  failed.ok = false;
  Out build_failed = Result(*hub, failed);
  EXPECT_TRUE(LoggedEvent(build_failed, "build_changes_failed"));
  EXPECT_FALSE(Armed(build_failed, TimerId::kRetry).has_value()) << "already armed";
  hub->OnTimer(TimerId::kRetry);
  Out retry = Take(hub->TakeActions());
  ASSERT_EQ(retry.work.size(), 1u);
  EXPECT_EQ(std::get<AckChanges>(retry.work[0]).seq, 10u);
  Out build = Result(*hub, StoreDone{});
  ASSERT_EQ(build.work.size(), 1u) << "the build goes again after the ACK";
  EXPECT_EQ(std::get<BuildChanges>(build.work[0]).after_seq, 10u);
}

TEST_F(HubSessionTest, AnswersAfterTheSessionEndedAreKeptButSendNothing) {
  {
    auto hub = OneInFlight();
    Feed(*hub, Push{1, FakeEnvelope()});
    hub->OnDisconnected("reset by peer");
    Take(hub->TakeActions());
    PushApplied done;
    done.applied_seq = 1;
    done.log_advanced = true;
    Out out = Result(*hub, done);
    EXPECT_TRUE(out.sent.empty()) << "no ACK on a closed session";
    EXPECT_TRUE(out.log_advanced) << "the other units still get the rows";
    EXPECT_EQ(hub->applied_seq(), 1u);
  }
  {
    auto hub = Building();
    hub->OnDisconnected("reset by peer");
    Take(hub->TakeActions());
    Out out = Result(*hub, ChangesBuilt{true, "", 10, 2, FakeEnvelope(), true});
    EXPECT_TRUE(out.sent.empty());
    EXPECT_TRUE(out.work.empty());
    EXPECT_EQ(hub->fan_sent_to(), 0u);
  }
}

}  // namespace
}  // namespace unitsync::protocol
