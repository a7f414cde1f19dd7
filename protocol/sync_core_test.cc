// The sync state machines alone, driven event by event: what they send, which timers
// they arm and which store work they ask for. (Wired together with real replicas:
// tests/sync_link_test.cc.)
#include <gtest/gtest.h>

#include "protocol/frame.h"
#include "protocol/hub.h"
#include "protocol/message_codec.h"
#include "protocol/uplink.h"

namespace unitsync::protocol {
namespace {

class FakeEnv final : public SyncEnv {
 public:
  int64_t MonotonicMs() override { return now; }
  uint64_t Random() override { return next_random++; }
  int64_t now = 0;
  uint64_t next_random = 0;
};

Bytes FrameOf(const Message& m) {
  auto f = EncodeMessageFrame(m);
  EXPECT_TRUE(f.has_value());
  return f ? *f : Bytes();
}

// What one batch of actions says, sorted by kind.
struct Out {
  std::vector<Message> sent;
  std::vector<StoreWork> work;
  std::vector<ArmTimer> armed;
  std::vector<std::string> logs;
  bool closed = false;
  bool connect = false;
  bool log_advanced = false;
};

Out Take(std::vector<SyncAction> actions) {
  Out out;
  for (auto& a : actions) {
    if (auto* s = std::get_if<SendFrame>(&a)) {
      FrameDecoder dec;
      ByteView in(s->frame);
      auto body = dec.Next(in);
      EXPECT_TRUE(body && *body);
      auto m = DecodeMessage(**body);
      EXPECT_TRUE(m.has_value());
      if (m) out.sent.push_back(*m);
    } else if (auto* w = std::get_if<StoreWork>(&a)) {
      out.work.push_back(*w);
    } else if (auto* t = std::get_if<ArmTimer>(&a)) {
      out.armed.push_back(*t);
    } else if (auto* l = std::get_if<LogLine>(&a)) {
      out.logs.push_back(l->event);
    } else if (std::holds_alternative<CloseConnection>(a)) {
      out.closed = true;
    } else if (std::holds_alternative<Connect>(a)) {
      out.connect = true;
    } else if (std::holds_alternative<LogAdvanced>(a)) {
      out.log_advanced = true;
    }
  }
  return out;
}

template <typename T>
const T* Only(const std::vector<Message>& sent) {
  EXPECT_EQ(sent.size(), 1u);
  return sent.size() == 1 ? std::get_if<T>(&sent[0]) : nullptr;
}

std::optional<int64_t> Armed(const Out& out, TimerId id) {
  for (const auto& t : out.armed) {
    if (t.id == id) return t.after_ms;
  }
  return std::nullopt;
}

Bytes FakeEnvelope() { return Bytes(40, 0xAB); }

// ---- central's session ----

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
    Out hello = Feed(Hello{1, 1, "unit-0001", applied, pull, "g-1"});
    EXPECT_EQ(hello.work.size(), 1u);
    return Result(UnitLoaded{true, "", applied, head, "g-1"});
  }

  FakeEnv env_;
  SyncOptions options_;
  HubSession hub_;
};

TEST_F(Hub, HelloNamingAnotherUnitIsRefused) {
  hub_.OnConnected();
  Take(hub_.TakeActions());
  Out out = Feed(Hello{1, 1, "unit-0002", 0, 0, ""});
  const auto* e = Only<ErrorMessage>(out.sent);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->code, ErrorCode::kNotAuthorized);
  EXPECT_TRUE(out.closed);
  EXPECT_TRUE(out.work.empty());
  EXPECT_EQ(hub_.phase(), HubSession::Phase::kClosed);
}

TEST_F(Hub, NoCommonVersionIsRefused) {
  hub_.OnConnected();
  Take(hub_.TakeActions());
  Out out = Feed(Hello{2, 3, "unit-0001", 0, 0, ""});
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
  hub.OnBytes(FrameOf(Hello{1, 1, "unit-0001", 0, 0, ""}));
  hub.TakeActions();
  hub.OnStoreResult(UnitLoaded{true, "", 0, 30, "g-1"});
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

// ---- the unit's uplink ----

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

}  // namespace
}  // namespace unitsync::protocol
