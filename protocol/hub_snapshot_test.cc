// Central's side of a re-seed (FORMAT.md SNAPSHOT_*): BEGIN, chunks through the window,
// END, and the unit's ACK of its new pull cursor handing over to the fan-out; and what
// happens when central cannot start or build the snapshot or the unit acknowledges what
// it was never sent. Driven event by event like protocol/hub_test.cc.
#include <algorithm>

#include "protocol/hub_fixture.h"

namespace unitsync::protocol {
namespace {

using namespace testing;  // NOLINT: the fixture helpers

class HubSnapshot : public HubFixture {
 protected:
  // HELLO asking for `seed` answered with WELCOME; StartSnapshot is outstanding.
  std::unique_ptr<HubSession> Asked(SeedRequest seed = {"snap-1", 0, "", ""}) {
    auto hub = Greeted(Hello{1, 1, "unit-0001", 0, 0, "g-1", seed});
    Out out = Loaded(*hub, /*head=*/50);
    EXPECT_EQ(out.work.size(), 1u);
    EXPECT_TRUE(!out.work.empty() && std::holds_alternative<StartSnapshot>(out.work[0]));
    return hub;
  }
  // Asked, and the snapshot started (head 50, 10 rows): BEGIN sent, chunk 0 being built.
  std::unique_ptr<HubSession> Started() {
    auto hub = Asked();
    Out out = Result(*hub, SnapshotStarted{true, "", 50, 10});
    const auto* begin = Only<SnapshotBegin>(out.sent);
    EXPECT_TRUE(begin && begin->snapshot_id == "snap-1" && begin->log_head == 50);
    EXPECT_EQ(out.work.size(), 1u);
    return hub;
  }
  static SnapshotChunkBuilt Built(uint64_t rows, std::string last_pk, bool done) {
    SnapshotChunkBuilt b;
    b.rows = rows;
    if (rows > 0) b.sealed = FakeEnvelope();
    b.last_table = "student";
    b.last_pk = std::move(last_pk);
    b.done = done;
    return b;
  }
};

TEST_F(HubSnapshot, ChunksFlowThroughTheWindowThenEndThenTheFanOutTakesOver) {
  options_.window = 1;
  auto hub = Started();
  Out first = Result(*hub, Built(6, "k-6", false));
  const auto* c0 = Only<SnapshotChunk>(first.sent);
  ASSERT_NE(c0, nullptr);
  EXPECT_EQ(c0->snapshot_id, "snap-1");
  EXPECT_EQ(c0->index, 0u);
  EXPECT_TRUE(first.work.empty()) << "window of 1 is full: the next chunk waits";

  Out acked = Feed(*hub, Ack{AckOf::kSnapshot, 0});
  ASSERT_EQ(acked.work.size(), 1u);
  const auto& next = std::get<BuildSnapshotChunk>(acked.work[0]);
  EXPECT_EQ(next.index, 1u);
  EXPECT_EQ(next.after_table, "student");
  EXPECT_EQ(next.after_pk, "k-6") << "resumes after the last row sent";

  Out last = Result(*hub, Built(4, "k-10", /*done=*/true));
  ASSERT_EQ(last.sent.size(), 1u);
  EXPECT_EQ(std::get<SnapshotChunk>(last.sent[0]).index, 1u);
  EXPECT_TRUE(last.work.empty()) << "everything is built";

  Out end = Feed(*hub, Ack{AckOf::kSnapshot, 1});
  const auto* e = Only<SnapshotEnd>(end.sent);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->chunk_count, 2u);
  EXPECT_EQ(e->rows, 10u);
  EXPECT_TRUE(LoggedEvent(end, "snapshot_sent"));
  EXPECT_EQ(hub->fan_sent_to(), 0u) << "no fan-out while the snapshot is under way";

  Out handover = Feed(*hub, Ack{AckOf::kChanges, 50});
  ASSERT_EQ(handover.work.size(), 1u);
  EXPECT_EQ(std::get<AckChanges>(handover.work[0]).seq, 50u);
  EXPECT_EQ(hub->fan_acked(), 50u);
  Out build = Result(*hub, StoreDone{});
  ASSERT_EQ(build.work.size(), 1u);
  EXPECT_EQ(std::get<BuildChanges>(build.work[0]).after_seq, 50u);
}

TEST_F(HubSnapshot, AnEmptyLastChunkIsNotSentAndEndCountsOnlyWhatWas) {
  auto hub = Started();
  Result(*hub, Built(10, "k-10", false));
  Out last = Result(*hub, Built(0, "", /*done=*/true));
  EXPECT_TRUE(last.sent.empty()) << "chunk 0 is unacknowledged: no END yet, no empty chunk";
  Out end = Feed(*hub, Ack{AckOf::kSnapshot, 0});
  const auto* e = Only<SnapshotEnd>(end.sent);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->chunk_count, 1u);
  EXPECT_EQ(e->rows, 10u);
}

TEST_F(HubSnapshot, AResumedSnapshotContinuesAtTheChunkAndRowTheUnitAskedFor) {
  auto hub = Asked({"snap-7", 3, "grade", "k-99"});
  Out out = Result(*hub, SnapshotStarted{true, "", 60, 10});
  const auto* begin = Only<SnapshotBegin>(out.sent);
  ASSERT_NE(begin, nullptr);
  EXPECT_EQ(begin->snapshot_id, "snap-7");
  ASSERT_EQ(out.work.size(), 1u);
  const auto& build = std::get<BuildSnapshotChunk>(out.work[0]);
  EXPECT_EQ(build.snapshot, "snap-7");
  EXPECT_EQ(build.index, 3u);
  EXPECT_EQ(build.after_table, "grade");
  EXPECT_EQ(build.after_pk, "k-99");
}

TEST_F(HubSnapshot, SnapshotThatCannotStartClosesTheSessionWithInternal) {
  auto hub = Asked();
  Out out = Result(*hub, SnapshotStarted{false, "database is locked", 0, 0});
  EXPECT_EQ(ErrorSent(out), ErrorCode::kInternal);
  EXPECT_TRUE(out.closed);
  EXPECT_TRUE(LoggedEvent(out, "snapshot_failed"));
  EXPECT_TRUE(out.work.empty());
  EXPECT_EQ(hub->phase(), HubSession::Phase::kClosed);
}

TEST_F(HubSnapshot, ChunkThatCannotBeBuiltClosesTheSessionWithInternal) {
  auto hub = Started();
  SnapshotChunkBuilt failed;
  failed.ok = false;
  failed.error = "disk I/O error";
  Out out = Result(*hub, failed);
  EXPECT_EQ(ErrorSent(out), ErrorCode::kInternal);
  EXPECT_TRUE(out.closed);
  EXPECT_TRUE(LoggedEvent(out, "snapshot_failed"));
  EXPECT_EQ(hub->phase(), HubSession::Phase::kClosed);
}

TEST_F(HubSnapshot, SnapshotAnswersAfterTheSessionEndedSendNothing) {
  {
    auto hub = Asked();
    hub->OnDisconnected("reset by peer");
    Take(hub->TakeActions());
    Out out = Result(*hub, SnapshotStarted{true, "", 50, 10});
    EXPECT_TRUE(out.sent.empty());
    EXPECT_TRUE(out.work.empty());
  }
  {
    auto hub = Started();
    hub->OnDisconnected("reset by peer");
    Take(hub->TakeActions());
    Out out = Result(*hub, Built(6, "k-6", false));
    EXPECT_TRUE(out.sent.empty());
    EXPECT_TRUE(out.work.empty());
  }
}

TEST_F(HubSnapshot, AckForAChunkNeverSentIsUnexpected) {
  auto hub = Started();
  Result(*hub, Built(6, "k-6", false));  // chunk 0 sent, chunk 1 being built
  Out out = Feed(*hub, Ack{AckOf::kSnapshot, 1});
  EXPECT_EQ(ErrorSent(out), ErrorCode::kUnexpectedMessage);
  EXPECT_TRUE(out.closed);
  EXPECT_EQ(hub->phase(), HubSession::Phase::kClosed);
}

TEST_F(HubSnapshot, AcksOtherThanTheChunksAndTheFinalCursorAreUnexpected) {
  {
    // The pull cursor before END: the unit cannot hold the snapshot yet.
    auto hub = Started();
    Out out = Feed(*hub, Ack{AckOf::kChanges, 50});
    EXPECT_EQ(ErrorSent(out), ErrorCode::kUnexpectedMessage);
    EXPECT_EQ(hub->phase(), HubSession::Phase::kClosed);
  }
  {
    // After END, a cursor past the snapshot's head.
    auto hub = Started();
    Result(*hub, Built(10, "k-10", true));
    ASSERT_NE(Only<SnapshotEnd>(Feed(*hub, Ack{AckOf::kSnapshot, 0}).sent), nullptr);
    Out out = Feed(*hub, Ack{AckOf::kChanges, 51});
    EXPECT_EQ(ErrorSent(out), ErrorCode::kUnexpectedMessage);
    EXPECT_TRUE(out.work.empty()) << "no cursor is recorded";
  }
  {
    auto hub = Started();
    Out out = Feed(*hub, Ack{AckOf::kPush, 1});
    EXPECT_EQ(ErrorSent(out), ErrorCode::kUnexpectedMessage);
  }
}

TEST_F(HubSnapshot, OneChunkIsBuiltAtATimeAndAcksFreeTheWindowInOrder) {
  auto hub = Started();
  Out first = Result(*hub, Built(3, "k-3", false));
  ASSERT_EQ(first.work.size(), 1u);  // chunk 1 being built
  EXPECT_EQ(std::get<BuildSnapshotChunk>(first.work[0]).index, 1u);
  Out acked = Feed(*hub, Ack{AckOf::kSnapshot, 0});
  EXPECT_TRUE(acked.work.empty()) << "chunk 1 is still being built: no second build";
  EXPECT_TRUE(acked.sent.empty());
  Out second = Result(*hub, Built(3, "k-6", false));
  ASSERT_EQ(second.sent.size(), 1u);
  ASSERT_EQ(second.work.size(), 1u);
  Result(*hub, Built(4, "k-10", true));  // chunk 2: all built; 1 and 2 in flight
  Out partial = Feed(*hub, Ack{AckOf::kSnapshot, 1});
  EXPECT_TRUE(partial.sent.empty()) << "chunk 2 is not acknowledged yet";
  Out end = Feed(*hub, Ack{AckOf::kSnapshot, 2});
  const auto* e = Only<SnapshotEnd>(end.sent);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->chunk_count, 3u);
  EXPECT_EQ(e->rows, 10u);
  Out repeat = Feed(*hub, Ack{AckOf::kSnapshot, 2});
  EXPECT_TRUE(repeat.sent.empty()) << "END is sent once";
  EXPECT_FALSE(repeat.closed);
}

TEST_F(HubSnapshot, NoChangesAreBuiltWhileTheSnapshotIsUnderWay) {
  auto hub = Started();
  Result(*hub, Built(10, "k-10", true));
  hub->OnLogAdvanced();
  Out out = Take(hub->TakeActions());
  EXPECT_TRUE(out.work.empty()) << "the fan-out starts after the unit's ACK of its cursor";
}

}  // namespace
}  // namespace unitsync::protocol
