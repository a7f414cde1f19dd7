#include "protocol/message_codec.h"

#include <gtest/gtest.h>

#include <random>

#include "protocol/envelope.h"
#include "protocol/format_examples.h"
#include "protocol/frame.h"
#include "protocol/random_message.h"
#include "protocol/test_util.h"

namespace unitsync::protocol {
namespace {

using testing::Body;
using testing::FromHex;

// {"t":10,"v":1,"nonce":7} with PING's keys; variations are built on it.
Body PingHead(uint32_t entries) { return Body().Map(entries).Str("t").Uint(10).Str("v").Uint(1); }

Error DecodeError(const Bytes& body) {
  auto m = DecodeMessage(body);
  EXPECT_FALSE(m) << "decoded unexpectedly";
  return m ? Error{Errc::kInternal, "decoded", {}} : m.error();
}

TEST(MessageCodec, PingDecodes) {
  auto m = DecodeMessage(PingHead(3).Str("nonce").Uint(7).bytes());
  ASSERT_TRUE(m) << m.error().message;
  EXPECT_EQ(std::get<Ping>(*m).nonce, 7u);
}

TEST(MessageCodec, RoundTripsRandomMessages) {
  const uint64_t seed = testing::TestSeed();
  SCOPED_TRACE("UNITSYNC_SEED=" + std::to_string(seed));
  testing::RandomMessages random(seed);
  for (int i = 0; i < 3000; ++i) {
    const Message message = random.Next();
    auto body = EncodeMessage(message);
    ASSERT_TRUE(body) << body.error().message;
    auto decoded = DecodeMessage(*body);
    ASSERT_TRUE(decoded) << decoded.error().message;
    ASSERT_TRUE(*decoded == message)
        << "message " << i << " type " << MessageTypeName(TypeOf(message));
    // Re-encoding is byte-identical: one canonical form per message.
    auto again = EncodeMessage(*decoded);
    ASSERT_TRUE(again);
    ASSERT_EQ(*again, *body);
  }
}

TEST(MessageCodec, RejectsDuplicateKey) {
  Error e = DecodeError(PingHead(4).Str("nonce").Uint(7).Str("nonce").Uint(8).bytes());
  EXPECT_EQ(e.code, Errc::kMalformed);
  EXPECT_NE(e.message.find("duplicate key \"nonce\""), std::string::npos) << e.message;
  e = DecodeError(Body()
                      .Map(4)
                      .Str("t")
                      .Uint(10)
                      .Str("t")
                      .Uint(10)
                      .Str("v")
                      .Uint(1)
                      .Str("nonce")
                      .Uint(1)
                      .bytes());
  EXPECT_NE(e.message.find("duplicate key \"t\""), std::string::npos) << e.message;
}

TEST(MessageCodec, RejectsUnknownKey) {
  Error e = DecodeError(PingHead(4).Str("nonce").Uint(7).Str("extra").Uint(1).bytes());
  EXPECT_EQ(e.code, Errc::kMalformed);
  EXPECT_NE(e.message.find("PING has unknown key \"extra\""), std::string::npos) << e.message;
}

TEST(MessageCodec, RejectsMissingKey) {
  Error e = DecodeError(PingHead(2).bytes());
  EXPECT_NE(e.message.find("PING is missing field \"nonce\""), std::string::npos) << e.message;
  e = DecodeError(Body().Map(2).Str("t").Uint(10).Str("nonce").Uint(1).bytes());
  EXPECT_NE(e.message.find("\"v\" is missing"), std::string::npos) << e.message;
}

TEST(MessageCodec, RejectsTrailingByte) {
  Bytes body = PingHead(3).Str("nonce").Uint(7).bytes();
  body.push_back(0xc0);
  Error e = DecodeError(body);
  EXPECT_EQ(e.code, Errc::kMalformed);
  EXPECT_NE(e.message.find("trailing"), std::string::npos) << e.message;
}

TEST(MessageCodec, RejectsWrongTypes) {
  // str where uint expected
  Error e = DecodeError(PingHead(3).Str("nonce").Str("7").bytes());
  EXPECT_NE(e.message.find("PING field \"nonce\" must be an unsigned integer"), std::string::npos)
      << e.message;
  // negative integer
  e = DecodeError(PingHead(3).Str("nonce").Raw({0xff}).bytes());
  EXPECT_NE(e.message.find("must not be negative"), std::string::npos) << e.message;
  // float, nil, bool
  for (Bytes v : {Bytes{0xca, 0, 0, 0, 0}, Bytes{0xc0}, Bytes{0xc3}}) {
    e = DecodeError(PingHead(3).Str("nonce").Raw(v).bytes());
    EXPECT_EQ(e.code, Errc::kMalformed);
  }
  // bin where str expected: ERROR msg
  e = DecodeError(Body()
                      .Map(4)
                      .Str("t")
                      .Uint(12)
                      .Str("v")
                      .Uint(1)
                      .Str("code")
                      .Uint(1)
                      .Str("msg")
                      .Raw({0xc4, 0x01, 0x41})
                      .bytes());
  EXPECT_NE(e.message.find("ERROR field \"msg\" must be a msgpack str"), std::string::npos)
      << e.message;
  // not a map at all
  e = DecodeError(FromHex("93010203"));
  EXPECT_NE(e.message.find("not a msgpack map"), std::string::npos);
  // non-string key
  e = DecodeError(FromHex("81 01 01"));
  EXPECT_NE(e.message.find("not a msgpack str"), std::string::npos);
  // ext anywhere
  e = DecodeError(PingHead(3).Str("nonce").Raw({0xd4, 0x01, 0x00}).bytes());
  EXPECT_EQ(e.code, Errc::kMalformed);
}

TEST(MessageCodec, RejectsOutOfRangeIntegers) {
  // ACK seq = 2^63 (one past kMaxSeq), encoded as uint64
  Bytes big = {0xcf, 0x80, 0, 0, 0, 0, 0, 0, 0};
  Error e = DecodeError(Body()
                            .Map(4)
                            .Str("t")
                            .Uint(4)
                            .Str("v")
                            .Uint(1)
                            .Str("of")
                            .Uint(1)
                            .Str("seq")
                            .Raw(big)
                            .bytes());
  EXPECT_NE(e.message.find("ACK field \"seq\" is out of range"), std::string::npos) << e.message;
  // ACK of = 4
  e = DecodeError(
      Body().Map(4).Str("t").Uint(4).Str("v").Uint(1).Str("of").Uint(4).Str("seq").Uint(1).bytes());
  EXPECT_NE(e.message.find("ACK field \"of\""), std::string::npos) << e.message;
  // PUSH seq 0 is not a changeset
  Bytes env(kEnvelopeOverhead, 0);
  Bytes env_bin = {0xc4, static_cast<uint8_t>(env.size())};
  env_bin.insert(env_bin.end(), env.begin(), env.end());
  e = DecodeError(Body()
                      .Map(4)
                      .Str("t")
                      .Uint(3)
                      .Str("v")
                      .Uint(1)
                      .Str("seq")
                      .Uint(0)
                      .Str("env")
                      .Raw(env_bin)
                      .bytes());
  EXPECT_NE(e.message.find("PUSH field \"seq\""), std::string::npos) << e.message;
  // unknown type, unsupported version
  e = DecodeError(Body().Map(2).Str("t").Uint(15).Str("v").Uint(1).bytes());
  EXPECT_NE(e.message.find("unknown message type 15"), std::string::npos) << e.message;
  e = DecodeError(Body().Map(3).Str("t").Uint(10).Str("v").Uint(2).Str("nonce").Uint(1).bytes());
  EXPECT_NE(e.message.find("unsupported protocol version 2"), std::string::npos) << e.message;
}

TEST(MessageCodec, RejectsBadTextAndIds) {
  // invalid UTF-8 in ERROR msg
  Error e = DecodeError(Body()
                            .Map(4)
                            .Str("t")
                            .Uint(12)
                            .Str("v")
                            .Uint(1)
                            .Str("code")
                            .Uint(1)
                            .Str("msg")
                            .Raw({0xa2, 0xc3, 0x28})
                            .bytes());
  EXPECT_NE(e.message.find("ERROR field \"msg\""), std::string::npos) << e.message;
  // node id with a space
  Hello hello{1, 1, "unit 1", 0, 0, "", {}};
  EXPECT_EQ(EncodeMessage(hello).error().code, Errc::kInvalidArgument);
  hello.node_id = "unit-1";
  auto body = EncodeMessage(hello);
  ASSERT_TRUE(body);
  auto it = std::search(body->begin(), body->end(), hello.node_id.begin(), hello.node_id.end());
  (*body)[static_cast<size_t>(it - body->begin()) + 4] = ' ';
  e = DecodeError(*body);
  EXPECT_NE(e.message.find("HELLO field \"node\""), std::string::npos) << e.message;
}

TEST(MessageCodec, RowsOnlyWithPartial) {
  Nack nack{AckOf::kPush, 5, NackCode::kBusy, "later", {{"student", "x", 1}}};
  EXPECT_FALSE(EncodeMessage(nack));
  nack.code = NackCode::kPartial;
  EXPECT_TRUE(EncodeMessage(nack));
}

TEST(MessageCodec, EnforcesMsgpackLimits) {
  // depth: NACK rows entry nested one array deeper than allowed
  Error e = DecodeError(FromHex("81 a1 74 91 91 91 01"));
  EXPECT_NE(e.message.find("nests deeper"), std::string::npos) << e.message;
  // map with 17 entries
  e = DecodeError(FromHex("de 00 11"));
  EXPECT_NE(e.message.find("map exceeds"), std::string::npos) << e.message;
  // array of 4097 elements announced, no body: refused by the limit, not a 64 KiB allocation
  e = DecodeError(FromHex("81 a1 74 dd 00 00 10 01"));
  EXPECT_NE(e.message.find("array exceeds"), std::string::npos) << e.message;
  // array of 2^32-1 announced
  e = DecodeError(FromHex("81 a1 74 dd ff ff ff ff"));
  EXPECT_NE(e.message.find("array exceeds"), std::string::npos) << e.message;
  // str/bin longer than announced data: msgpack-c needs the payload present first, so an
  // announced 4 GiB bin is "truncated" and allocates nothing (payloads are referenced).
  e = DecodeError(FromHex("81 a1 74 c6 ff ff ff ff"));
  EXPECT_EQ(e.code, Errc::kMalformed);
  // str of 1025 bytes, all present
  Bytes long_str = FromHex("81 a1 74 da 04 01");
  long_str.resize(long_str.size() + 1025, 'a');
  e = DecodeError(long_str);
  EXPECT_NE(e.message.find("str exceeds"), std::string::npos) << e.message;
  // bin of 1025 bytes, all present, with a 1 KiB frame limit
  Bytes long_bin = FromHex("81 a1 74 c5 04 01");
  long_bin.resize(long_bin.size() + 1025, 0);
  auto m = DecodeMessage(long_bin, 1024);
  ASSERT_FALSE(m);
  EXPECT_NE(m.error().message.find("bin exceeds"), std::string::npos) << m.error().message;
  // truncated
  e = DecodeError(FromHex("82 a1 74"));
  EXPECT_NE(e.message.find("truncated"), std::string::npos) << e.message;
  e = DecodeError({});
  EXPECT_EQ(e.code, Errc::kMalformed);
}

TEST(MessageCodec, TruncatedBodiesAtEveryOffsetAreRejected) {
  testing::RandomMessages random(1234);
  for (int i = 0; i < 50; ++i) {
    auto body = EncodeMessage(random.Next());
    ASSERT_TRUE(body);
    for (size_t cut = 0; cut < body->size(); ++cut) {
      auto m = DecodeMessage(ByteView(*body).first(cut));
      ASSERT_FALSE(m) << "cut " << cut;
      ASSERT_EQ(m.error().code, Errc::kMalformed);
    }
  }
}

TEST(MessageCodec, FrameHelperMatchesFrameOfBody) {
  Ping ping{42};
  auto frame = EncodeMessageFrame(ping);
  auto body = EncodeMessage(ping);
  ASSERT_TRUE(frame && body);
  EXPECT_EQ(*frame, *EncodeFrame(*body));
  EXPECT_FALSE(EncodeMessageFrame(Push{1, Bytes(2000, 0)}, 1024));
}

TEST(MessageCodec, AppendMessageFrameAppendsOrLeavesBufferAlone) {
  Bytes buffer = {0xee};
  ASSERT_TRUE(AppendMessageFrame(Ping{1}, buffer));
  ASSERT_TRUE(AppendMessageFrame(Pong{1}, buffer));
  Bytes expected = {0xee};
  for (const Message& m : {Message(Ping{1}), Message(Pong{1})}) {
    auto f = EncodeMessageFrame(m);
    expected.insert(expected.end(), f->begin(), f->end());
  }
  EXPECT_EQ(buffer, expected);
  EXPECT_FALSE(AppendMessageFrame(Push{1, Bytes(2000, 0)}, buffer, 1024));
  EXPECT_FALSE(AppendMessageFrame(Hello{}, buffer));  // invalid: versions 0
  EXPECT_EQ(buffer, expected);
}

TEST(MessageCodec, LargestEnvelopeFitsTheFrameForEveryCarrier) {
  for (size_t max_frame : {kMinConfigurableMaxFrame, kDefaultMaxFrame}) {
    const Bytes env(MaxPlaintextForFrame(max_frame) + kEnvelopeOverhead, 0x5a);
    const std::string id(kMaxIdBytes, 'x');
    for (const Message& m : {Message(Push{kMaxSeq, env}), Message(Changes{kMaxSeq, kMaxSeq, env}),
                             Message(SnapshotChunk{id, kMaxSnapshotChunks - 1, env})}) {
      auto frame = EncodeMessageFrame(m, max_frame);
      ASSERT_TRUE(frame) << frame.error().message;
      FrameDecoder decoder(max_frame);
      ByteView input(*frame);
      auto body = decoder.Next(input);
      ASSERT_TRUE(body && *body);
      auto decoded = DecodeMessage(**body, max_frame);
      ASSERT_TRUE(decoded) << decoded.error().message;
      EXPECT_TRUE(*decoded == m);
    }
  }
}

TEST(MessageCodec, NackRowLimit) {
  Nack nack{AckOf::kPush, 9, NackCode::kPartial, "", {}};
  nack.rows.assign(kMaxNackRows, RowRejection{"student", "x", 1});
  auto body = EncodeMessage(nack);
  ASSERT_TRUE(body);
  auto decoded = DecodeMessage(*body);
  ASSERT_TRUE(decoded) << decoded.error().message;
  EXPECT_EQ(std::get<Nack>(*decoded).rows.size(), kMaxNackRows);

  nack.rows.push_back(RowRejection{"student", "x", 1});
  EXPECT_EQ(EncodeMessage(nack).error().code, Errc::kInvalidArgument);
  // The same on the wire: bump the rows array header from 4096 to 4097 and append a row.
  Bytes wire = *body;
  const Bytes header = {0xdc, 0x10, 0x00};
  auto it = std::search(wire.begin(), wire.end(), header.begin(), header.end());
  ASSERT_NE(it, wire.end());
  *(it + 2) = 0x01;
  const Bytes row = {0x93, 0xa1, 's', 0xa1, 'x', 0x01};
  wire.insert(wire.end(), row.begin(), row.end());
  Error e = DecodeError(wire);
  EXPECT_NE(e.message.find("array exceeds"), std::string::npos) << e.message;
}

TEST(MessageCodec, ErrorsDoNotEchoArbitraryKeys) {
  // A long or non-id key is described by its length, not quoted.
  Body body = PingHead(4).Str("nonce").Uint(7);
  body.Str("Anna Andersson 19990101-1234");  // fixstr: < 32 bytes
  body.Uint(1);
  Error e = DecodeError(body.bytes());
  EXPECT_EQ(e.message.find("Anna"), std::string::npos) << e.message;
  EXPECT_NE(e.message.find("28-byte key"), std::string::npos) << e.message;
}

// DIGESTS with the given raw `tables` value (and optionally another "error"), built by
// hand so tests can break each rule.
Bytes DigestsBody(const Bytes& tables, std::string_view error = "") {
  return Body()
      .Map(9)
      .Str("t")
      .Uint(14)
      .Str("v")
      .Uint(1)
      .Str("id")
      .Uint(7)
      .Str("push")
      .Uint(1)
      .Str("pull")
      .Uint(2)
      .Str("head")
      .Uint(3)
      .Str("waiting")
      .Uint(0)
      .Str("error")
      .Str(error)
      .Str("tables")
      .Raw(tables)
      .bytes();
}

// One tables entry: [table, rows, 0, sha256 of `sha_len` bytes]; `rows` is raw msgpack.
Bytes TableEntry(std::string_view table, const Bytes& rows, size_t sha_len = kSha256Bytes) {
  Bytes b = Body().Raw({0x94}).Str(table).Raw(rows).Uint(0).bytes();
  b.push_back(0xc4);
  b.push_back(static_cast<uint8_t>(sha_len));
  b.insert(b.end(), sha_len, 0x11);
  return b;
}
Bytes TableEntry(std::string_view table, uint8_t rows, size_t sha_len = kSha256Bytes) {
  return TableEntry(table, Bytes{rows}, sha_len);
}

Bytes Array(std::initializer_list<Bytes> entries) {
  // Sized up front: GCC 12 at -O3 reports a false array-bounds error on growing a
  // one-byte vector by insert (the Release build of `make bench` stopped here).
  size_t size = 1;
  for (const Bytes& e : entries) size += e.size();
  Bytes b;
  b.reserve(size);
  b.push_back(static_cast<uint8_t>(0x90 | entries.size()));
  for (const Bytes& e : entries) b.insert(b.end(), e.begin(), e.end());
  return b;
}

TEST(MessageCodec, DigestsDecodes) {
  auto m = DecodeMessage(DigestsBody(Array({TableEntry("student", 5), TableEntry("unit", 1)})));
  ASSERT_TRUE(m) << m.error().message;
  const auto& d = std::get<Digests>(*m);
  EXPECT_EQ(d.id, 7u);
  EXPECT_EQ(d.position, (VerifyPosition{1, 2, 3, 0}));
  ASSERT_EQ(d.tables.size(), 2u);
  EXPECT_EQ(d.tables[0].table, "student");
  EXPECT_EQ(d.tables[0].rows, 5u);
  EXPECT_EQ(d.tables[0].sha256, Bytes(kSha256Bytes, 0x11));
}

TEST(MessageCodec, DigestsBreakingARuleIsMalformed) {
  const Bytes two_pow_63 = {0xcf, 0x80, 0, 0, 0, 0, 0, 0, 0};
  const std::pair<Bytes, const char*> cases[] = {
      {DigestsBody(Array({TableEntry("student", 5, 31)})),
       "DIGESTS field \"tables[].sha256\" must be 32 bytes"},
      {DigestsBody(Array({TableEntry("student", 5, 33)})),
       "DIGESTS field \"tables[].sha256\" must be 32 bytes"},
      {DigestsBody(Array({TableEntry("student", 5), TableEntry("student", 6)})),
       "DIGESTS field \"tables\" lists a table twice"},
      {DigestsBody(Array({TableEntry("student", 5)}), "locked"),
       "DIGESTS field \"tables\" must be empty when \"error\" is set"},
      {DigestsBody(Array({TableEntry("two words", 5)})), "DIGESTS field \"tables[].table\""},
      {DigestsBody(Array({TableEntry("", 5)})), "DIGESTS field \"tables[].table\""},
      {DigestsBody(Array({TableEntry("student", Bytes{0xff})})),
       "DIGESTS field \"tables[].rows\" must not be negative"},
      {DigestsBody(Array({TableEntry("student", two_pow_63)})),
       "DIGESTS field \"tables[].rows\" is out of range"},
      {DigestsBody(Array({TableEntry("student", Body().Str("5").bytes())})),
       "DIGESTS field \"tables[].rows\" must be an unsigned integer"},
      // sha256 as str; an entry of three; an entry that is not an array; not an array
      {DigestsBody(Array({Body().Raw({0x94}).Str("s").Uint(1).Uint(0).Str("x").bytes()})),
       "DIGESTS field \"tables\" entries must be"},
      {DigestsBody(Array({Body().Raw({0x93}).Str("s").Uint(1).Uint(0).bytes()})),
       "DIGESTS field \"tables\" entries must be"},
      {DigestsBody(Array({Body().Str("student").bytes()})),
       "DIGESTS field \"tables\" entries must be"},
      {DigestsBody(Body().Str("student").bytes()),
       "DIGESTS field \"tables\" must be a msgpack array"},
      // invalid UTF-8 in error
      {DigestsBody(Array({}), "\xc3\x28"), "DIGESTS field \"error\""},
  };
  for (const auto& [body, expected] : cases) {
    Error e = DecodeError(body);
    EXPECT_EQ(e.code, Errc::kMalformed);
    EXPECT_NE(e.message.find(expected), std::string::npos) << e.message;
  }
}

TEST(MessageCodec, DigestsTableLimit) {
  Digests d{1, {}, "", {}};
  for (size_t i = 0; i < kMaxDigestTables; ++i) {
    d.tables.push_back({"t" + std::to_string(i), 1, 0, Bytes(kSha256Bytes, 0)});
  }
  auto body = EncodeMessage(d);
  ASSERT_TRUE(body) << body.error().message;
  auto decoded = DecodeMessage(*body);
  ASSERT_TRUE(decoded) << decoded.error().message;
  EXPECT_EQ(std::get<Digests>(*decoded).tables.size(), kMaxDigestTables);

  d.tables.push_back({"one-more", 1, 0, Bytes(kSha256Bytes, 0)});
  EXPECT_EQ(EncodeMessage(d).error().code, Errc::kInvalidArgument);
  // The same on the wire: the tables array header says 257 and one more entry follows.
  Bytes wire = *body;
  const Bytes header = {0xdc, 0x01, 0x00};
  auto it = std::search(wire.begin(), wire.end(), header.begin(), header.end());
  ASSERT_NE(it, wire.end());
  *(it + 2) = 0x01;
  const Bytes extra = TableEntry("one-more", 1);
  wire.insert(wire.end(), extra.begin(), extra.end());
  Error e = DecodeError(wire);
  EXPECT_NE(e.message.find("DIGESTS field \"tables\" has more than 256 entries"), std::string::npos)
      << e.message;
}

TEST(MessageCodec, VerifyIdMustBePositive) {
  Error e = DecodeError(Body().Map(3).Str("t").Uint(13).Str("v").Uint(1).Str("id").Uint(0).bytes());
  EXPECT_NE(e.message.find("VERIFY field \"id\""), std::string::npos) << e.message;
  e = DecodeError(Body().Map(2).Str("t").Uint(13).Str("v").Uint(1).bytes());
  EXPECT_NE(e.message.find("VERIFY is missing field \"id\""), std::string::npos) << e.message;
  e = DecodeError(Body()
                      .Map(4)
                      .Str("t")
                      .Uint(13)
                      .Str("v")
                      .Uint(1)
                      .Str("id")
                      .Uint(1)
                      .Str("tables")
                      .Uint(1)
                      .bytes());
  EXPECT_NE(e.message.find("VERIFY has unknown key \"tables\""), std::string::npos) << e.message;
  EXPECT_FALSE(EncodeMessage(Verify{0}));
  EXPECT_FALSE(EncodeMessage(Digests{0, {}, "", {}}));
}

// A small in-process fuzz over mutated example bodies, so every build (GCC, ASan, UBSan)
// exercises the decoder on near-valid input. Anything that decodes must round-trip;
// anything else must be kMalformed, never another code, never a crash.
TEST(MessageCodec, MutatedExamplesDecodeOrFailCleanly) {
  const uint64_t seed = testing::TestSeed();
  SCOPED_TRACE("UNITSYNC_SEED=" + std::to_string(seed));
  std::mt19937_64 rng(seed);
  std::vector<Bytes> bodies;
  for (const auto& example : testing::FrameExamples()) {
    bodies.push_back(*EncodeMessage(example.message));
  }
  size_t decoded_count = 0;
  for (int i = 0; i < 20000; ++i) {
    Bytes body = bodies[rng() % bodies.size()];
    for (int k = 0, n = 1 + static_cast<int>(rng() % 4); k < n && !body.empty(); ++k) {
      const size_t at = rng() % body.size();
      switch (rng() % 4) {
        case 0:
          body[at] ^= static_cast<uint8_t>(1u << (rng() % 8));
          break;
        case 1:
          body[at] = static_cast<uint8_t>(rng());
          break;
        case 2:
          body.erase(body.begin() + static_cast<std::ptrdiff_t>(at));
          break;
        default:
          body.insert(body.begin() + static_cast<std::ptrdiff_t>(at), static_cast<uint8_t>(rng()));
      }
    }
    auto m = DecodeMessage(body);
    if (!m) {
      ASSERT_EQ(m.error().code, Errc::kMalformed) << m.error().message;
      continue;
    }
    ++decoded_count;
    auto again = DecodeMessage(*EncodeMessage(*m));
    ASSERT_TRUE(again && *again == *m) << "iteration " << i;
  }
  EXPECT_GT(decoded_count, 0u);  // some mutations (e.g. in envelope bytes) stay valid
}

}  // namespace
}  // namespace unitsync::protocol
