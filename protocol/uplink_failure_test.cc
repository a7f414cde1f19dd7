// The unit's uplink when things go wrong: deadlines, refusals and errors from central in
// each phase, store answers that arrive for a connection that has gone or that report a
// failure, and what the unit answers for CHANGES it could not apply. Driven event by event
// like protocol/uplink_test.cc.
#include <algorithm>

#include "protocol/uplink_fixture.h"

namespace unitsync::protocol {
namespace {

using namespace testing;  // NOLINT: the fixture helpers

class UplinkFailure : public UplinkFixture {
 protected:
  // Connected and WELCOMEd with cursors that match: the first FetchPushes is outstanding.
  std::unique_ptr<Uplink> Welcomed(UplinkState state = {0, 0, 0, "g-1", std::nullopt}) {
    auto u = UplinkFixture::Welcomed(std::move(state));
    EXPECT_EQ(u->phase(), Uplink::Phase::kSyncing);
    return u;
  }
  // Welcomed, and the first fetch answered with nothing to push: the store is idle.
  std::unique_ptr<Uplink> Idle(UplinkState state = {0, 0, 0, "g-1", std::nullopt}) {
    auto u = Welcomed(std::move(state));
    EXPECT_TRUE(Result(*u, PushesReady{}).work.empty());
    return u;
  }
  // Reconnects after a backoff: kReconnect fires, the connection comes up, HELLO out.
  Hello Reconnect(Uplink& u) {
    EXPECT_EQ(u.phase(), Uplink::Phase::kBackoff);
    return Connect(u);
  }
  // A protocol error: ERROR `code` sent, the session closed, a reconnect planned.
  static void ExpectProtocolError(const Uplink& u, const Out& out, ErrorCode code) {
    EXPECT_EQ(ErrorSent(out), code);
    EXPECT_TRUE(out.closed);
    EXPECT_TRUE(Armed(out, TimerId::kReconnect).has_value());
    EXPECT_EQ(u.phase(), Uplink::Phase::kBackoff);
  }
};

// ---- connecting and the handshake ----

TEST_F(UplinkFailure, ConnectThatNeverCompletesIsAbandonedAtTheDeadline) {
  auto u = Make({});
  u->Start();
  Out start = Take(u->TakeActions());
  EXPECT_TRUE(start.connect);
  EXPECT_EQ(Armed(start, TimerId::kHandshake), options_.handshake_timeout_ms);

  Out out = Timer(*u, TimerId::kHandshake);
  EXPECT_TRUE(out.closed) << "the connect attempt is cancelled";
  EXPECT_TRUE(out.sent.empty()) << "nothing can be sent without a connection";
  EXPECT_TRUE(LoggedEvent(out, "handshake_timeout"));
  EXPECT_TRUE(Armed(out, TimerId::kReconnect).has_value());
  EXPECT_EQ(u->phase(), Uplink::Phase::kBackoff);
  EXPECT_EQ(u->attempts(), 1u);

  // The abandoned attempt completing late changes nothing.
  u->OnConnected();
  Out late = Take(u->TakeActions());
  EXPECT_TRUE(late.sent.empty());
  EXPECT_EQ(u->phase(), Uplink::Phase::kBackoff);
}

TEST_F(UplinkFailure, CentralThatNeverWelcomesIsDroppedAtTheHandshakeDeadline) {
  auto u = Make({});
  Connect(*u);
  EXPECT_EQ(u->phase(), Uplink::Phase::kAwaitWelcome);
  Out out = Timer(*u, TimerId::kHandshake);
  EXPECT_TRUE(out.closed);
  EXPECT_FALSE(ErrorSent(out).has_value()) << "a timeout is not the peer's protocol error";
  EXPECT_TRUE(LoggedEvent(out, "handshake_timeout"));
  EXPECT_TRUE(Armed(out, TimerId::kReconnect).has_value());
  EXPECT_EQ(u->phase(), Uplink::Phase::kBackoff);
  // A WELCOME that arrives after that is not read: the session is gone.
  EXPECT_TRUE(Feed(*u, Welcome{1, "central", "g-1", 0, 0}).sent.empty());
  EXPECT_EQ(u->phase(), Uplink::Phase::kBackoff);
}

TEST_F(UplinkFailure, TimersOfAnEndedPhaseDoNothing) {
  auto u = Idle();
  // The handshake deadline of an established session (its cancel raced the timer).
  Out handshake = Timer(*u, TimerId::kHandshake);
  EXPECT_FALSE(handshake.closed);
  EXPECT_TRUE(handshake.logs.empty());
  EXPECT_EQ(u->phase(), Uplink::Phase::kSyncing);
  // The reconnect timer while connected.
  EXPECT_FALSE(Timer(*u, TimerId::kReconnect).connect);

  u->OnDisconnected("reset by peer");
  Take(u->TakeActions());
  // The read deadline and heartbeat of the lost connection.
  Out deadline = Timer(*u, TimerId::kReadDeadline);
  EXPECT_FALSE(deadline.closed);
  EXPECT_TRUE(deadline.logs.empty());
  EXPECT_TRUE(Timer(*u, TimerId::kHeartbeat).sent.empty()) << "no PING without a connection";
  EXPECT_EQ(u->phase(), Uplink::Phase::kBackoff);
}

TEST_F(UplinkFailure, StartWhileRunningIsIgnored) {
  auto u = Make({});
  u->Start();
  EXPECT_TRUE(Take(u->TakeActions()).connect);
  u->Start();
  EXPECT_FALSE(Take(u->TakeActions()).connect) << "one connection attempt at a time";
  EXPECT_EQ(u->phase(), Uplink::Phase::kConnecting);
}

TEST_F(UplinkFailure, StopWhileConnectingCancelsTheAttemptWithoutAnError) {
  auto u = Make({});
  u->Start();
  Take(u->TakeActions());
  u->Stop("admin pause");
  Out out = Take(u->TakeActions());
  EXPECT_TRUE(out.closed);
  EXPECT_TRUE(out.sent.empty());
  EXPECT_EQ(u->phase(), Uplink::Phase::kStopped);
  // Stopping again, a reconnect timer or a late connect change nothing.
  u->Stop("again");
  EXPECT_FALSE(Take(u->TakeActions()).closed);
  EXPECT_FALSE(Timer(*u, TimerId::kReconnect).connect);
  u->OnConnected();
  EXPECT_TRUE(Take(u->TakeActions()).sent.empty());
  EXPECT_EQ(u->phase(), Uplink::Phase::kStopped);
  u->Resume();
  EXPECT_TRUE(Take(u->TakeActions()).connect);
}

TEST_F(UplinkFailure, WelcomeWithAVersionWeDoNotSpeakIsRefused) {
  // (Version 0 does not decode: the codec refuses it before the uplink sees it.)
  auto u = Make({0, 0, 0, "g-1", std::nullopt});
  Connect(*u);
  Out out = Feed(*u, Welcome{kMaxProtocolVersion + 1, "central", "g-1", 0, 0});
  ExpectProtocolError(*u, out, ErrorCode::kUnsupportedVersion);
  EXPECT_TRUE(out.work.empty()) << "no cursor is changed by a refused WELCOME";
  EXPECT_EQ(u->state().generation, "g-1");
}

TEST_F(UplinkFailure, CentralBehindWhatItAcknowledgedResyncs) {
  // Central restored from a backup of the same generation: it lost pushes it had
  // acknowledged. Our pushes are renumbered after what it has; the pull cursor is bounded
  // by its head.
  auto u = Make({/*built=*/9, /*acked=*/7, /*pull=*/70, "g-1", std::nullopt});
  Connect(*u);
  Out out = Feed(*u, Welcome{1, "central", "g-1", /*applied=*/4, /*head=*/50});
  ASSERT_EQ(out.work.size(), 1u);
  const auto* r = std::get_if<Resync>(&out.work[0]);
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->central_applied, 4u);
  EXPECT_EQ(r->pull, 50u);
  EXPECT_EQ(u->state().built_seq, 4u);
  EXPECT_EQ(u->state().acked_seq, 4u);
  EXPECT_EQ(u->state().pull_seq, 50u);
  EXPECT_TRUE(LoggedEvent(out, "resync"));
}

TEST_F(UplinkFailure, FirstWelcomeRemembersTheGenerationAndAFailedSaveIsRetried) {
  options_.backoff_base_ms = 100;
  auto u = Make({0, 0, 0, /*generation=*/"", std::nullopt});
  Connect(*u);
  Out out = Feed(*u, Welcome{1, "central", "g-1", 0, 0});
  ASSERT_FALSE(out.work.empty());
  const auto* save = std::get_if<SaveGeneration>(&out.work[0]);
  ASSERT_NE(save, nullptr) << "a first connection is not a resync";
  EXPECT_EQ(save->generation, "g-1");

  Out failed = Result(*u, StoreDone{false, "disk I/O error"});
  EXPECT_TRUE(LoggedEvent(failed, "store_failed"));
  EXPECT_EQ(Armed(failed, TimerId::kRetry), 100);
  EXPECT_FALSE(failed.closed) << "bookkeeping failing does not end the session";
  Result(*u, PushesReady{});  // the fetch held behind it

  Out retry = Timer(*u, TimerId::kRetry);
  ASSERT_FALSE(retry.work.empty());
  const auto* again = std::get_if<SaveGeneration>(&retry.work[0]);
  ASSERT_NE(again, nullptr);
  EXPECT_EQ(again->generation, "g-1");
  EXPECT_TRUE(Result(*u, StoreDone{}).work.empty());
  // Done: the next retry timer has nothing to redo.
  EXPECT_TRUE(Timer(*u, TimerId::kRetry).work.empty());
}

TEST_F(UplinkFailure, FailedResyncStartsOverOnANewSession) {
  auto u = Make({5, 5, 10, "g-old", std::nullopt});
  Connect(*u);
  Out out = Feed(*u, Welcome{1, "central", "g-new", 0, 10});
  ASSERT_EQ(out.work.size(), 1u);
  ASSERT_TRUE(std::holds_alternative<Resync>(out.work[0]));
  Out failed = Result(*u, StoreDone{false, "database is locked"});
  EXPECT_TRUE(failed.closed) << "no push may go out before the resync is durable";
  EXPECT_TRUE(failed.sent.empty());
  EXPECT_TRUE(failed.work.empty()) << "the fetch behind the resync is dropped";
  EXPECT_TRUE(Armed(failed, TimerId::kReconnect).has_value());
  EXPECT_EQ(u->phase(), Uplink::Phase::kBackoff);

  // The next session asks for the resync again before anything is pushed, although the
  // cursors the uplink holds now match central's.
  Reconnect(*u);
  Out again = Feed(*u, Welcome{1, "central", "g-new", 0, 10});
  ASSERT_EQ(again.work.size(), 1u);
  const auto* r = std::get_if<Resync>(&again.work[0]);
  ASSERT_NE(r, nullptr) << "the store still holds the old generation's outbox and cursor";
  EXPECT_EQ(r->central_applied, 0u);
  EXPECT_EQ(r->pull, 10u);
  EXPECT_EQ(r->generation, "g-new");
  Out done = Result(*u, StoreDone{});
  ASSERT_EQ(done.work.size(), 1u);
  EXPECT_TRUE(std::holds_alternative<FetchPushes>(done.work[0])) << "pushes follow the resync";

  // Durable now: a third session does not resync.
  u->OnDisconnected("reset by peer");
  Take(u->TakeActions());
  Result(*u, PushesReady{});
  Reconnect(*u);
  Out third = Feed(*u, Welcome{1, "central", "g-new", 0, 10});
  ASSERT_EQ(third.work.size(), 1u);
  EXPECT_TRUE(std::holds_alternative<FetchPushes>(third.work[0]));
}

TEST_F(UplinkFailure, ResyncFailingAfterTheConnectionWentIsOwedToTheNextSession) {
  auto u = Make({5, 5, 10, "g-old", std::nullopt});
  Connect(*u);
  Feed(*u, Welcome{1, "central", "g-new", 0, 10});
  u->OnDisconnected("reset by peer");
  Take(u->TakeActions());
  Out failed = Result(*u, StoreDone{false, "database is locked"});
  EXPECT_TRUE(LoggedEvent(failed, "store_failed"));
  EXPECT_FALSE(failed.closed) << "nothing to close";
  EXPECT_FALSE(Armed(failed, TimerId::kReconnect).has_value()) << "already planned";
  Reconnect(*u);
  Out again = Feed(*u, Welcome{1, "central", "g-new", 0, 10});
  ASSERT_EQ(again.work.size(), 1u);
  EXPECT_TRUE(std::holds_alternative<Resync>(again.work[0]));
}

TEST_F(UplinkFailure, FailedRejectionRecordIsLoggedNotRetried) {
  auto u = Welcomed({1, 0, 0, "g-1", std::nullopt});
  PushesReady ready;
  ready.entries = {{1, FakeEnvelope()}};
  ASSERT_EQ(Result(*u, ready).sent.size(), 1u);
  Feed(*u, Nack{AckOf::kPush, 1, NackCode::kPartial, "1 row refused", {{"student", "r-1", 2}}});
  Out record = Result(*u, StoreDone{});  // AckPushes done; RecordRejections issued
  ASSERT_FALSE(record.work.empty());
  ASSERT_TRUE(std::holds_alternative<RecordRejections>(record.work[0]));
  Out failed = Result(*u, StoreDone{false, "disk full"});
  EXPECT_TRUE(LoggedEvent(failed, "store_failed"));
  EXPECT_FALSE(Armed(failed, TimerId::kRetry).has_value());
  EXPECT_FALSE(failed.closed);
  EXPECT_EQ(u->state().acked_seq, 1u);
}

// ---- errors and refusals from central ----

TEST_F(UplinkFailure, ErrorsFromCentralAreLoggedAndOnlyPermanentOnesBackOffLong) {
  options_.backoff_base_ms = 1'000;
  options_.backoff_max_ms = 64'000;
  struct Case {
    ErrorCode code;
    bool persistent;
  };
  for (const Case c : {Case{ErrorCode::kUnsupportedVersion, true},
                       Case{ErrorCode::kOverloaded, false}, Case{ErrorCode::kInternal, false}}) {
    SCOPED_TRACE(static_cast<int>(c.code));
    auto u = Idle();
    env_.next_random = 0;
    Out out = Feed(*u, ErrorMessage{c.code, "refused"});
    EXPECT_TRUE(out.closed);
    EXPECT_TRUE(out.sent.empty()) << "an ERROR is not answered";
    EXPECT_TRUE(LoggedEvent(out, "error_from_central"));
    const auto delay = Armed(out, TimerId::kReconnect);
    ASSERT_TRUE(delay.has_value());
    if (c.persistent) {
      EXPECT_EQ(*delay, 32'000) << "the cap, halved by the jitter draw 0";
    } else {
      EXPECT_EQ(*delay, 500) << "the base delay, halved by the jitter draw 0";
    }
    EXPECT_EQ(u->phase(), Uplink::Phase::kBackoff);
  }
}

TEST_F(UplinkFailure, ErrorWhileAwaitingWelcomeEndsTheAttempt) {
  auto u = Make({});
  Connect(*u);
  Out out = Feed(*u, ErrorMessage{ErrorCode::kShuttingDown, "central stopping"});
  EXPECT_TRUE(out.closed);
  EXPECT_TRUE(Armed(out, TimerId::kReconnect).has_value());
  EXPECT_EQ(u->phase(), Uplink::Phase::kBackoff);
  EXPECT_EQ(u->attempts(), 1u);
}

TEST_F(UplinkFailure, GarbageFromCentralIsAnsweredMalformedAndReconnected) {
  auto u = Idle();
  u->OnBytes(Bytes{0, 0, 0, 3, 0xc1, 0xc1, 0xc1});
  Out out = Take(u->TakeActions());
  EXPECT_EQ(ErrorSent(out), ErrorCode::kMalformed);
  EXPECT_TRUE(out.closed);
  EXPECT_TRUE(LoggedEvent(out, "malformed_from_central"));
  EXPECT_TRUE(Armed(out, TimerId::kReconnect).has_value());
  EXPECT_EQ(u->phase(), Uplink::Phase::kBackoff);
}

TEST_F(UplinkFailure, FramesBehindAnErrorInTheSameReadAreNotHandled) {
  auto u = Idle();
  Bytes bytes = FrameOf(ErrorMessage{ErrorCode::kInternal, "central failed"});
  const Bytes ack = FrameOf(Ack{AckOf::kPush, 5});  // would be a protocol error if read
  bytes.insert(bytes.end(), ack.begin(), ack.end());
  u->OnBytes(bytes);
  Out out = Take(u->TakeActions());
  EXPECT_TRUE(out.closed);
  EXPECT_TRUE(out.sent.empty()) << "the ACK after the ERROR was not read";
  EXPECT_EQ(u->phase(), Uplink::Phase::kBackoff);
}

TEST_F(UplinkFailure, MessagesOutOfPlaceAreUnexpected) {
  {
    auto u = Make({});
    Connect(*u);
    ExpectProtocolError(*u, Feed(*u, Ack{AckOf::kPush, 1}), ErrorCode::kUnexpectedMessage);
  }
  {
    auto u = Idle();
    ExpectProtocolError(*u, Feed(*u, Welcome{1, "central", "g-1", 0, 0}),
                        ErrorCode::kUnexpectedMessage);
  }
  {
    auto u = Idle();
    ExpectProtocolError(*u, Feed(*u, Hello{1, 1, "central", 0, 0, "", {}}),
                        ErrorCode::kUnexpectedMessage);
  }
}

TEST_F(UplinkFailure, AckOrNackOfChangesIsWhatTheUnitSendsNotReceives) {
  {
    auto u = Idle();
    ExpectProtocolError(*u, Feed(*u, Ack{AckOf::kChanges, 1}), ErrorCode::kUnexpectedMessage);
  }
  {
    auto u = Idle();
    ExpectProtocolError(*u, Feed(*u, Nack{AckOf::kChanges, 1, NackCode::kBusy, "busy", {}}),
                        ErrorCode::kUnexpectedMessage);
  }
}

TEST_F(UplinkFailure, PartialNackForAPushNeverSentIsAProtocolError) {
  auto u = Idle();
  Out out = Feed(*u, Nack{AckOf::kPush, 3, NackCode::kPartial, "refused", {{"t", "r-1", 1}}});
  ExpectProtocolError(*u, out, ErrorCode::kInternal);
  EXPECT_TRUE(out.work.empty()) << "nothing acknowledged, nothing recorded";
  EXPECT_EQ(u->state().acked_seq, 0u);
}

TEST_F(UplinkFailure, PushNackedBusyInternalOrOutOfOrderIsResentFromCentralsCursor) {
  for (NackCode code : {NackCode::kBusy, NackCode::kInternal, NackCode::kOutOfOrder}) {
    SCOPED_TRACE(static_cast<int>(code));
    auto u = Welcomed({2, 0, 0, "g-1", std::nullopt});
    PushesReady ready;
    ready.entries = {{1, FakeEnvelope()}, {2, FakeEnvelope()}};
    ASSERT_EQ(Result(*u, ready).sent.size(), 2u);
    Out out = Feed(*u, Nack{AckOf::kPush, 1, code, "not now", {}});
    EXPECT_TRUE(out.closed);
    EXPECT_FALSE(ErrorSent(out).has_value());
    EXPECT_TRUE(LoggedEvent(out, "push_nacked"));
    EXPECT_FALSE(LoggedEvent(out, "push_blocked"));
    EXPECT_TRUE(Armed(out, TimerId::kReconnect).has_value());
    EXPECT_EQ(u->state().acked_seq, 0u);

    Reconnect(*u);
    Out welcomed = Feed(*u, Welcome{1, "central", "g-1", 0, 0});
    ASSERT_EQ(welcomed.work.size(), 1u);
    EXPECT_EQ(std::get<FetchPushes>(welcomed.work[0]).after_seq, 0u) << "push 1 goes again";
  }
}

TEST_F(UplinkFailure, PushResentAfterACorruptNackAndThenAcknowledgedKeepsPushing) {
  auto u = Welcomed({2, 0, 0, "g-1", std::nullopt});
  PushesReady both;
  both.entries = {{1, FakeEnvelope()}, {2, FakeEnvelope()}};
  ASSERT_EQ(Result(*u, both).sent.size(), 2u);
  Feed(*u, Nack{AckOf::kPush, 1, NackCode::kCorrupt, "tag mismatch", {}});
  Reconnect(*u);
  Feed(*u, Welcome{1, "central", "g-1", 0, 0});
  ASSERT_EQ(Result(*u, both).sent.size(), 2u);

  Out acked = Feed(*u, Ack{AckOf::kPush, 1});
  EXPECT_FALSE(acked.closed);
  EXPECT_EQ(u->state().acked_seq, 1u);
  // Push 2 refused corrupt is its own first refusal: resent, not blocked.
  Out second = Feed(*u, Nack{AckOf::kPush, 2, NackCode::kCorrupt, "tag mismatch", {}});
  EXPECT_TRUE(second.closed);
  EXPECT_FALSE(LoggedEvent(second, "push_blocked"));
  EXPECT_TRUE(Armed(second, TimerId::kReconnect).has_value());
}

// ---- store answers for a connection that has gone ----

TEST_F(UplinkFailure, PushesBuiltForALostConnectionAreNotSentButKept) {
  auto u = Welcomed({0, 0, 0, "g-1", std::nullopt});  // FetchPushes outstanding
  u->OnDisconnected("reset by peer");
  Take(u->TakeActions());
  PushesReady ready;
  ready.entries = {{1, FakeEnvelope()}};
  Out out = Result(*u, ready);
  EXPECT_TRUE(out.sent.empty());
  EXPECT_TRUE(out.work.empty()) << "nothing is fetched while disconnected";
  EXPECT_EQ(u->state().built_seq, 1u) << "what the store built is remembered";
}

TEST_F(UplinkFailure, PushesBuiltForAnEarlierConnectionAreNotSentOnTheNextOne) {
  auto u = Welcomed({0, 0, 0, "g-1", std::nullopt});  // fetch for connection 1 outstanding
  u->OnDisconnected("reset by peer");
  Take(u->TakeActions());
  Reconnect(*u);
  Out welcomed = Feed(*u, Welcome{1, "central", "g-1", 0, 0});
  EXPECT_TRUE(welcomed.work.empty()) << "the new fetch waits behind the outstanding one";

  PushesReady stale;
  stale.entries = {{1, FakeEnvelope()}};
  Out out = Result(*u, stale);
  EXPECT_TRUE(out.sent.empty()) << "an answer for connection 1 is not sent on connection 2";
  ASSERT_EQ(out.work.size(), 1u);
  EXPECT_EQ(std::get<FetchPushes>(out.work[0]).after_seq, 0u);

  Out fresh = Result(*u, stale);
  ASSERT_EQ(fresh.sent.size(), 1u);
  EXPECT_EQ(std::get<Push>(fresh.sent[0]).seq, 1u);
}

TEST_F(UplinkFailure, PushesNotDueAreSkipped) {
  auto u = Welcomed({0, 0, 0, "g-1", std::nullopt});
  PushesReady ready;
  ready.entries = {{1, FakeEnvelope()}, {3, FakeEnvelope()}};  // 2 is due after 1
  Out out = Result(*u, ready);
  ASSERT_EQ(out.sent.size(), 1u);
  EXPECT_EQ(std::get<Push>(out.sent[0]).seq, 1u);
  EXPECT_EQ(u->in_flight(), 1u);
  EXPECT_EQ(u->state().built_seq, 3u);
}

TEST_F(UplinkFailure, ChangesAppliedAfterTheConnectionWentAdvanceTheCursorSilently) {
  auto u = Idle({0, 0, 10, "g-1", std::nullopt});
  ASSERT_EQ(Feed(*u, Changes{11, 20, FakeEnvelope()}).work.size(), 1u);
  u->OnDisconnected("reset by peer");
  Take(u->TakeActions());
  Out out = Result(*u, ChangesApplied{});
  EXPECT_TRUE(out.sent.empty());
  EXPECT_EQ(u->state().pull_seq, 20u) << "applied and durable: the cursor moves";
}

TEST_F(UplinkFailure, ChangesNotAppliedAfterTheConnectionWentAreOnlyLogged) {
  auto u = Idle({0, 0, 10, "g-1", std::nullopt});
  Feed(*u, Changes{11, 20, FakeEnvelope()});
  u->OnDisconnected("reset by peer");
  Take(u->TakeActions());
  ChangesApplied busy;
  busy.outcome = ApplyOutcome::kBusy;
  busy.error = "database is locked";
  Out out = Result(*u, busy);
  EXPECT_TRUE(out.sent.empty());
  EXPECT_TRUE(LoggedEvent(out, "changes_not_applied"));
  EXPECT_EQ(u->state().pull_seq, 10u);
}

// ---- CHANGES the unit could not apply ----

TEST_F(UplinkFailure, ChangesNotAppliedAreNackedWithTheCodeOfTheOutcome) {
  struct Case {
    ApplyOutcome outcome;
    NackCode code;
  };
  for (const Case c : {Case{ApplyOutcome::kCorrupt, NackCode::kCorrupt},
                       Case{ApplyOutcome::kMalformed, NackCode::kMalformed},
                       Case{ApplyOutcome::kBusy, NackCode::kBusy},
                       Case{ApplyOutcome::kInternal, NackCode::kInternal}}) {
    SCOPED_TRACE(static_cast<int>(c.outcome));
    auto u = Idle({0, 0, 10, "g-1", std::nullopt});
    ASSERT_EQ(Feed(*u, Changes{11, 12, FakeEnvelope()}).work.size(), 1u);
    EXPECT_TRUE(Feed(*u, Changes{13, 14, FakeEnvelope()}).work.empty()) << "held behind";
    ChangesApplied failed;
    failed.outcome = c.outcome;
    failed.error = "step failed";
    Out out = Result(*u, failed);
    const auto* nack = Only<Nack>(out.sent);
    ASSERT_NE(nack, nullptr);
    EXPECT_EQ(nack->of, AckOf::kChanges);
    EXPECT_EQ(nack->seq, 12u);
    EXPECT_EQ(nack->code, c.code);
    EXPECT_TRUE(out.work.empty()) << "the range queued behind it would be a gap: dropped";
    EXPECT_TRUE(LoggedEvent(out, "changes_not_applied"));
    EXPECT_EQ(u->state().pull_seq, 10u);
    EXPECT_FALSE(out.closed) << "the session stays; central rewinds";

    // Central rewinds: the range after our cursor is applied again; the stale one behind
    // it raises no second report.
    EXPECT_TRUE(Feed(*u, Changes{13, 14, FakeEnvelope()}).sent.empty());
    Out again = Feed(*u, Changes{11, 12, FakeEnvelope()});
    ASSERT_EQ(again.work.size(), 1u);
    EXPECT_EQ(std::get<ApplyChanges>(again.work[0]).from, 11u);
  }
}

TEST_F(UplinkFailure, ChangesWithRowsTheUnitRefusedAreNackedPartialWithTheRows) {
  auto u = Idle({0, 0, 10, "g-1", std::nullopt});
  Feed(*u, Changes{11, 20, FakeEnvelope()});
  ChangesApplied applied;
  applied.rejected = {{"student", "0190a000-0000-7000-8000-000000000001", 3},
                      {"grade", "0190a000-0000-7000-8000-000000000002", 4}};
  Out out = Result(*u, applied);
  const auto* nack = Only<Nack>(out.sent);
  ASSERT_NE(nack, nullptr);
  EXPECT_EQ(nack->of, AckOf::kChanges);
  EXPECT_EQ(nack->code, NackCode::kPartial);
  EXPECT_EQ(nack->seq, 20u);
  EXPECT_EQ(nack->rows, applied.rejected);
  EXPECT_TRUE(LoggedEvent(out, "changes_rows_rejected"));
  EXPECT_EQ(u->state().pull_seq, 20u) << "a partial apply consumes the range";
}

TEST_F(UplinkFailure, PartialNackCarriesAtMostTheRowLimit) {
  auto u = Idle({0, 0, 10, "g-1", std::nullopt});
  Feed(*u, Changes{11, 20, FakeEnvelope()});
  ChangesApplied applied;
  for (size_t i = 0; i < kMaxNackRows + 5; ++i) {
    applied.rejected.push_back({"t", "r-" + std::to_string(i), 1});
  }
  Out out = Result(*u, applied);
  const auto* nack = Only<Nack>(out.sent);
  ASSERT_NE(nack, nullptr);
  EXPECT_EQ(nack->rows.size(), kMaxNackRows);
  EXPECT_EQ(nack->rows.back().id, "r-" + std::to_string(kMaxNackRows - 1));
}

TEST_F(UplinkFailure, RepeatedChangesAreAcknowledgedAgainOnlyOnceApplied) {
  auto u = Idle({0, 0, 10, "g-1", std::nullopt});
  ASSERT_EQ(Feed(*u, Changes{11, 20, FakeEnvelope()}).work.size(), 1u);
  Out queued = Feed(*u, Changes{11, 20, FakeEnvelope()});
  EXPECT_TRUE(queued.sent.empty()) << "queued, not yet durable: nothing to acknowledge";
  EXPECT_TRUE(queued.work.empty()) << "never applied twice";
  Result(*u, ChangesApplied{});
  Out repeat = Feed(*u, Changes{15, 20, FakeEnvelope()});
  const auto* ack = Only<Ack>(repeat.sent);
  ASSERT_NE(ack, nullptr);
  EXPECT_EQ(ack->of, AckOf::kChanges);
  EXPECT_EQ(ack->seq, 20u);
  EXPECT_TRUE(repeat.work.empty());
}

// ---- store results the uplink did not ask for ----

TEST_F(UplinkFailure, StoreResultNobodyAskedForIsLoggedAndIgnored) {
  auto u = Idle();
  Out out = Result(*u, StoreDone{});
  EXPECT_TRUE(LoggedEvent(out, "unexpected_store_result"));
  EXPECT_TRUE(out.sent.empty());
  EXPECT_TRUE(out.work.empty());
  EXPECT_EQ(u->phase(), Uplink::Phase::kSyncing);
}

TEST_F(UplinkFailure, StoreResultOfTheWrongKindIsLoggedAndIgnored) {
  const std::vector<StoreResult> wrong = {ChangesApplied{}, DigestsComputed{},
                                          SnapshotChunkApplied{}, UnitLoaded{}};
  for (size_t i = 0; i < wrong.size(); ++i) {
    SCOPED_TRACE(i);
    auto u = Welcomed();  // a FetchPushes is outstanding
    Out out = Result(*u, wrong[i]);
    EXPECT_TRUE(LoggedEvent(out, "mismatched_store_result"));
    EXPECT_TRUE(out.sent.empty());
    EXPECT_EQ(u->phase(), Uplink::Phase::kSyncing);
  }
  auto u = Idle();
  Feed(*u, Changes{1, 2, FakeEnvelope()});  // an ApplyChanges is outstanding
  EXPECT_TRUE(LoggedEvent(Result(*u, PushesReady{}), "mismatched_store_result"));
  EXPECT_EQ(u->state().pull_seq, 0u);
}

}  // namespace
}  // namespace unitsync::protocol
