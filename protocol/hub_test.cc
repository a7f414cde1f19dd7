// Central's session alone, driven event by event: what it sends, which timers it arms
// and which store work it asks for. (Wired to units with real replicas:
// tests/sync_link_test.cc.)
#include "protocol/hub.h"

#include <algorithm>

#include "protocol/sync_test_util.h"

namespace unitsync::protocol {
namespace {

using namespace testing;  // NOLINT: the fixture helpers

class Hub : public ::testing::Test {
 protected:
  Hub() : hub_("central", "unit-0001", options_, env_) {}

  Out Feed(const Message& m) {
    hub_.OnBytes(FrameOf(m));
    return Take(hub_.TakeActions());
  }
  Out Result(StoreResult r) {
    hub_.OnStoreResult(std::move(r));
    return Take(hub_.TakeActions());
  }
  // HELLO + LoadUnit answered: the session is syncing.
  Out Handshake(uint64_t applied, uint64_t pull, uint64_t head) {
    hub_.OnConnected();
    Take(hub_.TakeActions());
    Out hello = Feed(Hello{1, 1, "unit-0001", applied, pull, "g-1", {}});
    EXPECT_EQ(hello.work.size(), 1u);
    return Result(UnitLoaded{true, "", applied, head, "g-1", 0});
  }

  FakeEnv env_;
  SyncOptions options_;
  HubSession hub_;
};

TEST_F(Hub, HelloNamingAnotherUnitIsRefused) {
  hub_.OnConnected();
  Take(hub_.TakeActions());
  Out out = Feed(Hello{1, 1, "unit-0002", 0, 0, "", {}});
  const auto* e = Only<ErrorMessage>(out.sent);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->code, ErrorCode::kNotAuthorized);
  EXPECT_TRUE(out.closed);
  EXPECT_TRUE(out.work.empty());
  EXPECT_EQ(hub_.phase(), HubSession::Phase::kClosed);
}

TEST_F(Hub, AUnitTheTrimmedLogNoLongerReachesIsToldToReseed) {
  hub_.OnConnected();
  Take(hub_.TakeActions());
  Out hello = Feed(Hello{1, 1, "unit-0001", 4, 17, "g-1", {}});
  ASSERT_EQ(hello.work.size(), 1u);
  const auto& load = std::get<LoadUnit>(hello.work[0]);
  EXPECT_TRUE(load.hello);
  EXPECT_EQ(load.pull, 17u) << "central's log GC needs the unit's pull cursor";
  UnitLoaded loaded{true, "", 4, 900, "g-1", 0};
  loaded.must_reseed = true;
  Out out = Result(loaded);
  const auto* e = Only<ErrorMessage>(out.sent);
  ASSERT_NE(e, nullptr) << "no WELCOME, no fan-out: the log cannot bring it up to date";
  EXPECT_EQ(e->code, ErrorCode::kReseedRequired);
  EXPECT_TRUE(out.closed);
}

TEST_F(Hub, AUnitAlreadyAskingForASnapshotGetsItAlthoughTheLogWasTrimmed) {
  hub_.OnConnected();
  Take(hub_.TakeActions());
  Feed(Hello{1, 1, "unit-0001", 0, 17, "g-1", SeedRequest{"snap-1", 0, "", ""}});
  UnitLoaded loaded{true, "", 0, 900, "g-1", 0};
  loaded.must_reseed = true;
  Out out = Result(loaded);
  EXPECT_NE(Only<Welcome>(out.sent), nullptr);
  ASSERT_EQ(out.work.size(), 1u);
  EXPECT_TRUE(std::holds_alternative<StartSnapshot>(out.work[0]));
}

TEST_F(Hub, NoCommonVersionIsRefused) {
  hub_.OnConnected();
  Take(hub_.TakeActions());
  Out out = Feed(Hello{2, 3, "unit-0001", 0, 0, "", {}});
  const auto* e = Only<ErrorMessage>(out.sent);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->code, ErrorCode::kUnsupportedVersion);
  EXPECT_TRUE(out.closed);
}

TEST_F(Hub, PushBeforeHelloIsUnexpected) {
  hub_.OnConnected();
  Take(hub_.TakeActions());
  Out out = Feed(Push{1, FakeEnvelope()});
  const auto* e = Only<ErrorMessage>(out.sent);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->code, ErrorCode::kUnexpectedMessage);
  EXPECT_TRUE(out.work.empty());
}

TEST_F(Hub, GarbageClosesTheSessionWithMalformed) {
  hub_.OnConnected();
  Take(hub_.TakeActions());
  hub_.OnBytes(Bytes{0, 0, 0, 3, 0xc1, 0xc1, 0xc1});
  Out out = Take(hub_.TakeActions());
  const auto* e = Only<ErrorMessage>(out.sent);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->code, ErrorCode::kMalformed);
  EXPECT_TRUE(out.closed);
}

TEST_F(Hub, HandshakeDeadlineClosesASilentPeer) {
  hub_.OnConnected();
  Out armed = Take(hub_.TakeActions());
  EXPECT_EQ(Armed(armed, TimerId::kHandshake), options_.handshake_timeout_ms);
  hub_.OnTimer(TimerId::kHandshake);
  EXPECT_TRUE(Take(hub_.TakeActions()).closed);
}

TEST_F(Hub, WelcomeCarriesCursorsAndFanOutStartsAtTheUnitsPull) {
  Out out = Handshake(/*applied=*/2, /*pull=*/7, /*head=*/20);
  const auto* w = Only<Welcome>(out.sent);
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(w->applied_seq, 2u);
  EXPECT_EQ(w->log_head, 20u);
  EXPECT_EQ(w->generation, "g-1");
  ASSERT_EQ(out.work.size(), 1u);  // AckChanges(7) issued; BuildChanges held behind it
  EXPECT_EQ(std::get<AckChanges>(out.work[0]).seq, 7u);
  Out next = Result(StoreDone{});
  ASSERT_EQ(next.work.size(), 1u);
  const auto& b = std::get<BuildChanges>(next.work[0]);
  EXPECT_EQ(b.after_seq, 7u);
  EXPECT_EQ(b.from, 8u);
}

TEST_F(Hub, RepeatedPushesAreAcknowledgedNotReappliedAndAGapIsReportedOnce) {
  Handshake(/*applied=*/2, 0, 0);
  Result(ChangesBuilt{true, "", 0, 0, {}, false});  // nothing to fan out

  Out dup = Feed(Push{2, FakeEnvelope()});
  const auto* ack = Only<Ack>(dup.sent);
  ASSERT_NE(ack, nullptr);
  EXPECT_EQ(ack->seq, 2u);
  EXPECT_TRUE(dup.work.empty()) << "an applied push must not be applied again";

  Out fresh = Feed(Push{3, FakeEnvelope()});
  ASSERT_EQ(fresh.work.size(), 1u);
  EXPECT_EQ(std::get<ApplyPush>(fresh.work[0]).seq, 3u);
  EXPECT_TRUE(Feed(Push{3, FakeEnvelope()}).sent.empty()) << "in the store queue already";

  PushApplied done;
  done.applied_seq = 3;
  done.log_advanced = true;
  Out applied = Result(done);
  ack = Only<Ack>(applied.sent);
  ASSERT_NE(ack, nullptr);
  EXPECT_EQ(ack->seq, 3u);
  EXPECT_TRUE(applied.log_advanced);

  Out gap = Feed(Push{5, FakeEnvelope()});
  const auto* nack = Only<Nack>(gap.sent);
  ASSERT_NE(nack, nullptr);
  EXPECT_EQ(nack->code, NackCode::kOutOfOrder);
  EXPECT_TRUE(Feed(Push{6, FakeEnvelope()}).sent.empty());
  EXPECT_EQ(hub_.applied_seq(), 3u);
}

TEST_F(Hub, RefusedRowsAreReportedAndTheSeqIsConsumed) {
  Handshake(0, 0, 0);
  Result(ChangesBuilt{true, "", 0, 0, {}, false});
  Feed(Push{1, FakeEnvelope()});
  PushApplied done;
  done.applied_seq = 1;
  done.rejected = {{"student", "0190a000-0000-7000-8000-000000000001", 2}};
  Out out = Result(done);
  const auto* nack = Only<Nack>(out.sent);
  ASSERT_NE(nack, nullptr);
  EXPECT_EQ(nack->code, NackCode::kPartial);
  EXPECT_EQ(nack->rows, done.rejected);
  EXPECT_EQ(hub_.applied_seq(), 1u);
  EXPECT_EQ(Feed(Push{2, FakeEnvelope()}).work.size(), 1u) << "the next push is not blocked";
}

TEST_F(Hub, FailedApplyIsNackedAndNothingBehindItIsApplied) {
  Handshake(0, 0, 0);
  Result(ChangesBuilt{true, "", 0, 0, {}, false});
  Feed(Push{1, FakeEnvelope()});
  Feed(Push{2, FakeEnvelope()});  // held behind 1
  PushApplied corrupt;
  corrupt.outcome = ApplyOutcome::kCorrupt;
  Out out = Result(corrupt);
  const auto* nack = Only<Nack>(out.sent);
  ASSERT_NE(nack, nullptr);
  EXPECT_EQ(nack->code, NackCode::kCorrupt);
  EXPECT_EQ(nack->seq, 1u);
  EXPECT_TRUE(out.work.empty()) << "push 2 was dropped, not applied after a hole";
}

TEST_F(Hub, FanOutFoldsEmptyRangesAndKeepsTheWindow) {
  options_.window = 1;
  HubSession hub("central", "unit-0001", options_, env_);
  hub.OnConnected();
  hub.OnBytes(FrameOf(Hello{1, 1, "unit-0001", 0, 0, "", {}}));
  hub.TakeActions();
  hub.OnStoreResult(UnitLoaded{true, "", 0, 30, "g-1", 0});
  Out out = Take(hub.TakeActions());
  ASSERT_EQ(out.work.size(), 1u);
  EXPECT_EQ(std::get<BuildChanges>(out.work[0]).from, 1u);

  hub.OnStoreResult(ChangesBuilt{true, "", 10, 0, {}, true});  // 1..10: nothing for us
  out = Take(hub.TakeActions());
  EXPECT_TRUE(out.sent.empty());
  ASSERT_EQ(out.work.size(), 1u);
  EXPECT_EQ(std::get<BuildChanges>(out.work[0]).after_seq, 10u);
  EXPECT_EQ(std::get<BuildChanges>(out.work[0]).from, 1u) << "the empty range is folded in";

  hub.OnStoreResult(ChangesBuilt{true, "", 20, 4, FakeEnvelope(), true});
  out = Take(hub.TakeActions());
  const auto* ch = Only<Changes>(out.sent);
  ASSERT_NE(ch, nullptr);
  EXPECT_EQ(ch->from_seq, 1u);
  EXPECT_EQ(ch->to_seq, 20u);
  EXPECT_TRUE(out.work.empty()) << "window of 1 is full";

  hub.OnBytes(FrameOf(Ack{AckOf::kChanges, 20}));
  out = Take(hub.TakeActions());
  ASSERT_EQ(out.work.size(), 1u);
  EXPECT_EQ(std::get<AckChanges>(out.work[0]).seq, 20u);
  hub.OnStoreResult(StoreDone{});
  out = Take(hub.TakeActions());
  ASSERT_EQ(out.work.size(), 1u);
  EXPECT_EQ(std::get<BuildChanges>(out.work[0]).from, 21u);
}

TEST_F(Hub, NackedChangesRewindToTheUnitsAcknowledgedCursor) {
  Handshake(0, 0, 50);
  Result(ChangesBuilt{true, "", 10, 2, FakeEnvelope(), true});
  Out second = Result(ChangesBuilt{true, "", 20, 2, FakeEnvelope(), false});
  ASSERT_EQ(second.sent.size(), 1u);
  Out nack = Feed(Nack{AckOf::kChanges, 10, NackCode::kCorrupt, "tag", {}});
  EXPECT_EQ(Armed(nack, TimerId::kRetry), options_.backoff_base_ms);
  hub_.OnTimer(TimerId::kRetry);
  Out retry = Take(hub_.TakeActions());
  ASSERT_EQ(retry.work.size(), 1u);
  EXPECT_EQ(std::get<BuildChanges>(retry.work[0]).after_seq, 0u);
  EXPECT_EQ(std::get<BuildChanges>(retry.work[0]).from, 1u);
}

// ---- verify (FORMAT.md section 6, "Verify") ----

const VerifyPosition kUnitPos{/*push=*/4, /*pull=*/30, /*head=*/12, /*waiting=*/0};
const VerifyPosition kCentralPos{/*push=*/4, /*pull=*/30, /*head=*/35, /*waiting=*/0};

// Syncing with the store idle (nothing to fan out).
class HubVerify : public Hub {
 protected:
  HubVerify() {
    Handshake(0, 0, 0);
    Result(ChangesBuilt{true, "", 0, 0, {}, false});
  }
};

TEST_F(Hub, VerifyBeforeTheSessionIsEstablishedIsRefused) {
  EXPECT_FALSE(hub_.StartVerify(1)) << "no HELLO yet";
  hub_.OnConnected();
  Take(hub_.TakeActions());
  EXPECT_FALSE(hub_.StartVerify(1));
  Out out = Feed(Verify{1});
  const auto* e = Only<ErrorMessage>(out.sent);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->code, ErrorCode::kUnexpectedMessage);
  EXPECT_TRUE(out.closed);
  EXPECT_TRUE(out.work.empty()) << "no digest work for an unauthenticated session";
}

TEST_F(Hub, DigestsWhileLoadingAreUnexpected) {
  hub_.OnConnected();
  Take(hub_.TakeActions());
  Feed(Hello{1, 1, "unit-0001", 0, 0, "g-1", {}});  // LoadUnit outstanding: not established yet
  EXPECT_FALSE(hub_.StartVerify(1));
  Out out = Feed(Digests{1, {}, "", {}});
  const auto* e = Only<ErrorMessage>(out.sent);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->code, ErrorCode::kUnexpectedMessage);
}

TEST_F(HubVerify, AnswersTheUnitsVerifyWithCentralsDigests) {
  Out out = Feed(Verify{3});
  ASSERT_EQ(out.work.size(), 1u);
  const auto& work = std::get<ComputeDigests>(out.work[0]);
  EXPECT_EQ(work.id, 3u);
  EXPECT_TRUE(work.for_peer);
  Out answered = Result(Computed(kCentralPos, 13));
  const auto* d = Only<Digests>(answered.sent);
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->id, 3u);
  EXPECT_EQ(d->position, kCentralPos);
  EXPECT_EQ(d->tables.size(), 13u);
  EXPECT_TRUE(answered.verify_done.empty());
}

TEST_F(HubVerify, VerifyComparesTheUnitsDigestsWithCentrals) {
  ASSERT_TRUE(hub_.StartVerify(7));
  Out start = Take(hub_.TakeActions());
  const auto* v = Only<Verify>(start.sent);
  ASSERT_NE(v, nullptr);
  EXPECT_EQ(v->id, 7u);
  EXPECT_EQ(Armed(start, TimerId::kVerify), options_.verify_timeout_ms);

  // The unit has one more student than central, and 2 rows not yet pushed.
  const VerifyPosition unit_pos{4, 30, 14, 2};
  DigestsComputed unit = Computed(unit_pos, 3);
  unit.tables[2].rows = 2;
  Out got = Feed(Digests{7, unit_pos, "", unit.tables});
  ASSERT_EQ(got.work.size(), 1u);
  EXPECT_FALSE(std::get<ComputeDigests>(got.work[0]).for_peer);
  Out done = Result(Computed(kCentralPos, 3));
  ASSERT_EQ(done.verify_done.size(), 1u);
  const auto& r = done.verify_done[0].result;
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->unit, "unit-0001");
  EXPECT_EQ(r->unit_position, unit_pos) << "the peer is the unit's side";
  EXPECT_EQ(r->central_position, kCentralPos);
  EXPECT_EQ(r->differing(), 1u);
  EXPECT_EQ(r->tables[2].table, "t2");
  EXPECT_EQ(r->tables[2].unit->rows, 2u);
  EXPECT_EQ(r->tables[2].central->rows, 1u);
  EXPECT_FALSE(r->settled);
  EXPECT_NE(r->in_flight.find("2 rows written at the unit not yet pushed"), std::string::npos)
      << r->in_flight;
}

TEST_F(HubVerify, DisconnectMidVerifyEndsItWithAnError) {
  ASSERT_TRUE(hub_.StartVerify(7));
  Take(hub_.TakeActions());
  hub_.OnDisconnected("connection reset");
  Out out = Take(hub_.TakeActions());
  ASSERT_EQ(out.verify_done.size(), 1u);
  EXPECT_EQ(out.verify_done[0].id, 7u);
  ASSERT_FALSE(out.verify_done[0].result);
  EXPECT_EQ(out.verify_done[0].result.error().code, Errc::kUnavailable);
  EXPECT_FALSE(hub_.StartVerify(8)) << "closed";
}

TEST_F(HubVerify, SessionClosedByAProtocolErrorEndsPendingVerifies) {
  ASSERT_TRUE(hub_.StartVerify(7));
  Take(hub_.TakeActions());
  Out out = Feed(Hello{1, 1, "unit-0001", 0, 0, "g-1", {}});  // HELLO again: unexpected
  EXPECT_TRUE(out.closed);
  ASSERT_EQ(out.verify_done.size(), 1u);
  ASSERT_FALSE(out.verify_done[0].result);
  EXPECT_NE(out.verify_done[0].result.error().message.find("closed"), std::string::npos);
}

TEST_F(HubVerify, StoppingEndsPendingVerifies) {
  ASSERT_TRUE(hub_.StartVerify(7));
  Take(hub_.TakeActions());
  hub_.Stop();
  Out out = Take(hub_.TakeActions());
  ASSERT_EQ(out.verify_done.size(), 1u);
  EXPECT_FALSE(out.verify_done[0].result);
}

TEST_F(HubVerify, VerifyPastItsDeadlineFails) {
  ASSERT_TRUE(hub_.StartVerify(7));
  Take(hub_.TakeActions());
  env_.now += options_.verify_timeout_ms - 1;
  hub_.OnTimer(TimerId::kVerify);
  EXPECT_TRUE(Take(hub_.TakeActions()).verify_done.empty()) << "not yet";
  env_.now += 1;
  hub_.OnTimer(TimerId::kVerify);
  Out out = Take(hub_.TakeActions());
  ASSERT_EQ(out.verify_done.size(), 1u);
  ASSERT_FALSE(out.verify_done[0].result);
  EXPECT_EQ(out.verify_done[0].result.error().code, Errc::kUnavailable);
  EXPECT_FALSE(out.closed) << "a slow unit is not a broken session";
}

TEST_F(HubVerify, DigestsNobodyAskedForAreIgnored) {
  Out out = Feed(Digests{42, kUnitPos, "", {}});
  EXPECT_TRUE(out.work.empty());
  EXPECT_TRUE(out.sent.empty());
  EXPECT_FALSE(out.closed);
  EXPECT_TRUE(LoggedEvent(out, "verify_unknown_answer"));
  // A repeated answer to a verify that already has one is ignored the same way.
  ASSERT_TRUE(hub_.StartVerify(1));
  Take(hub_.TakeActions());
  Feed(Digests{1, kUnitPos, "", {}});
  Out again = Feed(Digests{1, kUnitPos, "", {}});
  EXPECT_TRUE(again.work.empty());
  EXPECT_TRUE(LoggedEvent(again, "verify_unknown_answer"));
}

TEST_F(HubVerify, VerifyWaitsBehindStoreWorkAlreadyQueued) {
  Feed(Push{1, FakeEnvelope()});  // ApplyPush outstanding
  Out out = Feed(Verify{3});
  EXPECT_TRUE(out.work.empty()) << "one store request at a time";
  PushApplied done;
  done.applied_seq = 1;
  Out next = Result(done);
  ASSERT_EQ(next.work.size(), 1u);
  EXPECT_TRUE(std::holds_alternative<ComputeDigests>(next.work[0]));
}

}  // namespace
}  // namespace unitsync::protocol
