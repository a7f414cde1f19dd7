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

}  // namespace
}  // namespace unitsync::protocol
