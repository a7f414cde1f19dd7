// Fuzzes DecodeMessage on a frame body. Invariants: no crash, no exception, bounded
// memory; anything that decodes re-encodes, and the re-encoding decodes to the same
// message.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "protocol/message_codec.h"

using unitsync::protocol::ByteView;
using unitsync::protocol::DecodeMessage;
using unitsync::protocol::EncodeMessage;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto message = DecodeMessage(ByteView(data, size));
  if (!message) return 0;
  auto encoded = EncodeMessage(*message);
  if (!encoded) std::abort();
  auto again = DecodeMessage(*encoded);
  if (!again || !(*again == *message)) std::abort();
  return 0;
}
