// Pins FORMAT.md: every fenced ```hex block in the document is parsed out of the file and
// compared with what the code produces, so the document and the code cannot drift.
//
// To regenerate section 5 after an intended format change:
//   UNITSYNC_PRINT_FORMAT_EXAMPLES=1 build/tests/protocol_test --gtest_filter='FormatDoc.Rendered*'
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <set>
#include <sstream>

#include "protocol/envelope.h"
#include "protocol/format_examples.h"
#include "protocol/frame.h"
#include "protocol/message_codec.h"
#include "protocol/message_schema.h"
#include "protocol/test_util.h"

namespace unitsync::protocol {
namespace {

using testing::FromHex;
using testing::ToHex;

const char* const kEnvelopeLabels[] = {"envelope-secret", "envelope-key",       "envelope-aad",
                                       "envelope-nonce",  "envelope-plaintext", "envelope-sealed"};

std::string ReadFormatMd() {
  std::ifstream in(std::string(UNITSYNC_PROTOCOL_DIR) + "/FORMAT.md");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// label -> bytes for every block that opens with "```hex LABEL".
std::map<std::string, Bytes> HexBlocks(const std::string& doc) {
  std::map<std::string, Bytes> blocks;
  std::istringstream lines(doc);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.rfind("```hex ", 0) != 0) continue;
    const std::string label = line.substr(7);
    std::string hex;
    while (std::getline(lines, line) && line != "```") hex += line + "\n";
    EXPECT_FALSE(blocks.count(label)) << "duplicate example label " << label;
    Bytes bytes = FromHex(hex);
    EXPECT_FALSE(bytes.empty()) << "example " << label << " is not hex";
    blocks[label] = std::move(bytes);
  }
  return blocks;
}

// 16 bytes a line, spaced; a frame's 4-byte length prefix on a line of its own.
std::string DocHex(ByteView bytes, bool frame) {
  std::string out;
  size_t start = 0;
  if (frame) {
    for (size_t k = 0; k < 4; ++k) out += ToHex(bytes.subspan(k, 1)) + (k < 3 ? " " : "\n");
    start = 4;
  }
  for (size_t i = start; i < bytes.size(); i += 16) {
    const size_t n = std::min<size_t>(16, bytes.size() - i);
    for (size_t k = 0; k < n; ++k) {
      out += ToHex(bytes.subspan(i + k, 1));
      out += k + 1 < n ? " " : "\n";
    }
  }
  return out;
}

struct EnvelopeExample {
  Bytes secret, key, aad, nonce, plaintext, sealed;
};

EnvelopeExample ComputeEnvelopeExample() {
  EnvelopeExample e;
  e.secret = testing::ExampleUnitSecret();
  const ChangesetKey key = *DeriveChangesetKey(e.secret, testing::kExampleKeyId);
  e.key.assign(key.bytes().begin(), key.bytes().end());
  e.aad = *EncodeAad(testing::ExampleEnvelopeHeader(), testing::kExampleKeyId);
  e.plaintext = testing::ExampleEnvelopePlaintext();
  testing::CountingNonces nonces;
  e.sealed = *SealChangeset(key, testing::ExampleEnvelopeHeader(), e.plaintext, nonces);
  e.nonce.assign(e.sealed.begin() + 5, e.sealed.begin() + 17);
  return e;
}

TEST(FormatDoc, FrameExamplesMatchTheCode) {
  const auto blocks = HexBlocks(ReadFormatMd());
  for (const testing::FrameExample& example : testing::FrameExamples()) {
    SCOPED_TRACE(example.label);
    auto it = blocks.find(example.label);
    ASSERT_NE(it, blocks.end()) << "FORMAT.md has no ```hex " << example.label << " block";
    const Bytes& doc_frame = it->second;

    auto encoded = EncodeMessageFrame(example.message);
    ASSERT_TRUE(encoded) << encoded.error().message;
    EXPECT_EQ(ToHex(*encoded), ToHex(doc_frame));

    FrameDecoder decoder;
    ByteView input(doc_frame);
    auto body = decoder.Next(input);
    ASSERT_TRUE(body && *body) << "not one whole frame";
    EXPECT_TRUE(input.empty()) << "bytes after the frame";
    auto decoded = DecodeMessage(**body);
    ASSERT_TRUE(decoded) << decoded.error().message;
    EXPECT_TRUE(*decoded == example.message);
  }
}

TEST(FormatDoc, EnvelopeExampleMatchesTheCode) {
  const auto blocks = HexBlocks(ReadFormatMd());
  const EnvelopeExample e = ComputeEnvelopeExample();
  const std::pair<const char*, const Bytes*> expected[] = {{"envelope-secret", &e.secret},
                                                           {"envelope-key", &e.key},
                                                           {"envelope-aad", &e.aad},
                                                           {"envelope-nonce", &e.nonce},
                                                           {"envelope-plaintext", &e.plaintext},
                                                           {"envelope-sealed", &e.sealed}};
  for (const auto& [label, bytes] : expected) {
    auto it = blocks.find(label);
    ASSERT_NE(it, blocks.end()) << "FORMAT.md has no ```hex " << label << " block";
    EXPECT_EQ(ToHex(it->second), ToHex(*bytes)) << label;
  }
  // The document's sealed bytes open to the document's plaintext.
  const ChangesetKey key =
      *ChangesetKey::FromBytes(testing::kExampleKeyId, blocks.at("envelope-key"));
  auto opened = OpenChangeset(key, testing::ExampleEnvelopeHeader(), blocks.at("envelope-sealed"));
  ASSERT_TRUE(opened) << opened.error().message;
  EXPECT_EQ(*opened, blocks.at("envelope-plaintext"));
}

TEST(FormatDoc, ExampleFramesDecodeWhenSplitAtEveryOffset) {
  for (const testing::FrameExample& example : testing::FrameExamples()) {
    SCOPED_TRACE(example.label);
    const Bytes frame = *EncodeMessageFrame(example.message);
    for (size_t split = 0; split <= frame.size(); ++split) {
      FrameDecoder decoder;
      std::optional<Bytes> body;
      for (ByteView part : {ByteView(frame).first(split), ByteView(frame).subspan(split)}) {
        while (!part.empty()) {
          auto next = decoder.Next(part);
          ASSERT_TRUE(next) << next.error().message;
          if (*next) body = std::move(**next);
        }
        if (part.data() == frame.data()) {
          ASSERT_EQ(body.has_value(), split == frame.size()) << "split " << split;
        }
      }
      ASSERT_TRUE(body) << "split " << split;
      auto decoded = DecodeMessage(*body);
      ASSERT_TRUE(decoded && *decoded == example.message) << "split " << split;
    }
  }
}

TEST(FormatDoc, ExampleEnvelopesOpenUnderTheirDocumentedHeaders) {
  const ChangesetKey key =
      *DeriveChangesetKey(testing::ExampleUnitSecret(), testing::kExampleKeyId);
  for (const testing::FrameExample& example : testing::FrameExamples()) {
    if (const auto* m = std::get_if<Changes>(&example.message)) {
      const EnvelopeHeader h{
          1, EnvelopeKind::kChanges, "central", "unit-0042", m->from_seq, m->to_seq, "g-20260301"};
      EXPECT_EQ(*OpenChangeset(key, h, m->envelope), testing::ToBytes("TEST fan-out"));
    }
    if (const auto* m = std::get_if<SnapshotChunk>(&example.message)) {
      const EnvelopeHeader h{1,        EnvelopeKind::kSnapshot, "central", "unit-0042", m->index,
                             m->index, m->snapshot_id};
      EXPECT_EQ(*OpenChangeset(key, h, m->envelope), testing::ToBytes("TEST chunk 0"));
    }
  }
}

TEST(FormatDoc, EveryBlockIsPinnedAndEveryTypeShown) {
  const auto blocks = HexBlocks(ReadFormatMd());
  std::set<std::string> known(std::begin(kEnvelopeLabels), std::end(kEnvelopeLabels));
  std::set<MessageType> types;
  for (const auto& example : testing::FrameExamples()) {
    known.insert(example.label);
    types.insert(TypeOf(example.message));
  }
  for (const auto& [label, bytes] : blocks) {
    EXPECT_TRUE(known.count(label)) << "FORMAT.md block " << label << " is not pinned";
  }
  EXPECT_EQ(types.size(), std::variant_size_v<Message>);
}

// Renders the examples section from the code. Every rendered block must
// stand verbatim in FORMAT.md; with UNITSYNC_PRINT_FORMAT_EXAMPLES=1 the
// section is also printed, to paste into FORMAT.md after a format change.
TEST(FormatDoc, RenderedExamplesStandVerbatimInFormatMd) {
  std::ostringstream section;
  std::vector<std::string> blocks;
  for (const auto& example : testing::FrameExamples()) {
    std::ostringstream block;
    block << "```hex " << example.label << "\n"
          << DocHex(*EncodeMessageFrame(example.message), true) << "```\n";
    blocks.push_back(block.str());
    section << "#### " << example.label << "\n\n`" << example.notation << "`\n\n"
            << block.str() << "\n";
  }
  const EnvelopeExample e = ComputeEnvelopeExample();
  const std::pair<const char*, const Bytes*> parts[] = {{"envelope-secret", &e.secret},
                                                        {"envelope-key", &e.key},
                                                        {"envelope-aad", &e.aad},
                                                        {"envelope-nonce", &e.nonce},
                                                        {"envelope-plaintext", &e.plaintext},
                                                        {"envelope-sealed", &e.sealed}};
  for (const auto& [label, bytes] : parts) {
    std::ostringstream block;
    block << "```hex " << label << "\n" << DocHex(*bytes, false) << "```\n";
    blocks.push_back(block.str());
    section << block.str() << "\n";
  }
  const std::string doc = ReadFormatMd();
  for (const std::string& block : blocks) {
    EXPECT_NE(doc.find(block), std::string::npos) << "FORMAT.md lacks, verbatim:\n" << block;
  }
  if (std::getenv("UNITSYNC_PRINT_FORMAT_EXAMPLES") != nullptr) std::cout << section.str();
}

// The fuzzers' dictionary (protocol/fuzz/message.dict) knows every key of every message,
// so a new message's keys reach the fuzzer as whole tokens.
TEST(FormatDoc, FuzzDictionaryHasEveryMessageKey) {
  std::ifstream in(std::string(UNITSYNC_PROTOCOL_DIR) + "/fuzz/message.dict");
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string dict = ss.str();
  ASSERT_FALSE(dict.empty());
  std::vector<std::string_view> keys = {"t", "v"};
  auto add = [&](const auto& schema_keys) {
    keys.insert(keys.end(), schema_keys.begin(), schema_keys.end());
  };
  add(Schema<Hello>::kKeys);
  add(Schema<Welcome>::kKeys);
  add(Schema<Push>::kKeys);
  add(Schema<Ack>::kKeys);
  add(Schema<Nack>::kKeys);
  add(Schema<Changes>::kKeys);
  add(Schema<SnapshotBegin>::kKeys);
  add(Schema<SnapshotChunk>::kKeys);
  add(Schema<SnapshotEnd>::kKeys);
  add(Schema<Ping>::kKeys);
  add(Schema<Pong>::kKeys);
  add(Schema<ErrorMessage>::kKeys);
  add(Schema<Verify>::kKeys);
  add(Schema<Digests>::kKeys);
  static_assert(std::variant_size_v<Message> == 14, "add the new message's keys above");
  for (std::string_view key : keys) {
    const std::string header = "\\x" + ToHex(Bytes{static_cast<uint8_t>(0xa0 | key.size())});
    const std::string entry = "=\"" + header + std::string(key) + "\"";
    EXPECT_NE(dict.find(entry), std::string::npos) << "message.dict lacks key " << key;
  }
}

}  // namespace
}  // namespace unitsync::protocol
