// What both roles share (protocol/session_core.h), tested on its own where the roles'
// tests cannot reach an edge.
#include "protocol/session_core.h"

#include "protocol/sync_test_util.h"

namespace unitsync::protocol {
namespace {

using namespace testing;  // NOLINT: the fixture helpers

TEST(SessionCore, ErrorTextIsCutOnlyWhenTooLongAndOnACharacterBoundary) {
  FakeEnv env;
  SessionCore core(SyncOptions{}, env);
  core.ConnectionUp();
  core.TakeActions();
  // Ending in a two-byte character: sent whole (this used to lose the "ö").
  core.SendErrorAndClose(ErrorCode::kInternal, "kunde inte läsa ö");
  Out out = Take(core.TakeActions());
  const auto* e = Only<ErrorMessage>(out.sent);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->message, "kunde inte läsa ö");
  EXPECT_TRUE(out.closed);
}

TEST(SessionCore, CutTextKeepsWholeCharacters) {
  EXPECT_EQ(CutText("abc", 3), "abc");
  EXPECT_EQ(CutText("abcd", 3), "abc");
  EXPECT_EQ(CutText("ab\xc3\xb6", 3), "ab") << "ö straddles the cut";
  EXPECT_EQ(CutText("ab\xc3\xb6", 4), "ab\xc3\xb6");
  EXPECT_EQ(CutText("a\xf0\x9f\x98\x80z", 3), "a") << "a 4-byte emoji straddles the cut";
  EXPECT_EQ(CutText(std::string(2000, 'x')).size(), kMaxTextBytes);
}

TEST(SessionCore, BytesWithoutAConnectionAreRefused) {
  FakeEnv env;
  SessionCore core(SyncOptions{}, env);
  std::vector<Message> messages;
  const Status st = core.Decode(FrameOf(Ping{1}), messages);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, Errc::kInternal);
  EXPECT_TRUE(messages.empty());
  EXPECT_TRUE(core.TakeActions().empty()) << "nothing to answer on";
}

TEST(SessionCore, FrameLengthOverTheLimitClosesAsMalformedBeforeReadingTheBody) {
  FakeEnv env;
  SyncOptions options;
  options.max_frame = 64;
  SessionCore core(options, env);
  core.ConnectionUp();
  core.TakeActions();
  std::vector<Message> messages;
  Bytes bytes = FrameOf(Ping{1});
  const Bytes oversized{0, 0, 0, 65};  // a 65-byte body announced: refused from the prefix
  bytes.insert(bytes.end(), oversized.begin(), oversized.end());
  const Status st = core.Decode(bytes, messages);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, Errc::kMalformed);
  ASSERT_EQ(messages.size(), 1u) << "the frame before it was decoded";
  Out out = Take(core.TakeActions());
  const auto* e = Only<ErrorMessage>(out.sent);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->code, ErrorCode::kMalformed);
  EXPECT_TRUE(out.closed);
  EXPECT_FALSE(core.connected());
}

TEST(SessionCore, AFrameSplitAcrossReadsIsDecodedOnceComplete) {
  FakeEnv env;
  SessionCore core(SyncOptions{}, env);
  core.ConnectionUp();
  const Bytes frame = FrameOf(Pong{9});
  std::vector<Message> messages;
  ASSERT_TRUE(core.Decode(ByteView(frame).first(3), messages));
  EXPECT_TRUE(messages.empty());
  ASSERT_TRUE(core.Decode(ByteView(frame).subspan(3), messages));
  ASSERT_EQ(messages.size(), 1u);
  EXPECT_EQ(std::get<Pong>(messages[0]).nonce, 9u);
}

TEST(SessionCore, AMessageTheCodecRefusesIsNotSentAndClosesTheSession) {
  FakeEnv env;
  SessionCore core(SyncOptions{}, env);
  core.ConnectionUp();
  core.TakeActions();
  // A bug in a caller: an id no node can have.
  core.Send(Welcome{1, "", "g-1", 0, 0});
  std::vector<SyncAction> actions = core.TakeActions();
  Out out = Take(actions);
  EXPECT_TRUE(out.sent.empty());
  EXPECT_TRUE(out.closed);
  EXPECT_TRUE(LoggedEvent(out, "encode_failed"));
  EXPECT_FALSE(core.connected());
  // TrySend reports it instead, and the session stays.
  core.ConnectionUp();
  core.TakeActions();
  EXPECT_FALSE(core.TrySend(Welcome{1, "", "g-1", 0, 0}));
  EXPECT_TRUE(core.TakeActions().empty());
  EXPECT_TRUE(core.connected());
}

TEST(SessionCore, LivenessTimersAreArmedOnlyWhileConnected) {
  FakeEnv env;
  SessionCore core(SyncOptions{}, env);
  ASSERT_TRUE(core.TrySend(Ping{1}));  // a frame queued before the connection is up
  Out before = Take(core.TakeActions());
  EXPECT_EQ(before.sent.size(), 1u);
  EXPECT_FALSE(Armed(before, TimerId::kHeartbeat).has_value());
  core.Received();
  EXPECT_TRUE(core.TakeActions().empty()) << "no read deadline without a connection";
  core.ConnectionUp();
  core.TakeActions();
  core.Received();
  EXPECT_TRUE(Armed(Take(core.TakeActions()), TimerId::kReadDeadline).has_value());
}

TEST(SessionCore, StoreRequestsGoOneAtATimeInOrder) {
  FakeEnv env;
  SessionCore core(SyncOptions{}, env);
  core.Request(AckChanges{1}, 0);
  core.Request(AckChanges{2}, 0);
  core.Request(AckChanges{3}, 0);
  Out first = Take(core.TakeActions());
  ASSERT_EQ(first.work.size(), 1u);
  EXPECT_EQ(std::get<AckChanges>(first.work[0]).seq, 1u);
  EXPECT_TRUE(core.busy());
  // The held ones made stale by the answer can be dropped before the next is issued.
  ASSERT_TRUE(core.Completed().has_value());
  core.DropHeld(
      [](const SessionCore::Pending& p) { return std::get<AckChanges>(p.work).seq == 2; });
  core.IssueHeld();
  Out next = Take(core.TakeActions());
  ASSERT_EQ(next.work.size(), 1u);
  EXPECT_EQ(std::get<AckChanges>(next.work[0]).seq, 3u);
  ASSERT_TRUE(core.Completed().has_value());
  core.IssueHeld();
  EXPECT_TRUE(core.TakeActions().empty()) << "nothing held";
  EXPECT_FALSE(core.busy());
  EXPECT_FALSE(core.Completed().has_value()) << "an answer nobody asked for";
}

TEST(SessionCore, CutTextOfContinuationBytesOnlyIsEmpty) {
  EXPECT_EQ(CutText("\x80\x80\x80", 2), "");
}

}  // namespace
}  // namespace unitsync::protocol
