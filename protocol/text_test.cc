// The wire text checks (protocol/text.h): each kind of ill-formed UTF-8 its contract names,
// and the id alphabet.
#include "protocol/text.h"

#include <gtest/gtest.h>

#include <string>

namespace unitsync::protocol {
namespace {

TEST(Text, WellFormedUtf8OfEveryLengthIsAccepted) {
  EXPECT_TRUE(IsValidUtf8(""));
  EXPECT_TRUE(IsValidUtf8("plain ascii"));
  EXPECT_TRUE(IsValidUtf8("\xc3\xb6"));          // U+00F6, 2 bytes
  EXPECT_TRUE(IsValidUtf8("\xe2\x82\xac"));      // U+20AC, 3 bytes
  EXPECT_TRUE(IsValidUtf8("\xf0\x9f\x98\x80"));  // U+1F600, 4 bytes
  EXPECT_TRUE(IsValidUtf8("\xf4\x8f\xbf\xbf"));  // U+10FFFF, the last code point
  EXPECT_TRUE(IsValidUtf8("\xed\x9f\xbf"));      // U+D7FF, just below the surrogates
  EXPECT_TRUE(IsValidUtf8("\xee\x80\x80"));      // U+E000, just above them
}

TEST(Text, EachIllFormedSequenceIsRefused) {
  const std::string cases[] = {
      "\xc0\x80",              // overlong 2-byte form of U+0000
      "\xe0\x80\xaf",          // overlong 3-byte form of '/'
      "\xf0\x80\x80\xaf",      // overlong 4-byte form of '/'
      "\xed\xa0\x80",          // U+D800, a surrogate
      "\xed\xbf\xbf",          // U+DFFF, a surrogate
      "\xf4\x90\x80\x80",      // U+110000, above the last code point
      "\xc3",                  // truncated
      "\xe2\x82",              // truncated
      "\xc3\x28",              // continuation byte missing
      "\x80",                  // a lone continuation byte
      "\xf8\x88\x80\x80\x80",  // a 5-byte form
  };
  for (const std::string& s : cases) {
    EXPECT_FALSE(IsValidUtf8(s)) << "case of " << s.size() << " bytes starting "
                                 << int(uint8_t(s[0]));
    EXPECT_FALSE(IsValidUtf8("ok " + s)) << "after valid text";
  }
}

TEST(Text, IdsUseOnlyTheIdAlphabet) {
  EXPECT_TRUE(IsIdText("unit-0001.a_b:c"));
  EXPECT_TRUE(IsIdText("ABCxyz09"));
  for (const char* bad : {"unit 1", "unit/1", "unit@1", "g\xc3\xb6", "a\tb"}) {
    EXPECT_FALSE(IsIdText(bad)) << bad;
  }
}

}  // namespace
}  // namespace unitsync::protocol
