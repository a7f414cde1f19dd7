// The unit's uplink alone, driven event by event: what it sends, which timers it arms
// and which store work it asks for. (Wired to central with real replicas:
// tests/sync_link_test.cc.)
#include "protocol/uplink.h"

#include <algorithm>

#include "protocol/uplink_fixture.h"

namespace unitsync::protocol {
namespace {

using namespace testing;  // NOLINT: the fixture helpers

class UplinkTest : public UplinkFixture {
 protected:
  // Connected, WELCOMEd, the first fetch answered with nothing to push: the store is idle.
  std::unique_ptr<Uplink> Syncing() {
    auto u = Make({0, 0, 0, "g-1", std::nullopt});
    Connect(*u);
    Feed(*u, Welcome{1, "central", "g-1", 0, 0});
    Result(*u, PushesReady{});
    return u;
  }
};

TEST_F(UplinkTest, HelloCarriesTheDurableCursors) {
  auto u = Make({5, 3, 70, "g-1", std::nullopt});
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
  auto u = Make({/*built=*/5, /*acked=*/3, /*pull=*/70, "g-old", std::nullopt});
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
  auto u = Make({/*built=*/1, 1, 0, "g-1", std::nullopt});
  Connect(*u);
  Out out = Feed(*u, Welcome{1, "central", "g-1", /*applied=*/9, 0});
  ASSERT_EQ(out.work.size(), 1u);
  EXPECT_TRUE(std::holds_alternative<Resync>(out.work[0]));
  EXPECT_EQ(u->state().built_seq, 9u) << "new pushes are numbered after what central has";
}

TEST_F(UplinkTest, PushesFlowThroughTheWindowAndAcksTrimTheOutbox) {
  options_.window = 2;
  auto u = Make({/*built=*/3, /*acked=*/1, 0, "g-1", std::nullopt});
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
  auto u = Make({1, 0, 0, "g-1", std::nullopt});
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

// A push central could not open (NACK corrupt) is sent once more on a fresh session; a
// second refusal of the same push stops pushing with an alert and no reconnect loop,
// while changes from central keep applying.
TEST_F(UplinkTest, CorruptPushIsResentOnceThenBlockedWhilePullingGoesOn) {
  auto u = Make({/*built=*/1, 0, 0, "g-1", std::nullopt});
  Connect(*u);
  Feed(*u, Welcome{1, "central", "g-1", 0, 5});
  PushesReady ready;
  ready.entries = {{1, FakeEnvelope()}};
  ASSERT_EQ(Result(*u, ready).sent.size(), 1u);

  Out first = Feed(*u, Nack{AckOf::kPush, 1, NackCode::kCorrupt, "tag mismatch", {}});
  EXPECT_TRUE(first.closed) << "the first refusal is retried on a new session";
  EXPECT_TRUE(Armed(first, TimerId::kReconnect).has_value());
  EXPECT_NE(std::find(first.logs.begin(), first.logs.end(), "push_nacked"), first.logs.end());
  u->OnTimer(TimerId::kReconnect);
  EXPECT_TRUE(Take(u->TakeActions()).connect);
  u->OnConnected();
  Take(u->TakeActions());  // HELLO
  Out welcomed = Feed(*u, Welcome{1, "central", "g-1", 0, 5});
  ASSERT_EQ(welcomed.work.size(), 1u);
  EXPECT_EQ(std::get<FetchPushes>(welcomed.work[0]).after_seq, 0u);
  Out resent = Result(*u, ready);
  ASSERT_EQ(resent.sent.size(), 1u);
  EXPECT_EQ(std::get<Push>(resent.sent[0]).seq, 1u);

  Out second = Feed(*u, Nack{AckOf::kPush, 1, NackCode::kCorrupt, "tag mismatch", {}});
  EXPECT_FALSE(second.closed) << "blocked, not reconnecting for ever";
  EXPECT_FALSE(Armed(second, TimerId::kReconnect).has_value());
  EXPECT_NE(std::find(second.logs.begin(), second.logs.end(), "push_blocked"), second.logs.end());
  u->OnLocalChange();
  EXPECT_TRUE(Take(u->TakeActions()).work.empty()) << "no push is fetched once blocked";
  EXPECT_EQ(u->state().acked_seq, 0u);

  Out changes = Feed(*u, Changes{1, 5, FakeEnvelope()});
  ASSERT_EQ(changes.work.size(), 1u);
  EXPECT_TRUE(std::holds_alternative<ApplyChanges>(changes.work[0]));
}

// A push central cannot decode (NACK malformed: a newer format) is not resent at all.
TEST_F(UplinkTest, MalformedPushBlocksPushingAtOnce) {
  auto u = Make({/*built=*/1, 0, 0, "g-1", std::nullopt});
  Connect(*u);
  Feed(*u, Welcome{1, "central", "g-1", 0, 0});
  PushesReady ready;
  ready.entries = {{1, FakeEnvelope()}};
  ASSERT_EQ(Result(*u, ready).sent.size(), 1u);
  Out out = Feed(*u, Nack{AckOf::kPush, 1, NackCode::kMalformed, "unknown field", {}});
  EXPECT_FALSE(out.closed);
  EXPECT_FALSE(Armed(out, TimerId::kReconnect).has_value());
  EXPECT_NE(std::find(out.logs.begin(), out.logs.end(), "push_blocked"), out.logs.end());
  u->OnLocalChange();
  EXPECT_TRUE(Take(u->TakeActions()).work.empty());
  EXPECT_EQ(u->phase(), Uplink::Phase::kSyncing);
}

TEST_F(UplinkTest, ChangesApplyInOrderGapsAreReportedOnce) {
  auto u = Make({0, 0, /*pull=*/10, "g-1", std::nullopt});
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

TEST_F(UplinkTest, ReseedRequiredForcesASnapshotAtTheNextConnection) {
  options_.backoff_base_ms = 500;
  auto u = Make({8, 5, 40, "g-1", std::nullopt});
  Connect(*u);
  env_.next_random = 0;
  Out out = Feed(*u, ErrorMessage{ErrorCode::kReseedRequired, "log trimmed"});
  EXPECT_TRUE(out.closed);
  ASSERT_EQ(out.work.size(), 1u);
  EXPECT_TRUE(std::holds_alternative<ForceSeed>(out.work[0])) << "made durable";
  auto delay = Armed(out, TimerId::kReconnect);
  ASSERT_TRUE(delay.has_value());
  EXPECT_LE(*delay, 500) << "not a failure: no long backoff";
  Result(*u, StoreDone{});
  u->OnTimer(TimerId::kReconnect);
  Hello h = Connect(*u);
  ASSERT_TRUE(h.seed.has_value());
  EXPECT_EQ(h.seed->next_chunk, 0u);
  EXPECT_FALSE(h.seed->snapshot_id.empty());

  // The snapshot streams; at its end the pull cursor is the head, not the lower old one,
  // and the pushes built before are forgotten (the store rewound its outbox).
  Feed(*u, Welcome{1, "central", "g-1", 5, 90});
  Feed(*u, SnapshotBegin{h.seed->snapshot_id, 90, 0});
  Out end = Feed(*u, SnapshotEnd{h.seed->snapshot_id, 0});
  ASSERT_FALSE(end.work.empty());
  const auto* finish = std::get_if<FinishSnapshot>(&end.work.back());
  ASSERT_NE(finish, nullptr);
  EXPECT_EQ(finish->head, 90u);
  Out done = Result(*u, StoreDone{});
  const auto* ack = Only<Ack>(done.sent);
  ASSERT_NE(ack, nullptr);
  EXPECT_EQ(ack->of, AckOf::kChanges);
  EXPECT_EQ(ack->seq, 90u) << "a forced seed does not keep the lower cursor (40)";
  ASSERT_FALSE(done.work.empty());
  const auto* fetch = std::get_if<FetchPushes>(&done.work.back());
  ASSERT_NE(fetch, nullptr);
  EXPECT_EQ(fetch->after_seq, 5u) << "pushes continue after what central applied";
}

TEST_F(UplinkTest, MoreWaitingIsFetchedWhenTheWindowFreesWithoutANewLocalChange) {
  options_.window = 2;
  auto u = Make({0, 0, 0, "g-1", std::nullopt});
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
  auto u = Make({0, 0, 0, "g-1", std::nullopt});
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

// ---- verify (FORMAT.md section 6, "Verify") ----

const VerifyPosition kUnitPos{/*push=*/4, /*pull=*/30, /*head=*/12, /*waiting=*/0};
const VerifyPosition kCentralPos{/*push=*/4, /*pull=*/30, /*head=*/35, /*waiting=*/0};

TEST_F(UplinkTest, VerifyBeforeTheSessionIsEstablishedIsRefused) {
  auto u = Make({});
  EXPECT_FALSE(u->StartVerify(1)) << "idle";
  Connect(*u);
  EXPECT_FALSE(u->StartVerify(1)) << "awaiting WELCOME";
  // Central sending VERIFY before WELCOME breaks the protocol.
  Out out = Feed(*u, Verify{1});
  const auto* e = Only<ErrorMessage>(out.sent);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->code, ErrorCode::kUnexpectedMessage);
  EXPECT_TRUE(out.closed);
  EXPECT_TRUE(out.work.empty());
}

TEST_F(UplinkTest, AnswersCentralsVerifyWithItsDigests) {
  auto u = Syncing();
  Out out = Feed(*u, Verify{3});
  ASSERT_EQ(out.work.size(), 1u);
  const auto& work = std::get<ComputeDigests>(out.work[0]);
  EXPECT_EQ(work.id, 3u);
  EXPECT_TRUE(work.for_peer);
  EXPECT_TRUE(out.sent.empty());

  Out answered = Result(*u, Computed(kUnitPos, 13));
  const auto* d = Only<Digests>(answered.sent);
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->id, 3u);
  EXPECT_EQ(d->position, kUnitPos);
  EXPECT_TRUE(d->error.empty());
  ASSERT_EQ(d->tables.size(), 13u);
  EXPECT_EQ(d->tables[12].table, "t12");
  EXPECT_TRUE(answered.verify_done.empty()) << "answering is not a verify of ours";
  EXPECT_FALSE(answered.closed);
}

TEST_F(UplinkTest, StoreFailureIsAnsweredWithADigestsError) {
  auto u = Syncing();
  Feed(*u, Verify{3});
  DigestsComputed failed;
  failed.ok = false;
  failed.error = "database is locked";
  Out out = Result(*u, failed);
  const auto* d = Only<Digests>(out.sent);
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->error, "could not compute digests: database is locked");
  EXPECT_TRUE(d->tables.empty());
  EXPECT_FALSE(out.closed);
}

TEST_F(UplinkTest, VerifyComparesCentralsDigestsWithOurs) {
  auto u = Syncing();
  ASSERT_TRUE(u->StartVerify(9));
  Out start = Take(u->TakeActions());
  const auto* v = Only<Verify>(start.sent);
  ASSERT_NE(v, nullptr);
  EXPECT_EQ(v->id, 9u);
  EXPECT_EQ(Armed(start, TimerId::kVerify), options_.verify_timeout_ms);
  EXPECT_FALSE(u->StartVerify(9)) << "an id already pending";
  EXPECT_FALSE(u->StartVerify(0)) << "0 is not an id";

  // Central's digests: table t1 differs.
  DigestsComputed theirs = Computed(kCentralPos, 3);
  theirs.tables[1].sha256[0] ^= 1;
  Out got = Feed(*u, Digests{9, kCentralPos, "", theirs.tables});
  ASSERT_EQ(got.work.size(), 1u);
  EXPECT_EQ(std::get<ComputeDigests>(got.work[0]).id, 9u);
  EXPECT_FALSE(std::get<ComputeDigests>(got.work[0]).for_peer);
  EXPECT_TRUE(got.verify_done.empty());

  Out done = Result(*u, Computed(kUnitPos, 3));
  ASSERT_EQ(done.verify_done.size(), 1u);
  const VerifyDone& vd = done.verify_done[0];
  EXPECT_EQ(vd.id, 9u);
  ASSERT_TRUE(vd.result) << vd.result.error().message;
  EXPECT_EQ(vd.result->unit, "unit-0001");
  EXPECT_EQ(vd.result->unit_position, kUnitPos) << "ours is the unit's side";
  EXPECT_EQ(vd.result->central_position, kCentralPos);
  ASSERT_EQ(vd.result->tables.size(), 3u);
  EXPECT_TRUE(vd.result->tables[0].equal);
  EXPECT_FALSE(vd.result->tables[1].equal);
  EXPECT_TRUE(vd.result->settled);
  EXPECT_EQ(u->verifies_pending(), 0u);
  EXPECT_TRUE(LoggedEvent(done, "verify_done"));
  EXPECT_FALSE(done.closed);
}

TEST_F(UplinkTest, ConcurrentVerifiesEachGetTheirOwnAnswer) {
  auto u = Syncing();
  ASSERT_TRUE(u->StartVerify(1));
  ASSERT_TRUE(u->StartVerify(2));
  Take(u->TakeActions());
  // Central answers 2 first; 1 reports a central-side failure.
  Feed(*u, Digests{2, kCentralPos, "", Computed(kCentralPos, 2).tables});
  Out one = Feed(*u, Digests{1, {}, "could not compute digests: database is locked", {}});
  ASSERT_EQ(one.verify_done.size(), 1u);
  EXPECT_EQ(one.verify_done[0].id, 1u);
  ASSERT_FALSE(one.verify_done[0].result);
  EXPECT_EQ(one.verify_done[0].result.error().code, Errc::kBusy);
  EXPECT_NE(one.verify_done[0].result.error().message.find("database is locked"),
            std::string::npos);
  Out two = Result(*u, Computed(kUnitPos, 2));
  ASSERT_EQ(two.verify_done.size(), 1u);
  EXPECT_EQ(two.verify_done[0].id, 2u);
  ASSERT_TRUE(two.verify_done[0].result);
  EXPECT_TRUE(two.verify_done[0].result->all_equal());
}

TEST_F(UplinkTest, DisconnectMidVerifyEndsItWithAnError) {
  auto u = Syncing();
  ASSERT_TRUE(u->StartVerify(5));
  ASSERT_TRUE(u->StartVerify(6));
  Take(u->TakeActions());
  Feed(*u, Digests{6, kCentralPos, "", {}});  // 6 waits for our own digests
  u->OnDisconnected("connection reset");
  Out out = Take(u->TakeActions());
  ASSERT_EQ(out.verify_done.size(), 2u);
  for (const VerifyDone& vd : out.verify_done) {
    ASSERT_FALSE(vd.result);
    EXPECT_EQ(vd.result.error().code, Errc::kUnavailable);
  }
  EXPECT_EQ(u->verifies_pending(), 0u);
  // Our digests for 6 arrive after the connection went: nothing more is reported.
  Out late = Result(*u, Computed(kUnitPos, 1));
  EXPECT_TRUE(late.verify_done.empty());
  EXPECT_TRUE(late.sent.empty());
}

TEST_F(UplinkTest, AnswerForAnOldConnectionIsNotSent) {
  auto u = Syncing();
  Feed(*u, Verify{3});  // ComputeDigests for central outstanding
  u->OnDisconnected("connection reset");
  Take(u->TakeActions());
  Out late = Result(*u, Computed(kUnitPos, 1));
  EXPECT_TRUE(late.sent.empty());
}

TEST_F(UplinkTest, VerifyPastItsDeadlineFailsAndALateAnswerIsIgnored) {
  auto u = Syncing();
  ASSERT_TRUE(u->StartVerify(5));
  Take(u->TakeActions());
  env_.now += options_.verify_timeout_ms;
  u->OnTimer(TimerId::kVerify);
  Out out = Take(u->TakeActions());
  ASSERT_EQ(out.verify_done.size(), 1u);
  ASSERT_FALSE(out.verify_done[0].result);
  EXPECT_EQ(out.verify_done[0].result.error().code, Errc::kUnavailable);
  EXPECT_NE(out.verify_done[0].result.error().message.find("no DIGESTS from central"),
            std::string::npos);
  Out late = Feed(*u, Digests{5, kCentralPos, "", {}});
  EXPECT_TRUE(late.work.empty());
  EXPECT_TRUE(late.verify_done.empty());
  EXPECT_FALSE(late.closed) << "a late answer is not a protocol error";
  EXPECT_TRUE(LoggedEvent(late, "verify_unknown_answer"));
}

TEST_F(UplinkTest, DigestsNobodyAskedForAreIgnored) {
  auto u = Syncing();
  Out out = Feed(*u, Digests{42, kCentralPos, "", {}});
  EXPECT_TRUE(out.work.empty());
  EXPECT_TRUE(out.sent.empty());
  EXPECT_TRUE(out.verify_done.empty());
  EXPECT_FALSE(out.closed);
  EXPECT_TRUE(LoggedEvent(out, "verify_unknown_answer"));
}

TEST_F(UplinkTest, TooManyVerifiesFromCentralAreRefusedNotQueued) {
  auto u = Syncing();
  for (uint64_t id = 1; id <= kMaxVerifyAnswers; ++id) Feed(*u, Verify{id});
  Out out = Feed(*u, Verify{99});
  const auto* d = Only<Digests>(out.sent);
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->id, 99u);
  EXPECT_NE(d->error.find("in progress"), std::string::npos);
  EXPECT_TRUE(out.work.empty());
}

TEST_F(UplinkTest, DigestsTooLargeForAFrameAreAnsweredWithAnError) {
  options_.max_frame = kMinConfigurableMaxFrame;
  auto u = Syncing();
  Feed(*u, Verify{3});
  Out out = Result(*u, Computed(kUnitPos, 40));  // 40 tables need more than 1 KiB
  const auto* d = Only<Digests>(out.sent);
  ASSERT_NE(d, nullptr);
  EXPECT_NE(d->error.find("raise sync.max_frame"), std::string::npos) << d->error;
  EXPECT_FALSE(out.closed);
}

}  // namespace
}  // namespace unitsync::protocol
