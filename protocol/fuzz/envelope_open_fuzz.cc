// Fuzzes the envelope opener.
//  1. The input as a sealed envelope: OpenChangeset must refuse it (or, for a genuine
//     seed, open it) without crashing, and EnvelopeKeyId must agree with the format.
//  2. The input as a plaintext: seal, open (must give it back), then flip one bit chosen
//     by the input: the open must be refused.
// TEST VECTOR key material only (unit secret 00..1f, as in FORMAT.md).
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "protocol/envelope.h"

namespace {

using namespace unitsync::protocol;

class FixedNonce final : public NonceSource {
 public:
  unitsync::Status Fill(std::span<uint8_t, kNonceSize> nonce) override {
    for (size_t i = 0; i < nonce.size(); ++i) nonce[i] = static_cast<uint8_t>(i);
    return {};
  }
};

const ChangesetKey& TestKey() {
  static const ChangesetKey key = [] {
    Bytes secret(kUnitSecretSize);
    for (size_t i = 0; i < secret.size(); ++i) secret[i] = static_cast<uint8_t>(i);
    return *DeriveChangesetKey(secret, 1);
  }();
  return key;
}

EnvelopeHeader Header() {
  return EnvelopeHeader{1, EnvelopeKind::kPush, "unit-0042", "central", 16, 16, ""};
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const ByteView input(data, size);
  const auto key_id = EnvelopeKeyId(input);
  const auto opened = OpenChangeset(TestKey(), Header(), input);
  if (opened && (!key_id || *key_id != 1 || opened->size() + kEnvelopeOverhead != size)) {
    std::abort();
  }

  FixedNonce nonce;
  auto sealed = SealChangeset(TestKey(), Header(), input, nonce);
  if (!sealed) std::abort();
  auto plain = OpenChangeset(TestKey(), Header(), *sealed);
  if (!plain || *plain != Bytes(input.begin(), input.end())) std::abort();
  size_t h = 0;
  for (uint8_t b : input) h = h * 131 + b;
  (*sealed)[h % sealed->size()] ^= static_cast<uint8_t>(1u << (h % 8));
  if (OpenChangeset(TestKey(), Header(), *sealed)) std::abort();
  return 0;
}
