#include "protocol/frame.h"

#include <gtest/gtest.h>

#include <random>

#include "protocol/test_util.h"

namespace unitsync::protocol {
namespace {

using testing::FromHex;

std::vector<Bytes> DecodeAll(FrameDecoder& decoder, ByteView input, Result<void>* status) {
  std::vector<Bytes> frames;
  while (!input.empty()) {
    auto next = decoder.Next(input);
    if (!next) {
      *status = tl::unexpected(next.error());
      return frames;
    }
    if (*next) frames.push_back(std::move(**next));
  }
  return frames;
}

TEST(EncodeFrame, PrefixesBigEndianLength) {
  auto frame = EncodeFrame(FromHex("81a17401"));
  ASSERT_TRUE(frame);
  EXPECT_EQ(*frame, FromHex("00000004 81a17401"));
}

TEST(EncodeFrame, RefusesEmptyAndOversizeBodies) {
  EXPECT_EQ(EncodeFrame({}).error().code, Errc::kInvalidArgument);
  Bytes body(11, 0x01);
  EXPECT_EQ(EncodeFrame(body, 10).error().code, Errc::kInvalidArgument);
  EXPECT_TRUE(EncodeFrame(body, 11));
}

TEST(FrameDecoder, DecodesFramesSplitAtEveryOffset) {
  Bytes stream;
  std::vector<Bytes> bodies = {FromHex("01"), Bytes(300, 0xab), FromHex("0203")};
  for (const Bytes& b : bodies) {
    auto f = EncodeFrame(b);
    stream.insert(stream.end(), f->begin(), f->end());
  }
  for (size_t split = 0; split <= stream.size(); ++split) {
    FrameDecoder decoder(1024);
    Status status;
    auto first = DecodeAll(decoder, ByteView(stream).first(split), &status);
    auto rest = DecodeAll(decoder, ByteView(stream).subspan(split), &status);
    ASSERT_TRUE(status) << "split at " << split;
    first.insert(first.end(), rest.begin(), rest.end());
    EXPECT_EQ(first, bodies) << "split at " << split;
    EXPECT_FALSE(decoder.mid_frame());
  }
}

TEST(FrameDecoder, ByteAtATimeAndRandomSplits) {
  const uint64_t seed = testing::TestSeed();
  SCOPED_TRACE("UNITSYNC_SEED=" + std::to_string(seed));
  std::mt19937 rng(seed);
  Bytes stream;
  std::vector<Bytes> bodies;
  for (int i = 0; i < 50; ++i) {
    Bytes b(1 + rng() % 2000);
    for (auto& x : b) x = static_cast<uint8_t>(rng());
    auto f = EncodeFrame(b);
    stream.insert(stream.end(), f->begin(), f->end());
    bodies.push_back(std::move(b));
  }
  FrameDecoder decoder(4096);
  std::vector<Bytes> got;
  size_t pos = 0;
  while (pos < stream.size()) {
    const size_t n = std::min<size_t>(stream.size() - pos, rng() % 700);
    Status status;
    auto frames = DecodeAll(decoder, ByteView(stream).subspan(pos, n), &status);
    ASSERT_TRUE(status);
    got.insert(got.end(), frames.begin(), frames.end());
    pos += n;
  }
  EXPECT_EQ(got, bodies);
}

TEST(FrameDecoder, TruncatedFrameAtEveryOffsetYieldsNothing) {
  auto frame = EncodeFrame(Bytes(40, 0x11));
  for (size_t cut = 0; cut < frame->size(); ++cut) {
    FrameDecoder decoder(1024);
    Status status;
    auto frames = DecodeAll(decoder, ByteView(*frame).first(cut), &status);
    EXPECT_TRUE(status);
    EXPECT_TRUE(frames.empty());
    EXPECT_EQ(decoder.mid_frame(), cut > 0);
  }
}

TEST(FrameDecoder, RefusesOversizeLengthBeforeAnyBodyByte) {
  FrameDecoder decoder;  // default 4 MiB
  Bytes prefix = FromHex("ffffffff 010203");
  ByteView input(prefix);
  auto next = decoder.Next(input);
  ASSERT_FALSE(next);
  EXPECT_EQ(input.size(), 3u);  // decided on the 4 prefix bytes; no body byte taken
  EXPECT_EQ(next.error().code, Errc::kMalformed);
  EXPECT_NE(next.error().message.find("4294967295"), std::string::npos);
  // Stays failed; consumes nothing more.
  Bytes more = FromHex("00000001 00");
  ByteView more_view(more);
  EXPECT_FALSE(decoder.Next(more_view));
  EXPECT_EQ(more_view.size(), more.size());
}

TEST(FrameDecoder, LimitIsInclusive) {
  FrameDecoder decoder(8);
  Bytes ok = FromHex("00000008 0102030405060708");
  ByteView input(ok);
  auto next = decoder.Next(input);
  ASSERT_TRUE(next && *next);
  Bytes bad = FromHex("00000009");
  ByteView bad_view(bad);
  EXPECT_FALSE(decoder.Next(bad_view));
}

TEST(FrameDecoder, RefusesZeroLength) {
  FrameDecoder decoder;
  Bytes zero = FromHex("00000000");
  ByteView input(zero);
  auto next = decoder.Next(input);
  ASSERT_FALSE(next);
  EXPECT_EQ(next.error().code, Errc::kMalformed);
}

TEST(ValidateMaxFrame, Bounds) {
  EXPECT_TRUE(ValidateMaxFrame(kDefaultMaxFrame));
  EXPECT_FALSE(ValidateMaxFrame(kMinConfigurableMaxFrame - 1));
  EXPECT_FALSE(ValidateMaxFrame(kMaxConfigurableMaxFrame + 1));
}

}  // namespace
}  // namespace unitsync::protocol
