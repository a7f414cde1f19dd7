#include "protocol/envelope.h"

#include <gtest/gtest.h>

#include <random>

#include "protocol/test_util.h"

namespace unitsync::protocol {
namespace {

using testing::FromHex;
using testing::ToBytes;

// TEST VECTOR ONLY: a unit secret of bytes 00..1f, never used outside tests.
Bytes TestSecret() {
  Bytes s(kUnitSecretSize);
  for (size_t i = 0; i < s.size(); ++i) s[i] = static_cast<uint8_t>(i);
  return s;
}

ChangesetKey TestKey(uint32_t key_id = 1) { return *DeriveChangesetKey(TestSecret(), key_id); }

EnvelopeHeader PushHeader(uint64_t seq = 42) {
  return EnvelopeHeader{1, EnvelopeKind::kPush, "unit-0042", "central", seq, seq, ""};
}

TEST(DeriveChangesetKey, DependsOnSecretAndKeyId) {
  const ChangesetKey k1 = TestKey(1);
  const ChangesetKey k1_again = TestKey(1);
  const ChangesetKey k2 = TestKey(2);
  EXPECT_TRUE(std::equal(k1.bytes().begin(), k1.bytes().end(), k1_again.bytes().begin()));
  EXPECT_FALSE(std::equal(k1.bytes().begin(), k1.bytes().end(), k2.bytes().begin()));
  Bytes other = TestSecret();
  other[0] ^= 1;
  const ChangesetKey k3 = *DeriveChangesetKey(other, 1);
  EXPECT_FALSE(std::equal(k1.bytes().begin(), k1.bytes().end(), k3.bytes().begin()));
}

TEST(DeriveChangesetKey, RefusesWrongSecretSizeWithoutEchoingIt) {
  Bytes short_secret(31, 0x5a);
  auto key = DeriveChangesetKey(short_secret, 1);
  ASSERT_FALSE(key);
  EXPECT_EQ(key.error().code, Errc::kInvalidArgument);
  EXPECT_EQ(key.error().message.find("5a"), std::string::npos);
}

TEST(ChangesetKey, MoveWipesTheSource) {
  ChangesetKey a = TestKey();
  const Bytes before(a.bytes().begin(), a.bytes().end());
  ChangesetKey b(std::move(a));
  EXPECT_EQ(Bytes(b.bytes().begin(), b.bytes().end()), before);
  EXPECT_EQ(Bytes(a.bytes().begin(), a.bytes().end()), Bytes(kChangesetKeySize, 0));  // NOLINT
}

TEST(Envelope, SealOpenRoundTripsAllSizes) {
  const uint64_t seed = testing::TestSeed();
  SCOPED_TRACE("UNITSYNC_SEED=" + std::to_string(seed));
  std::mt19937 rng(seed);
  const ChangesetKey key = TestKey();
  for (size_t n : {0, 1, 15, 16, 17, 1000, 65536, 100000}) {
    Bytes plaintext(n);
    for (auto& b : plaintext) b = static_cast<uint8_t>(rng());
    auto sealed = SealChangeset(key, PushHeader(), plaintext);
    ASSERT_TRUE(sealed) << sealed.error().message;
    EXPECT_EQ(sealed->size(), n + kEnvelopeOverhead);
    EXPECT_EQ(*EnvelopeKeyId(*sealed), 1u);
    auto opened = OpenChangeset(key, PushHeader(), *sealed);
    ASSERT_TRUE(opened) << opened.error().message;
    EXPECT_EQ(*opened, plaintext);
  }
}

TEST(Envelope, FreshNonceEverySeal) {
  const ChangesetKey key = TestKey();
  const Bytes plaintext = ToBytes("same plaintext");
  auto a = SealChangeset(key, PushHeader(), plaintext);
  auto b = SealChangeset(key, PushHeader(), plaintext);
  ASSERT_TRUE(a && b);
  EXPECT_NE(Bytes(a->begin() + 5, a->begin() + 17), Bytes(b->begin() + 5, b->begin() + 17));
}

TEST(Envelope, EveryFlippedBitIsRefused) {
  const ChangesetKey key = TestKey();
  const Bytes plaintext = ToBytes("changeset plaintext, forty bytes long...");
  const Bytes sealed = *SealChangeset(key, PushHeader(), plaintext);
  for (size_t byte = 0; byte < sealed.size(); ++byte) {
    for (int bit = 0; bit < 8; ++bit) {
      Bytes tampered = sealed;
      tampered[byte] ^= static_cast<uint8_t>(1 << bit);
      auto opened = OpenChangeset(key, PushHeader(), tampered);
      ASSERT_FALSE(opened) << "byte " << byte << " bit " << bit;
      ASSERT_EQ(opened.error().code, Errc::kCorrupt) << "byte " << byte << " bit " << bit;
    }
  }
}

TEST(Envelope, TruncatedOrExtendedIsRefused) {
  const ChangesetKey key = TestKey();
  const Bytes sealed = *SealChangeset(key, PushHeader(), ToBytes("abc"));
  for (size_t cut = 0; cut < sealed.size(); ++cut) {
    auto opened = OpenChangeset(key, PushHeader(), ByteView(sealed).first(cut));
    ASSERT_FALSE(opened);
    EXPECT_EQ(opened.error().code, Errc::kCorrupt);
  }
  Bytes longer = sealed;
  longer.push_back(0);
  EXPECT_EQ(OpenChangeset(key, PushHeader(), longer).error().code, Errc::kCorrupt);
}

TEST(Envelope, WrongKeyOrHeaderIsRefused) {
  const ChangesetKey key = TestKey();
  const Bytes sealed = *SealChangeset(key, PushHeader(42), ToBytes("rows"));

  Bytes other_secret = TestSecret();
  other_secret[31] ^= 0x80;
  const ChangesetKey wrong_key = *DeriveChangesetKey(other_secret, 1);
  EXPECT_EQ(OpenChangeset(wrong_key, PushHeader(42), sealed).error().code, Errc::kCorrupt);

  // Same secret, another key id: refused by the key id check and by the tag.
  const ChangesetKey key2 = TestKey(2);
  EXPECT_EQ(OpenChangeset(key2, PushHeader(42), sealed).error().code, Errc::kCorrupt);
  const ChangesetKey key2_claiming_1 = *ChangesetKey::FromBytes(1, key2.bytes());
  EXPECT_EQ(OpenChangeset(key2_claiming_1, PushHeader(42), sealed).error().code, Errc::kCorrupt);

  std::vector<EnvelopeHeader> wrong;
  EnvelopeHeader h = PushHeader(42);
  h.seq_from = h.seq_to = 43;  // replay under another seq
  wrong.push_back(h);
  h = PushHeader(42);
  h.seq_to = 44;
  wrong.push_back(h);
  h = PushHeader(42);
  h.destination = "central-2";  // redirected
  wrong.push_back(h);
  h = PushHeader(42);
  h.origin = "unit-0043";  // another unit's claim
  wrong.push_back(h);
  h = PushHeader(42);
  std::swap(h.origin, h.destination);  // reflected back
  wrong.push_back(h);
  h = PushHeader(42);
  h.kind = EnvelopeKind::kChanges;
  wrong.push_back(h);
  h = PushHeader(42);
  h.protocol_version = 2;
  wrong.push_back(h);
  h = PushHeader(42);
  h.stream = "gen-2";
  wrong.push_back(h);
  for (size_t i = 0; i < wrong.size(); ++i) {
    auto opened = OpenChangeset(key, wrong[i], sealed);
    ASSERT_FALSE(opened) << "header variant " << i;
    EXPECT_EQ(opened.error().code, Errc::kCorrupt) << "header variant " << i;
  }
  EXPECT_TRUE(OpenChangeset(key, PushHeader(42), sealed));
}

TEST(Envelope, AadIsInjective) {
  // Moving a byte between origin and destination must change the AAD.
  EnvelopeHeader a{1, EnvelopeKind::kPush, "ab", "c", 1, 1, ""};
  EnvelopeHeader b{1, EnvelopeKind::kPush, "a", "bc", 1, 1, ""};
  EXPECT_NE(*EncodeAad(a, 1), *EncodeAad(b, 1));
}

TEST(Envelope, RefusesBadHeaders) {
  const ChangesetKey key = TestKey();
  EnvelopeHeader h = PushHeader();
  h.origin = "";
  EXPECT_EQ(SealChangeset(key, h, ToBytes("x")).error().code, Errc::kInvalidArgument);
  h = PushHeader();
  h.seq_from = 5;
  h.seq_to = 4;
  EXPECT_EQ(SealChangeset(key, h, ToBytes("x")).error().code, Errc::kInvalidArgument);
  h = PushHeader();
  h.kind = static_cast<EnvelopeKind>(9);
  EXPECT_EQ(SealChangeset(key, h, ToBytes("x")).error().code, Errc::kInvalidArgument);
}

// Every rule of FORMAT.md section 3's header, each broken alone: refused when sealing and
// when opening (the opener's expected header is checked before any decryption).
TEST(Envelope, EveryHeaderRuleIsChecked) {
  const ChangesetKey key = TestKey();
  const Bytes sealed = *SealChangeset(key, PushHeader(), ToBytes("rows"));
  struct Case {
    const char* rule;
    EnvelopeHeader header;
  };
  std::vector<Case> cases;
  const auto broken = [&](const char* rule, auto change) {
    EnvelopeHeader h = PushHeader();
    change(h);
    cases.push_back({rule, h});
  };
  broken("protocol version 0", [](EnvelopeHeader& h) { h.protocol_version = 0; });
  broken("kind 0", [](EnvelopeHeader& h) { h.kind = static_cast<EnvelopeKind>(0); });
  broken("kind 6", [](EnvelopeHeader& h) { h.kind = static_cast<EnvelopeKind>(6); });
  broken("origin too long",
         [](EnvelopeHeader& h) { h.origin = std::string(kMaxIdBytes + 1, 'u'); });
  broken("origin not an id", [](EnvelopeHeader& h) { h.origin = "unit 0042"; });
  broken("destination empty", [](EnvelopeHeader& h) { h.destination = ""; });
  broken("destination not an id", [](EnvelopeHeader& h) { h.destination = "central/1"; });
  broken("stream not an id", [](EnvelopeHeader& h) { h.stream = "g 1"; });
  broken("stream too long",
         [](EnvelopeHeader& h) { h.stream = std::string(kMaxIdBytes + 1, 'g'); });
  broken("seq_to past 2^63-1", [](EnvelopeHeader& h) { h.seq_to = kMaxSeq + 1; });
  for (const Case& c : cases) {
    SCOPED_TRACE(c.rule);
    auto aad = EncodeAad(c.header, 1);
    ASSERT_FALSE(aad);
    EXPECT_EQ(aad.error().code, Errc::kInvalidArgument);
    auto seal = SealChangeset(key, c.header, ToBytes("rows"));
    ASSERT_FALSE(seal);
    EXPECT_EQ(seal.error().code, Errc::kInvalidArgument);
    auto open = OpenChangeset(key, c.header, sealed);
    ASSERT_FALSE(open);
    EXPECT_EQ(open.error().code, Errc::kInvalidArgument);
  }
  // The limits themselves are allowed.
  EnvelopeHeader edge = PushHeader();
  edge.origin = std::string(kMaxIdBytes, 'u');
  edge.stream = "gen_1.a:b-c";
  edge.seq_from = 0;
  edge.seq_to = kMaxSeq;
  EXPECT_TRUE(EncodeAad(edge, 1));
  auto seal = SealChangeset(key, edge, ToBytes("rows"));
  ASSERT_TRUE(seal);
  EXPECT_EQ(*OpenChangeset(key, edge, *seal), ToBytes("rows"));
}

TEST(Envelope, KeyIdIsReadOnlyFromAnEnvelopeOfKnownFormat) {
  const ChangesetKey key = TestKey(0x01020304);
  Bytes sealed = *SealChangeset(key, PushHeader(), ToBytes("rows"));
  EXPECT_EQ(*EnvelopeKeyId(sealed), 0x01020304u);
  EXPECT_EQ(EnvelopeKeyId(ByteView(sealed).first(kEnvelopeOverhead - 1)).error().code,
            Errc::kCorrupt);
  sealed[0] = kEnvelopeFormat + 1;
  auto unknown = EnvelopeKeyId(sealed);
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().code, Errc::kCorrupt);
  EXPECT_NE(unknown.error().message.find("format 2"), std::string::npos);
  EXPECT_EQ(OpenChangeset(key, PushHeader(), sealed).error().code, Errc::kCorrupt);
}

TEST(Envelope, WrongKeyIdIsNamedInTheError) {
  const Bytes sealed = *SealChangeset(TestKey(7), PushHeader(), ToBytes("rows"));
  auto opened = OpenChangeset(TestKey(8), PushHeader(), sealed);
  ASSERT_FALSE(opened);
  EXPECT_EQ(opened.error().code, Errc::kCorrupt);
  EXPECT_NE(opened.error().message.find("key id 7, expected key id 8"), std::string::npos)
      << opened.error().message;
}

TEST(Envelope, EachHeaderFieldOfEachKindBindsTheEnvelope) {
  const ChangesetKey key = TestKey();
  for (EnvelopeKind kind : {EnvelopeKind::kPush, EnvelopeKind::kChanges, EnvelopeKind::kSnapshot,
                            EnvelopeKind::kBackup, EnvelopeKind::kBundle}) {
    SCOPED_TRACE(static_cast<int>(kind));
    const EnvelopeHeader h{1, kind, "central", "unit-0042", 3, 9, "stream-1"};
    const Bytes sealed = *SealChangeset(key, h, ToBytes("rows"));
    EXPECT_EQ(*OpenChangeset(key, h, sealed), ToBytes("rows"));
    for (EnvelopeKind other : {EnvelopeKind::kPush, EnvelopeKind::kChanges, EnvelopeKind::kSnapshot,
                               EnvelopeKind::kBackup, EnvelopeKind::kBundle}) {
      if (other == kind) continue;
      EnvelopeHeader wrong = h;
      wrong.kind = other;
      EXPECT_EQ(OpenChangeset(key, wrong, sealed).error().code, Errc::kCorrupt);
    }
    EnvelopeHeader no_stream = h;
    no_stream.stream = "";
    EXPECT_EQ(OpenChangeset(key, no_stream, sealed).error().code, Errc::kCorrupt);
    EnvelopeHeader from = h;
    from.seq_from = 4;
    EXPECT_EQ(OpenChangeset(key, from, sealed).error().code, Errc::kCorrupt);
  }
}

class FailingNonces final : public NonceSource {
 public:
  Status Fill(std::span<uint8_t, kNonceSize>) override {
    ++calls;
    return Fail(Errc::kInternal, "no entropy");
  }
  int calls = 0;
};

TEST(Envelope, NonceSourceFailureSealsNothing) {
  FailingNonces nonces;
  auto sealed = SealChangeset(TestKey(), PushHeader(), ToBytes("rows"), nonces);
  ASSERT_FALSE(sealed);
  EXPECT_EQ(sealed.error().code, Errc::kInternal);
  EXPECT_EQ(nonces.calls, 1);
  // A bad header is refused before a nonce is drawn.
  EnvelopeHeader bad = PushHeader();
  bad.destination = "";
  EXPECT_EQ(SealChangeset(TestKey(), bad, ToBytes("rows"), nonces).error().code,
            Errc::kInvalidArgument);
  EXPECT_EQ(nonces.calls, 1);
}

TEST(ChangesetKey, FromBytesNeedsExactlyAKeysLength) {
  EXPECT_EQ(ChangesetKey::FromBytes(1, Bytes(kChangesetKeySize - 1, 1)).error().code,
            Errc::kInvalidArgument);
  EXPECT_EQ(ChangesetKey::FromBytes(1, Bytes(kChangesetKeySize + 1, 1)).error().code,
            Errc::kInvalidArgument);
  auto key = ChangesetKey::FromBytes(9, Bytes(kChangesetKeySize, 1));
  ASSERT_TRUE(key);
  EXPECT_EQ(key->key_id(), 9u);
}

TEST(ChangesetKey, MoveAssignmentWipesTheSourceAndSelfAssignmentKeepsTheKey) {
  ChangesetKey a = TestKey(1);
  ChangesetKey b = TestKey(2);
  const Bytes a_bytes(a.bytes().begin(), a.bytes().end());
  b = std::move(a);
  EXPECT_EQ(b.key_id(), 1u);
  EXPECT_EQ(Bytes(b.bytes().begin(), b.bytes().end()), a_bytes);
  EXPECT_EQ(Bytes(a.bytes().begin(), a.bytes().end()), Bytes(kChangesetKeySize, 0));  // NOLINT
  ChangesetKey& same = b;
  b = std::move(same);
  EXPECT_EQ(Bytes(b.bytes().begin(), b.bytes().end()), a_bytes) << "not wiped by itself";
}

TEST(Envelope, ErrorsNeverContainKeyBytes) {
  const ChangesetKey key = TestKey();
  const Bytes sealed = *SealChangeset(key, PushHeader(), ToBytes("abc"));
  Bytes tampered = sealed;
  tampered.back() ^= 1;
  const Error e = OpenChangeset(key, PushHeader(), tampered).error();
  const std::string text = e.ToString();
  EXPECT_EQ(text.find(testing::ToHex(key.bytes())), std::string::npos);
  EXPECT_EQ(text.find(testing::ToHex(TestSecret())), std::string::npos);
  EXPECT_EQ(text.find("abc"), std::string::npos);
}

}  // namespace
}  // namespace unitsync::protocol
