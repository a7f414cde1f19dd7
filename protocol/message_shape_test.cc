// What the codec refuses: compound fields of the wrong msgpack shape (decoder), and the
// FORMAT.md value rules both directions share (envelope length, ids, row texts, a seed's
// resume key, digest counts). Each refusal names the message and field.
#include <gtest/gtest.h>

#include <string>

#include "protocol/limits.h"
#include "protocol/message_codec.h"
#include "protocol/test_util.h"

namespace unitsync::protocol {
namespace {

using testing::Body;

// The message's error when `body` does not decode ("" if it decodes).
std::string Refusal(const Body& body) {
  auto m = DecodeMessage(body.bytes());
  if (m) return "";
  EXPECT_EQ(m.error().code, Errc::kMalformed);
  return m.error().message;
}

// NACK partial with `rows` as raw msgpack.
Body NackWithRows(const Body& rows) {
  return Body()
      .Map(7)
      .Str("t")
      .Uint(5)
      .Str("v")
      .Uint(1)
      .Str("of")
      .Uint(1)
      .Str("seq")
      .Uint(1)
      .Str("code")
      .Uint(3)
      .Str("reason")
      .Str("x")
      .Str("rows")
      .Raw(rows.bytes());
}

// HELLO with `seed` as raw msgpack.
Body HelloWithSeed(const Body& seed) {
  return Body()
      .Map(9)
      .Str("t")
      .Uint(1)
      .Str("v")
      .Uint(1)
      .Str("min")
      .Uint(1)
      .Str("max")
      .Uint(1)
      .Str("node")
      .Str("unit-1")
      .Str("push")
      .Uint(0)
      .Str("pull")
      .Uint(0)
      .Str("gen")
      .Str("")
      .Str("seed")
      .Raw(seed.bytes());
}

// DIGESTS with `tables` as raw msgpack.
Body DigestsWithTables(const Body& tables) {
  return Body()
      .Map(9)
      .Str("t")
      .Uint(14)
      .Str("v")
      .Uint(1)
      .Str("id")
      .Uint(1)
      .Str("push")
      .Uint(0)
      .Str("pull")
      .Uint(0)
      .Str("head")
      .Uint(0)
      .Str("waiting")
      .Uint(0)
      .Str("error")
      .Str("")
      .Str("tables")
      .Raw(tables.bytes());
}

bool Names(const std::string& refusal, const std::string& what) {
  return refusal.find(what) != std::string::npos;
}

TEST(MessageShape, TheBodiesBuiltHereDecodeWhenWellFormed) {
  // The helpers are right: a well-formed value in each place decodes.
  EXPECT_EQ(Refusal(NackWithRows(Body().Array(1).Array(3).Str("t").Str("r-1").Uint(2))), "");
  EXPECT_EQ(Refusal(HelloWithSeed(Body().Array(4).Str("snap-1").Uint(2).Str("t").Str("k"))), "");
  EXPECT_EQ(Refusal(HelloWithSeed(Body().Array(0))), "") << "[] = no seed";
  EXPECT_EQ(Refusal(DigestsWithTables(
                Body().Array(1).Array(4).Str("t").Uint(1).Uint(0).Bin(kSha256Bytes, 0x11))),
            "");
}

TEST(MessageShape, EnvelopeMustBeBin) {
  const std::string r = Refusal(
      Body().Map(4).Str("t").Uint(3).Str("v").Uint(1).Str("seq").Uint(1).Str("env").Str("sealed"));
  EXPECT_TRUE(Names(r, "PUSH field \"env\" must be a msgpack bin")) << r;
}

TEST(MessageShape, NackRowsMustBeAnArrayOfTableIdReason) {
  EXPECT_TRUE(Names(Refusal(NackWithRows(Body().Str("rows"))), "\"rows\" must be a msgpack array"));
  const std::string entries = "entries must be [table str, id str, reason uint]";
  for (const Body& rows : {
           Body().Array(1).Str("t"),                             // entry not an array
           Body().Array(1).Array(2).Str("t").Str("r-1"),         // two fields
           Body().Array(1).Array(3).Uint(1).Str("r-1").Uint(2),  // table not a str
           Body().Array(1).Array(3).Str("t").Uint(1).Uint(2),    // id not a str
       }) {
    const std::string r = Refusal(NackWithRows(rows));
    EXPECT_TRUE(Names(r, entries)) << r;
  }
}

TEST(MessageShape, HelloSeedMustBeEmptyOrFourFields) {
  EXPECT_TRUE(
      Names(Refusal(HelloWithSeed(Body().Str("snap-1"))), "\"seed\" must be a msgpack array"));
  const std::string shape = "must be [] or [snap str, next uint, table str, after str]";
  for (const Body& seed : {
           Body().Array(3).Str("snap-1").Uint(0).Str("t"),          // three fields
           Body().Array(4).Uint(1).Uint(0).Str("t").Str("k"),       // snap not a str
           Body().Array(4).Str("snap-1").Uint(0).Uint(1).Str("k"),  // table not a str
           Body().Array(4).Str("snap-1").Uint(0).Str("t").Uint(1),  // after not a str
       }) {
    const std::string r = Refusal(HelloWithSeed(seed));
    EXPECT_TRUE(Names(r, shape)) << r;
  }
}

TEST(MessageShape, DigestTablesMustBeTableRowsTombstonesSha) {
  const std::string entries = "entries must be [table str, rows uint, tombstones uint, sha256 bin]";
  for (const Body& tables : {
           Body().Array(1).Str("t"),                                               // not an array
           Body().Array(1).Array(3).Str("t").Uint(1).Uint(0),                      // three fields
           Body().Array(1).Array(4).Uint(1).Uint(1).Uint(0).Bin(kSha256Bytes, 1),  // table
           Body().Array(1).Array(4).Str("t").Uint(1).Uint(0).Str("sha"),           // sha
       }) {
    const std::string r = Refusal(DigestsWithTables(tables));
    EXPECT_TRUE(Names(r, entries)) << r;
  }
}

TEST(MessageShape, ValueRulesHoldInBothDirections) {
  struct Case {
    const char* rule;
    Message message;
    const char* field;
  };
  const Bytes env(kEnvelopeOverhead, 0xAB);
  const std::vector<Case> cases = {
      {"an envelope shorter than its overhead", Push{1, Bytes(kEnvelopeOverhead - 1, 0xAB)},
       "PUSH field \"env\""},
      {"a node id over the id limit",
       Hello{1, 1, std::string(kMaxIdBytes + 1, 'u'), 0, 0, "", std::nullopt}, "field \"node\""},
      {"a resume key without its table",
       Hello{1, 1, "unit-1", 0, 0, "", SeedRequest{"snap-1", 1, "", "k-1"}}, "field \"seed\""},
      {"an empty row table", Nack{AckOf::kPush, 1, NackCode::kPartial, "", {{"", "r-1", 1}}},
       "field \"rows[].table\""},
      {"a row id that is not UTF-8",
       Nack{AckOf::kPush, 1, NackCode::kPartial, "", {{"t", "r-\xff", 1}}}, "field \"rows[].id\""},
      {"digest rows past 2^63-1",
       Digests{1, {}, "", {{"t", kMaxSeq + 1, 0, Bytes(kSha256Bytes, 1)}}},
       "field \"tables[].rows\""},
      {"digest tombstones past 2^63-1",
       Digests{1, {}, "", {{"t", 0, kMaxSeq + 1, Bytes(kSha256Bytes, 1)}}},
       "field \"tables[].tombstones\""},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.rule);
    const Status valid = ValidateMessage(c.message, Errc::kMalformed);
    ASSERT_FALSE(valid);
    EXPECT_EQ(valid.error().code, Errc::kMalformed);
    EXPECT_TRUE(Names(valid.error().message, c.field)) << valid.error().message;
    auto encoded = EncodeMessage(c.message);
    ASSERT_FALSE(encoded) << "the encoder refuses to send it";
    EXPECT_EQ(encoded.error().code, Errc::kInvalidArgument);
    EXPECT_TRUE(Names(encoded.error().message, c.field)) << encoded.error().message;
  }
  // The limits themselves pass.
  EXPECT_TRUE(EncodeMessage(Push{1, env}));
  EXPECT_TRUE(EncodeMessage(Hello{1, 1, std::string(kMaxIdBytes, 'u'), 0, 0, "", std::nullopt}));
  EXPECT_TRUE(EncodeMessage(Hello{1, 1, "unit-1", 0, 0, "", SeedRequest{"snap-1", 1, "t", ""}}));
}

}  // namespace
}  // namespace unitsync::protocol
