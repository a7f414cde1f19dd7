// The unit's side of a re-seed (FORMAT.md SNAPSHOT_*) when a step goes wrong: snapshot
// messages out of order or for another snapshot, a chunk or the finish the store could not
// apply, answers that arrive after the connection went. The durable seed state is what a
// new session resumes from. Driven event by event like protocol/uplink_test.cc.
#include <algorithm>

#include "protocol/uplink_fixture.h"

namespace unitsync::protocol {
namespace {

using namespace testing;  // NOLINT: the fixture helpers

class UplinkSeed : public UplinkFixture {
 protected:
  // A unit that wants a re-seed, connected and WELCOMEd; `snapshot_` is the id its HELLO
  // asked for. Nothing is pushed while the snapshot streams: the store is idle.
  std::unique_ptr<Uplink> Seeding(SeedProgress seed = {}, uint64_t pull = 0) {
    auto u = Make({0, 0, pull, "g-1", seed});
    Hello h = Connect(*u);
    EXPECT_TRUE(h.seed.has_value());
    snapshot_ = h.seed ? h.seed->snapshot_id : "";
    Out out = Feed(*u, Welcome{1, "central", "g-1", 0, 90});
    EXPECT_TRUE(out.work.empty());
    EXPECT_EQ(u->phase(), Uplink::Phase::kSyncing);
    return u;
  }
  // Seeding, BEGIN received (head 90, 7 rows).
  std::unique_ptr<Uplink> Begun() {
    auto u = Seeding();
    Out out = Feed(*u, SnapshotBegin{snapshot_, 90, 7});
    EXPECT_TRUE(out.sent.empty());
    EXPECT_TRUE(LoggedEvent(out, "reseed_streaming"));
    return u;
  }
  SnapshotChunk Chunk(uint64_t index) const { return {snapshot_, index, FakeEnvelope()}; }
  // What the store reports after applying chunk `index` of `snapshot_`.
  SnapshotChunkApplied Applied(uint64_t index, uint64_t rows_done) const {
    SnapshotChunkApplied a;
    a.progress.snapshot = snapshot_;
    a.progress.next_chunk = index + 1;
    a.progress.after_table = "student";
    a.progress.after_pk = "k-" + std::to_string(index);
    a.progress.head = 90;
    a.progress.rows_done = rows_done;
    a.progress.rows_total = 7;
    return a;
  }
  static void ExpectUnexpected(const Uplink& u, const Out& out) {
    bool error = false;
    for (const auto& m : out.sent) {
      if (const auto* e = std::get_if<ErrorMessage>(&m)) {
        error = e->code == ErrorCode::kUnexpectedMessage;
      }
    }
    EXPECT_TRUE(error) << "ERROR unexpected_message";
    EXPECT_TRUE(out.closed);
    EXPECT_TRUE(out.work.empty()) << "nothing of it reaches the store";
    EXPECT_EQ(u.phase(), Uplink::Phase::kBackoff);
  }

  std::string snapshot_;
};

TEST_F(UplinkSeed, SnapshotBeginNotAskedForIsAProtocolError) {
  {
    auto u = Make({0, 0, 0, "g-1", std::nullopt});
    Connect(*u);
    Feed(*u, Welcome{1, "central", "g-1", 0, 90});
    ExpectUnexpected(*u, Feed(*u, SnapshotBegin{"snap-x", 90, 7}));
  }
  {
    auto u = Seeding();
    ExpectUnexpected(*u, Feed(*u, SnapshotBegin{"snap-other", 90, 7}));
  }
  {
    auto u = Begun();
    ExpectUnexpected(*u, Feed(*u, SnapshotBegin{snapshot_, 90, 7}));  // a second BEGIN
  }
}

TEST_F(UplinkSeed, ChunkOutOfOrderOrForAnotherSnapshotIsAProtocolError) {
  {
    auto u = Seeding();
    ExpectUnexpected(*u, Feed(*u, Chunk(0)));  // before BEGIN
  }
  {
    auto u = Begun();
    ExpectUnexpected(*u, Feed(*u, Chunk(1)));  // 0 comes first
  }
  {
    auto u = Begun();
    ExpectUnexpected(*u, Feed(*u, SnapshotChunk{"snap-other", 0, FakeEnvelope()}));
  }
  {
    auto u = Begun();
    ASSERT_EQ(Feed(*u, Chunk(0)).work.size(), 1u);
    ExpectUnexpected(*u, Feed(*u, Chunk(0)));  // a repeat
  }
}

TEST_F(UplinkSeed, EndWithAWrongChunkCountOrSnapshotIsAProtocolError) {
  {
    auto u = Seeding();
    ExpectUnexpected(*u, Feed(*u, SnapshotEnd{snapshot_, 0, 0}));  // before BEGIN
  }
  {
    auto u = Begun();
    Feed(*u, Chunk(0));
    Result(*u, Applied(0, 4));
    ExpectUnexpected(*u, Feed(*u, SnapshotEnd{snapshot_, 2, 7}));  // one chunk arrived
  }
  {
    auto u = Begun();
    ExpectUnexpected(*u, Feed(*u, SnapshotEnd{"snap-other", 0, 0}));
  }
}

TEST_F(UplinkSeed, ChangesWhileTheSnapshotStreamsAreAProtocolError) {
  auto u = Begun();
  ExpectUnexpected(*u, Feed(*u, Changes{1, 5, FakeEnvelope()}));
}

TEST_F(UplinkSeed, AppliedChunksAreAcknowledgedAndTheFinishAcksTheSeededCursor) {
  auto u = Seeding({}, /*pull=*/40);  // a replica that had pulled before: not forced
  Feed(*u, SnapshotBegin{snapshot_, 90, 7});
  Out chunk = Feed(*u, Chunk(0));
  ASSERT_EQ(chunk.work.size(), 1u);
  const auto& apply = std::get<ApplySnapshotChunk>(chunk.work[0]);
  EXPECT_EQ(apply.snapshot, snapshot_);
  EXPECT_EQ(apply.index, 0u);
  EXPECT_EQ(apply.head, 90u);
  EXPECT_EQ(apply.rows_total, 7u);
  EXPECT_EQ(apply.central_node, "central");
  Out acked = Result(*u, Applied(0, 7));
  const auto* ack = Only<Ack>(acked.sent);
  ASSERT_NE(ack, nullptr);
  EXPECT_EQ(ack->of, AckOf::kSnapshot);
  EXPECT_EQ(ack->seq, 0u);
  ASSERT_TRUE(u->state().seed.has_value());
  EXPECT_EQ(*u->state().seed, Applied(0, 7).progress) << "the durable progress is kept";

  Out end = Feed(*u, SnapshotEnd{snapshot_, 1, 7});
  ASSERT_EQ(end.work.size(), 1u);
  EXPECT_EQ(std::get<FinishSnapshot>(end.work[0]).head, 90u);
  Out done = Result(*u, StoreDone{});
  const auto* pulled = Only<Ack>(done.sent);
  ASSERT_NE(pulled, nullptr);
  EXPECT_EQ(pulled->of, AckOf::kChanges);
  EXPECT_EQ(pulled->seq, 40u) << "the lower cursor: moves before the head still reach it";
  EXPECT_FALSE(u->state().seed.has_value());
  EXPECT_TRUE(LoggedEvent(done, "reseed_done"));
  // Pushes resume, and CHANGES after the cursor apply again.
  ASSERT_EQ(done.work.size(), 1u);
  EXPECT_TRUE(std::holds_alternative<FetchPushes>(done.work[0]));
  Result(*u, PushesReady{});
  EXPECT_EQ(Feed(*u, Changes{41, 50, FakeEnvelope()}).work.size(), 1u);
}

TEST_F(UplinkSeed, ChunkTheStoreCouldNotApplyRestartsFromTheDurableState) {
  for (ApplyOutcome outcome : {ApplyOutcome::kBusy, ApplyOutcome::kCorrupt}) {
    SCOPED_TRACE(static_cast<int>(outcome));
    auto u = Begun();
    Feed(*u, Chunk(0));
    Result(*u, Applied(0, 4));
    ASSERT_EQ(Feed(*u, Chunk(1)).work.size(), 1u);
    EXPECT_TRUE(Feed(*u, Chunk(2)).work.empty()) << "held behind chunk 1";
    EXPECT_TRUE(Feed(*u, SnapshotEnd{snapshot_, 3, 7}).work.empty()) << "held too";

    SnapshotChunkApplied failed;
    failed.outcome = outcome;
    failed.error = "database is locked";
    Out out = Result(*u, failed);
    EXPECT_TRUE(LoggedEvent(out, "reseed_chunk_not_applied"));
    EXPECT_TRUE(out.closed);
    EXPECT_TRUE(out.sent.empty()) << "no ACK for a chunk not applied";
    EXPECT_TRUE(out.work.empty()) << "chunk 2 and the finish behind it are dropped";
    EXPECT_TRUE(Armed(out, TimerId::kReconnect).has_value());
    EXPECT_EQ(u->phase(), Uplink::Phase::kBackoff);
    ASSERT_TRUE(u->state().seed.has_value());
    EXPECT_EQ(*u->state().seed, Applied(0, 4).progress);

    Hello h = Connect(*u);
    ASSERT_TRUE(h.seed.has_value());
    EXPECT_EQ(h.seed->snapshot_id, snapshot_) << "the same snapshot resumes";
    EXPECT_EQ(h.seed->next_chunk, 1u);
    EXPECT_EQ(h.seed->after_table, "student");
    EXPECT_EQ(h.seed->after_pk, "k-0");
  }
}

TEST_F(UplinkSeed, ChunkAppliedAfterTheConnectionWentIsKeptButNotAcknowledged) {
  auto u = Begun();
  Feed(*u, Chunk(0));
  u->OnDisconnected("reset by peer");
  Take(u->TakeActions());
  Out out = Result(*u, Applied(0, 3));
  EXPECT_TRUE(out.sent.empty());
  ASSERT_TRUE(u->state().seed.has_value());
  EXPECT_EQ(u->state().seed->next_chunk, 1u) << "durable: the next session resumes after it";
  Hello h = Connect(*u);
  ASSERT_TRUE(h.seed.has_value());
  EXPECT_EQ(h.seed->next_chunk, 1u);
}

TEST_F(UplinkSeed, ChunkFailingAfterTheConnectionWentIsOnlyLogged) {
  auto u = Begun();
  Feed(*u, Chunk(0));
  u->OnDisconnected("reset by peer");
  Out gone = Take(u->TakeActions());
  SnapshotChunkApplied failed;
  failed.outcome = ApplyOutcome::kInternal;
  Out out = Result(*u, failed);
  EXPECT_TRUE(LoggedEvent(out, "reseed_chunk_not_applied"));
  EXPECT_FALSE(out.closed) << "already closed";
  EXPECT_FALSE(Armed(out, TimerId::kReconnect).has_value()) << "already planned";
  EXPECT_TRUE(Armed(gone, TimerId::kReconnect).has_value());
}

TEST_F(UplinkSeed, FinishTheStoreCouldNotCompleteRestartsTheSeed) {
  auto u = Begun();
  Feed(*u, Chunk(0));
  Result(*u, Applied(0, 7));
  Feed(*u, SnapshotEnd{snapshot_, 1, 7});
  Out out = Result(*u, StoreDone{false, "disk full"});
  EXPECT_TRUE(LoggedEvent(out, "reseed_finish_failed"));
  EXPECT_TRUE(out.closed);
  EXPECT_TRUE(out.sent.empty()) << "the pull cursor is not acknowledged";
  EXPECT_TRUE(Armed(out, TimerId::kReconnect).has_value());
  ASSERT_TRUE(u->state().seed.has_value()) << "still wanted";
  EXPECT_EQ(u->state().pull_seq, 0u);
  Hello h = Connect(*u);
  ASSERT_TRUE(h.seed.has_value());
  EXPECT_EQ(h.seed->next_chunk, 1u);
}

TEST_F(UplinkSeed, FinishFailingAfterTheConnectionWentIsOnlyLogged) {
  auto u = Begun();
  Feed(*u, Chunk(0));
  Result(*u, Applied(0, 7));
  Feed(*u, SnapshotEnd{snapshot_, 1, 7});
  u->OnDisconnected("reset by peer");
  Take(u->TakeActions());
  Out out = Result(*u, StoreDone{false, "disk full"});
  EXPECT_TRUE(LoggedEvent(out, "reseed_finish_failed"));
  EXPECT_FALSE(out.closed);
  EXPECT_TRUE(u->state().seed.has_value());
}

TEST_F(UplinkSeed, FinishDoneAfterTheConnectionWentIsDurableAndTheNextHelloPulls) {
  auto u = Begun();
  Feed(*u, Chunk(0));
  Result(*u, Applied(0, 7));
  Feed(*u, SnapshotEnd{snapshot_, 1, 7});
  u->OnDisconnected("reset by peer");
  Take(u->TakeActions());
  Out out = Result(*u, StoreDone{});
  EXPECT_TRUE(out.sent.empty()) << "nobody to acknowledge to";
  EXPECT_TRUE(out.work.empty());
  EXPECT_FALSE(u->state().seed.has_value());
  EXPECT_EQ(u->state().pull_seq, 90u);
  Hello h = Connect(*u);
  EXPECT_FALSE(h.seed.has_value()) << "the re-seed is complete";
  EXPECT_EQ(h.pull_seq, 90u);
}

TEST_F(UplinkSeed, ResumeKeyTooLongForTheWireRestartsItsTable) {
  SeedProgress p;
  p.snapshot = "snap-1";
  p.next_chunk = 3;
  p.after_table = "student";
  p.after_pk = std::string(kMaxTextBytes + 1, 'k');
  auto u = Make({0, 0, 0, "g-1", p});
  Hello h = Connect(*u);
  ASSERT_TRUE(h.seed.has_value());
  EXPECT_EQ(h.seed->snapshot_id, "snap-1");
  EXPECT_EQ(h.seed->next_chunk, 3u);
  EXPECT_EQ(h.seed->after_table, "student");
  EXPECT_EQ(h.seed->after_pk, "");
}

// An unforced seed under way (an admin's, a restored replica's) did not record what the
// unit held before its first chunk: forced now, it starts over under a new id, and a
// result of the old snapshot that comes back afterwards is not taken as progress.
TEST_F(UplinkSeed, ReseedRequiredDuringAnUnforcedSeedStartsItOverForced) {
  auto u = Begun();
  Feed(*u, Chunk(0));
  Result(*u, Applied(0, 4));
  Feed(*u, Chunk(1));  // still in the store when central's ERROR comes
  Out out = Feed(*u, ErrorMessage{ErrorCode::kReseedRequired, "log trimmed"});
  EXPECT_TRUE(out.closed);
  EXPECT_TRUE(out.work.empty()) << "the store is busy with chunk 1";
  ASSERT_TRUE(u->state().seed.has_value());
  EXPECT_TRUE(u->state().seed->forced);
  EXPECT_EQ(u->state().seed->next_chunk, 0u) << "the unforced seed's progress was kept";
  out = Result(*u, Applied(1, 7));  // chunk 1 of the old snapshot
  EXPECT_EQ(u->state().seed->next_chunk, 0u) << "a chunk of the old snapshot counted";
  EXPECT_TRUE(u->state().seed->forced);
  ASSERT_EQ(out.work.size(), 1u);
  EXPECT_TRUE(std::holds_alternative<ForceSeed>(out.work[0])) << "after the chunk, in order";
  Result(*u, StoreDone{});
  Hello h = Connect(*u);
  ASSERT_TRUE(h.seed.has_value());
  EXPECT_NE(h.seed->snapshot_id, snapshot_);
  EXPECT_EQ(h.seed->next_chunk, 0u);
  EXPECT_EQ(h.seed->after_table, "");
}

TEST_F(UplinkSeed, ReseedRequiredDuringAForcedSeedKeepsItsProgress) {
  SeedProgress forced;
  forced.forced = true;
  auto u = Seeding(forced);
  Feed(*u, SnapshotBegin{snapshot_, 90, 7});
  Feed(*u, Chunk(0));
  SnapshotChunkApplied applied = Applied(0, 4);
  applied.progress.forced = true;
  Result(*u, applied);
  Out out = Feed(*u, ErrorMessage{ErrorCode::kReseedRequired, "log trimmed"});
  EXPECT_TRUE(out.closed);
  ASSERT_EQ(out.work.size(), 1u);
  EXPECT_TRUE(std::holds_alternative<ForceSeed>(out.work[0]));
  ASSERT_TRUE(u->state().seed.has_value());
  EXPECT_TRUE(u->state().seed->forced);
  EXPECT_EQ(u->state().seed->next_chunk, 1u) << "the forced seed under way continues";
  Result(*u, StoreDone{});
  Hello h = Connect(*u);
  ASSERT_TRUE(h.seed.has_value());
  EXPECT_EQ(h.seed->snapshot_id, snapshot_);
  EXPECT_EQ(h.seed->next_chunk, 1u);
}

TEST_F(UplinkSeed, SnapshotWorkHeldForALostConnectionIsDropped) {
  auto u = Begun();
  ASSERT_EQ(Feed(*u, Chunk(0)).work.size(), 1u);
  EXPECT_TRUE(Feed(*u, Chunk(1)).work.empty());
  EXPECT_TRUE(Feed(*u, SnapshotEnd{snapshot_, 2, 7}).work.empty());
  u->OnDisconnected("reset by peer");
  Take(u->TakeActions());
  Out out = Result(*u, Applied(0, 4));
  EXPECT_TRUE(out.sent.empty());
  EXPECT_TRUE(out.work.empty()) << "chunk 1 and the finish went with the connection";
  ASSERT_TRUE(u->state().seed.has_value());
  EXPECT_EQ(u->state().seed->next_chunk, 1u);
}

TEST_F(UplinkSeed, AResumedSnapshotKeepsTheHeadOfItsFirstBegin) {
  SeedProgress p;
  p.snapshot = "snap-1";
  p.next_chunk = 2;
  p.after_table = "student";
  p.after_pk = "k-1";
  p.head = 90;
  p.rows_done = 4;
  auto u = Seeding(p);
  ASSERT_EQ(snapshot_, "snap-1");
  Out begin = Feed(*u, SnapshotBegin{"snap-1", /*head=*/120, /*rows=*/9});
  EXPECT_TRUE(begin.sent.empty());
  EXPECT_EQ(u->state().seed->head, 90u) << "the log from the first head covers the later rows";
  EXPECT_EQ(u->state().seed->rows_total, 9u) << "the latest count";
  ExpectUnexpected(*u, Feed(*u, Chunk(0)));  // the resumed part starts at chunk 2
  u = Seeding(p);
  Feed(*u, SnapshotBegin{"snap-1", 120, 9});
  Out chunk = Feed(*u, Chunk(2));
  ASSERT_EQ(chunk.work.size(), 1u);
  const auto& apply = std::get<ApplySnapshotChunk>(chunk.work[0]);
  EXPECT_EQ(apply.index, 2u);
  EXPECT_EQ(apply.head, 90u);
  EXPECT_EQ(apply.rows_total, 9u);
}

}  // namespace
}  // namespace unitsync::protocol
