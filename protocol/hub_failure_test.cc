// Central's session when things go wrong: deadlines and events for a session that has
// ended, pushes central could not apply (the NACK code it answers with), NACKs of its
// fan-out from the unit, store answers that are stale, failed or not asked for. Driven
// event by event like protocol/hub_test.cc.
#include <algorithm>

#include "protocol/hub_fixture.h"

namespace unitsync::protocol {
namespace {

using namespace testing;  // NOLINT: the fixture helpers

class HubFailure : public HubFixture {
 protected:
  HubFailure() { options_.backoff_base_ms = 100; }

  // Connected, HELLO in: LoadUnit outstanding.
  std::unique_ptr<HubSession> Loading(uint64_t unit_built = 0) {
    Out out;
    auto hub = Greeted(Hello{1, 1, "unit-0001", unit_built, 0, "g-1", {}}, &out);
    EXPECT_EQ(out.work.size(), 1u);
    return hub;
  }
  // Syncing; the first BuildChanges (after 0) is outstanding.
  std::unique_ptr<HubSession> Building(uint64_t head = 50) {
    auto hub = Loading();
    Out out = Loaded(*hub, head);
    EXPECT_EQ(out.work.size(), 1u);
    EXPECT_EQ(hub->phase(), HubSession::Phase::kSyncing);
    return hub;
  }
  // Syncing with nothing to fan out: the store is idle.
  std::unique_ptr<HubSession> Idle() {
    auto hub = Building(0);
    EXPECT_TRUE(Result(*hub, ChangesBuilt{true, "", 0, 0, {}, false}).work.empty());
    return hub;
  }
  // Syncing with CHANGES 1..10 and 11..20 in flight; the store is idle.
  std::unique_ptr<HubSession> TwoInFlight() {
    auto hub = Building(20);
    EXPECT_EQ(Result(*hub, ChangesBuilt{true, "", 10, 2, FakeEnvelope(), true}).sent.size(), 1u);
    EXPECT_EQ(Result(*hub, ChangesBuilt{true, "", 20, 2, FakeEnvelope(), false}).sent.size(), 1u);
    EXPECT_EQ(hub->changes_in_flight(), 2u);
    return hub;
  }
};

// ---- the handshake, timers and bytes around a session's life ----

TEST_F(HubFailure, ASecondConnectedEventRearmsNothing) {
  auto hub = Make();
  hub->OnConnected();
  EXPECT_TRUE(Armed(Take(hub->TakeActions()), TimerId::kHandshake).has_value());
  hub->OnConnected();
  EXPECT_TRUE(Take(hub->TakeActions()).armed.empty());
}

TEST_F(HubFailure, BytesBeforeTheConnectionOrAfterTheCloseAreIgnored) {
  auto hub = Make();
  Out early = Feed(*hub, Hello{1, 1, "unit-0001", 0, 0, "g-1", {}});
  EXPECT_TRUE(early.work.empty());
  EXPECT_EQ(hub->phase(), HubSession::Phase::kAwaitHello);

  auto closed = Idle();
  closed->Stop("admin pause");
  Out stop = Take(closed->TakeActions());
  EXPECT_EQ(ErrorSent(stop), ErrorCode::kShuttingDown);
  Out late = Feed(*closed, Push{1, FakeEnvelope()});
  EXPECT_TRUE(late.sent.empty());
  EXPECT_TRUE(late.work.empty());
  closed->Stop("again");
  EXPECT_TRUE(Take(closed->TakeActions()).sent.empty()) << "stopped once";
  closed->OnDisconnected("reset by peer");
  EXPECT_TRUE(Take(closed->TakeActions()).logs.empty());
}

TEST_F(HubFailure, HandshakeDeadlineWhileTheUnitIsLoadingCloses) {
  auto hub = Loading();
  Out out = Timer(*hub, TimerId::kHandshake);
  EXPECT_EQ(ErrorSent(out), ErrorCode::kUnexpectedMessage);
  EXPECT_TRUE(out.closed);
  EXPECT_EQ(hub->phase(), HubSession::Phase::kClosed);
  // The load answer arriving after that welcomes nobody.
  Out late = Result(*hub, UnitLoaded{true, "", 0, 50, "g-1", 0});
  EXPECT_TRUE(late.sent.empty());
  EXPECT_TRUE(late.work.empty());
}

TEST_F(HubFailure, TimersThatDoNotApplyDoNothing) {
  auto hub = Idle();
  Out handshake = Timer(*hub, TimerId::kHandshake);  // established meanwhile
  EXPECT_FALSE(handshake.closed);
  EXPECT_TRUE(handshake.sent.empty());
  Out reconnect = Timer(*hub, TimerId::kReconnect);  // a unit's timer
  EXPECT_TRUE(reconnect.sent.empty());
  EXPECT_FALSE(reconnect.closed);
  EXPECT_EQ(hub->phase(), HubSession::Phase::kSyncing);

  hub->OnDisconnected("reset by peer");
  Take(hub->TakeActions());
  EXPECT_TRUE(Timer(*hub, TimerId::kReadDeadline).logs.empty()) << "the session is over";
  EXPECT_TRUE(Timer(*hub, TimerId::kHeartbeat).sent.empty());
}

TEST_F(HubFailure, ReadDeadlineClosesASilentUnit) {
  auto hub = Idle();
  Out out = Timer(*hub, TimerId::kReadDeadline);
  EXPECT_TRUE(out.closed);
  EXPECT_FALSE(ErrorSent(out).has_value());
  EXPECT_TRUE(LoggedEvent(out, "read_deadline"));
  EXPECT_EQ(hub->phase(), HubSession::Phase::kClosed);
}

TEST_F(HubFailure, FramesBehindAnErrorInTheSameReadAreNotHandled) {
  auto hub = Idle();
  Bytes bytes = FrameOf(ErrorMessage{ErrorCode::kShuttingDown, "unit stopping"});
  const Bytes push = FrameOf(Push{1, FakeEnvelope()});
  bytes.insert(bytes.end(), push.begin(), push.end());
  hub->OnBytes(bytes);
  Out out = Take(hub->TakeActions());
  EXPECT_TRUE(out.closed);
  EXPECT_TRUE(LoggedEvent(out, "error_from_unit"));
  EXPECT_TRUE(out.work.empty()) << "the PUSH after the ERROR is not applied";
  EXPECT_EQ(hub->phase(), HubSession::Phase::kClosed);
}

TEST_F(HubFailure, FailedLoadClosesWithInternal) {
  auto hub = Loading();
  Out out = Result(*hub, UnitLoaded{false, "database is locked", 0, 0, "", 0});
  EXPECT_EQ(ErrorSent(out), ErrorCode::kInternal);
  EXPECT_TRUE(LoggedEvent(out, "load_unit_failed"));
  EXPECT_EQ(hub->phase(), HubSession::Phase::kClosed);
}

TEST_F(HubFailure, PushesAUnitLostWithItsDiskAreReported) {
  auto hub = Loading(/*unit_built=*/2);
  UnitLoaded loaded{true, "", /*applied=*/5, 50, "g-1", /*lost_to=*/8};
  Out out = Result(*hub, loaded);
  EXPECT_NE(Only<Welcome>(out.sent), nullptr);
  EXPECT_TRUE(LoggedEvent(out, "unit_lost_changes"));

  auto fine = Loading(/*unit_built=*/5);
  Out ok = Result(*fine, UnitLoaded{true, "", 5, 50, "g-1", /*lost_to=*/5});
  EXPECT_FALSE(LoggedEvent(ok, "unit_lost_changes")) << "nothing beyond what was applied";
}

// ---- pushes central could not apply ----

TEST_F(HubFailure, PushNotAppliedIsNackedWithTheCodeOfTheOutcome) {
  struct Case {
    ApplyOutcome outcome;
    NackCode code;
  };
  for (const Case c : {Case{ApplyOutcome::kCorrupt, NackCode::kCorrupt},
                       Case{ApplyOutcome::kMalformed, NackCode::kMalformed},
                       Case{ApplyOutcome::kBusy, NackCode::kBusy},
                       Case{ApplyOutcome::kInternal, NackCode::kInternal}}) {
    SCOPED_TRACE(static_cast<int>(c.outcome));
    auto hub = Idle();
    ASSERT_EQ(Feed(*hub, Push{1, FakeEnvelope()}).work.size(), 1u);
    PushApplied failed;
    failed.outcome = c.outcome;
    failed.error = "step failed";
    Out out = Result(*hub, failed);
    const auto* nack = Only<Nack>(out.sent);
    ASSERT_NE(nack, nullptr);
    EXPECT_EQ(nack->of, AckOf::kPush);
    EXPECT_EQ(nack->seq, 1u);
    EXPECT_EQ(nack->code, c.code);
    EXPECT_TRUE(LoggedEvent(out, "push_not_applied"));
    EXPECT_EQ(hub->applied_seq(), 0u);
    EXPECT_EQ(hub->phase(), HubSession::Phase::kSyncing);
    // The unit resends from central's cursor: push 1 is applied then.
    EXPECT_EQ(Feed(*hub, Push{1, FakeEnvelope()}).work.size(), 1u);
  }
}

TEST_F(HubFailure, PushAnsweredAfterTheSessionEndedIsOnlyLogged) {
  auto hub = Idle();
  Feed(*hub, Push{1, FakeEnvelope()});
  hub->OnDisconnected("reset by peer");
  Take(hub->TakeActions());
  PushApplied busy;
  busy.outcome = ApplyOutcome::kBusy;
  Out out = Result(*hub, busy);
  EXPECT_TRUE(out.sent.empty());
  EXPECT_TRUE(LoggedEvent(out, "push_not_applied"));
}

TEST_F(HubFailure, PartialNackOfAPushCarriesAtMostTheRowLimit) {
  auto hub = Idle();
  Feed(*hub, Push{1, FakeEnvelope()});
  PushApplied done;
  done.applied_seq = 1;
  for (size_t i = 0; i < kMaxNackRows + 1; ++i) {
    done.rejected.push_back({"t", "r-" + std::to_string(i), 1});
  }
  Out out = Result(*hub, done);
  const auto* nack = Only<Nack>(out.sent);
  ASSERT_NE(nack, nullptr);
  EXPECT_EQ(nack->code, NackCode::kPartial);
  EXPECT_EQ(nack->rows.size(), kMaxNackRows);
  EXPECT_EQ(hub->applied_seq(), 1u);
}

TEST_F(HubFailure, AckOrNackOfAPushIsWhatCentralSendsNotReceives) {
  {
    auto hub = Idle();
    EXPECT_EQ(ErrorSent(Feed(*hub, Ack{AckOf::kPush, 1})), ErrorCode::kUnexpectedMessage);
  }
  {
    auto hub = Idle();
    Out out = Feed(*hub, Nack{AckOf::kPush, 1, NackCode::kBusy, "busy", {}});
    EXPECT_EQ(ErrorSent(out), ErrorCode::kUnexpectedMessage);
    EXPECT_EQ(hub->phase(), HubSession::Phase::kClosed);
  }
}

// ---- the unit's NACKs of central's fan-out ----

TEST_F(HubFailure, PartialNackFromTheUnitAcknowledgesTheRange) {
  auto hub = TwoInFlight();
  Out out = Feed(*hub, Nack{AckOf::kChanges,
                            10,
                            NackCode::kPartial,
                            "rows refused by the unit's schema",
                            {{"student", "0190a000-0000-7000-8000-000000000001", 3}}});
  EXPECT_TRUE(LoggedEvent(out, "changes_rows_rejected_by_unit"));
  ASSERT_FALSE(out.work.empty());
  EXPECT_EQ(std::get<AckChanges>(out.work[0]).seq, 10u);
  EXPECT_EQ(hub->fan_acked(), 10u);
  EXPECT_EQ(hub->changes_in_flight(), 1u);
  EXPECT_FALSE(out.closed);
}

TEST_F(HubFailure, NackOfChangesNeverSentIsUnexpected) {
  auto hub = TwoInFlight();
  Out out = Feed(*hub, Nack{AckOf::kChanges, 21, NackCode::kBusy, "busy", {}});
  EXPECT_EQ(ErrorSent(out), ErrorCode::kUnexpectedMessage);
  EXPECT_EQ(hub->phase(), HubSession::Phase::kClosed);
}

TEST_F(HubFailure, NackOfARangeAlreadyAcknowledgedIsIgnored) {
  auto hub = TwoInFlight();
  Feed(*hub, Ack{AckOf::kChanges, 10});
  Result(*hub, StoreDone{});  // AckChanges(10)
  Out out = Feed(*hub, Nack{AckOf::kChanges, 10, NackCode::kBusy, "late", {}});
  EXPECT_TRUE(out.sent.empty());
  EXPECT_TRUE(out.work.empty());
  EXPECT_FALSE(Armed(out, TimerId::kRetry).has_value()) << "no rewind";
  EXPECT_EQ(hub->changes_in_flight(), 1u);
  EXPECT_EQ(hub->fan_sent_to(), 20u);
}

TEST_F(HubFailure, NackMalformedFromTheUnitStopsTheFanOut) {
  auto hub = TwoInFlight();
  Out out = Feed(*hub, Nack{AckOf::kChanges, 10, NackCode::kMalformed, "unknown field", {}});
  EXPECT_TRUE(LoggedEvent(out, "changes_nacked"));
  EXPECT_FALSE(Has<BuildChanges>(out));
  EXPECT_FALSE(Armed(out, TimerId::kRetry).has_value());
  EXPECT_FALSE(out.closed) << "pushes from the unit still flow";
  EXPECT_EQ(hub->fan_sent_to(), 0u) << "rewound to what the unit acknowledged";
  hub->OnLogAdvanced();
  EXPECT_FALSE(Has<BuildChanges>(Take(hub->TakeActions()))) << "blocked";
  EXPECT_EQ(Feed(*hub, Push{1, FakeEnvelope()}).work.size(), 1u);
}

TEST_F(HubFailure, NackOutOfOrderFromTheUnitRebuildsAtOnceFromItsCursor) {
  auto hub = TwoInFlight();
  Out out = Feed(*hub, Nack{AckOf::kChanges, 20, NackCode::kOutOfOrder, "gap", {}});
  EXPECT_FALSE(Armed(out, TimerId::kRetry).has_value());
  ASSERT_EQ(out.work.size(), 1u);
  const auto& build = std::get<BuildChanges>(out.work[0]);
  EXPECT_EQ(build.after_seq, 0u);
  EXPECT_EQ(build.from, 1u);
  EXPECT_EQ(hub->changes_in_flight(), 0u);
}

TEST_F(HubFailure, BuildAnsweredAfterARewindIsStaleAndBuiltAgain) {
  auto hub = Building(20);
  Result(*hub, ChangesBuilt{true, "", 10, 2, FakeEnvelope(), true});  // 1..10 sent; 11.. building
  Out nack = Feed(*hub, Nack{AckOf::kChanges, 10, NackCode::kOutOfOrder, "gap", {}});
  EXPECT_TRUE(nack.work.empty()) << "the new build waits behind the outstanding one";
  Out stale = Result(*hub, ChangesBuilt{true, "", 20, 2, FakeEnvelope(), false});
  EXPECT_TRUE(stale.sent.empty()) << "built before the rewind: not sent";
  ASSERT_EQ(stale.work.size(), 1u);
  EXPECT_EQ(std::get<BuildChanges>(stale.work[0]).after_seq, 0u);
  Out fresh = Result(*hub, ChangesBuilt{true, "", 20, 4, FakeEnvelope(), false});
  const auto* ch = Only<Changes>(fresh.sent);
  ASSERT_NE(ch, nullptr);
  EXPECT_EQ(ch->from_seq, 1u);
  EXPECT_EQ(ch->to_seq, 20u);
}

// ---- store answers: failed, stale, not asked for ----

TEST_F(HubFailure, FailedBuildIsRetriedLaterNotAtOnce) {
  auto hub = Building();
  ChangesBuilt failed;
  failed.ok = false;
  failed.error = "disk I/O error";
  Out out = Result(*hub, failed);
  EXPECT_TRUE(LoggedEvent(out, "build_changes_failed"));
  EXPECT_FALSE(Has<BuildChanges>(out));
  EXPECT_EQ(Armed(out, TimerId::kRetry), 100);
  hub->OnLogAdvanced();
  EXPECT_FALSE(Has<BuildChanges>(Take(hub->TakeActions()))) << "waits the delay";
  Out retry = Timer(*hub, TimerId::kRetry);
  ASSERT_EQ(retry.work.size(), 1u);
  EXPECT_EQ(std::get<BuildChanges>(retry.work[0]).after_seq, 0u);
}

TEST_F(HubFailure, FailedBuildAfterTheSessionEndedArmsNoRetry) {
  auto hub = Building();
  hub->OnDisconnected("reset by peer");
  Take(hub->TakeActions());
  ChangesBuilt failed;
  failed.ok = false;
  Out out = Result(*hub, failed);
  EXPECT_TRUE(LoggedEvent(out, "build_changes_failed"));
  EXPECT_FALSE(Armed(out, TimerId::kRetry).has_value());
}

TEST_F(HubFailure, FailedAckChangesAfterTheSessionEndedIsNotRetried) {
  auto hub = TwoInFlight();
  ASSERT_EQ(Feed(*hub, Ack{AckOf::kChanges, 10}).work.size(), 1u);  // AckChanges(10)
  hub->OnDisconnected("reset by peer");
  Take(hub->TakeActions());
  Out out = Result(*hub, StoreDone{false, "disk full"});
  EXPECT_TRUE(LoggedEvent(out, "store_failed"));
  EXPECT_FALSE(Armed(out, TimerId::kRetry).has_value());
}

TEST_F(HubFailure, StoreResultNobodyAskedForIsLoggedAndIgnored) {
  auto hub = Idle();
  Out out = Result(*hub, ChangesBuilt{true, "", 5, 1, FakeEnvelope(), false});
  EXPECT_TRUE(LoggedEvent(out, "unexpected_store_result"));
  EXPECT_TRUE(out.sent.empty()) << "nothing is sent for an answer nobody asked for";
  EXPECT_EQ(hub->fan_sent_to(), 0u);
}

TEST_F(HubFailure, StoreResultOfTheWrongKindIsLoggedAndIgnored) {
  // LoadUnit outstanding: every other kind of answer is a driver bug.
  const std::vector<StoreResult> wrong = {
      PushApplied{},        ChangesBuilt{}, DigestsComputed{}, SnapshotStarted{},
      SnapshotChunkBuilt{}, PushesReady{},  ChangesApplied{},  SnapshotChunkApplied{}};
  for (size_t i = 0; i < wrong.size(); ++i) {
    SCOPED_TRACE(i);
    auto hub = Loading();
    Out out = Result(*hub, wrong[i]);
    EXPECT_TRUE(LoggedEvent(out, "mismatched_store_result"));
    EXPECT_TRUE(out.sent.empty()) << "no WELCOME from a wrong answer";
    EXPECT_EQ(hub->phase(), HubSession::Phase::kLoading);
  }
  // BuildChanges outstanding: a load answer does not fit either.
  auto hub = Building();
  Out out = Result(*hub, UnitLoaded{true, "", 0, 50, "g-1", 0});
  EXPECT_TRUE(LoggedEvent(out, "mismatched_store_result"));
  EXPECT_TRUE(out.sent.empty());
}

}  // namespace
}  // namespace unitsync::protocol
