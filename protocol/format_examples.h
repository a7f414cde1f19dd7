// The examples of FORMAT.md section 5 as structs (test-only). format_doc_test.cc checks
// that the hex blocks in FORMAT.md are exactly these messages, encoded.
//
// Everything here is a TEST VECTOR: the unit secret is bytes 00..1f and the nonces are
// fixed. Never use them outside tests.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "protocol/envelope.h"
#include "protocol/message.h"

namespace unitsync::protocol::testing {

struct FrameExample {
  std::string label;     // the word after ```hex in FORMAT.md
  std::string notation;  // the message in JSON-like notation, for the document
  Message message;
};

// TEST VECTOR unit secret: 00 01 02 ... 1f.
Bytes ExampleUnitSecret();
inline constexpr uint32_t kExampleKeyId = 1;

// A NonceSource that hands out 12-byte nonces 00..0b, 10..1b, 20..2b, ... in turn.
class CountingNonces final : public NonceSource {
 public:
  Status Fill(std::span<uint8_t, kNonceSize> nonce) override;

 private:
  uint8_t next_ = 0;
};

// The envelope example: header and plaintext sealed under the example key with the first
// CountingNonces nonce.
EnvelopeHeader ExampleEnvelopeHeader();
Bytes ExampleEnvelopePlaintext();

// Every frame example in document order. Envelopes inside are sealed with the example
// key and CountingNonces, in this order (PUSH first: it carries the envelope example).
std::vector<FrameExample> FrameExamples();

}  // namespace unitsync::protocol::testing
