// Framing: every message travels as a 4-byte big-endian body length followed by the body
// (protocol/FORMAT.md section 1). The length is checked before anything is allocated.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>

#include "common/error.h"
#include "protocol/bytes.h"
#include "protocol/limits.h"

namespace unitsync::protocol {

// Returns length prefix + body.
// Fails with kInvalidArgument (nothing allocated) when `body` is empty or longer than
// `max_frame`.
Result<Bytes> EncodeFrame(ByteView body, size_t max_frame = kDefaultMaxFrame);

// Checks a configured frame limit against [kMinConfigurableMaxFrame,
// kMaxConfigurableMaxFrame]; kInvalidArgument otherwise.
Status ValidateMaxFrame(size_t max_frame);

// Incremental frame decoder: feed received bytes in any split, take whole bodies out.
//
// Memory: buffers at most one frame (the 4-byte prefix plus at most `max_frame` body bytes)
// and grows with the bytes actually received, never with the announced length alone.
// Bytes after a complete frame stay in the caller's input until the next call.
//
// Not thread-safe; one decoder per session direction.
class FrameDecoder {
 public:
  // REQUIRES: 0 < max_frame <= kMaxConfigurableMaxFrame (config validates the lower bound
  // with ValidateMaxFrame; tests use smaller limits).
  explicit FrameDecoder(size_t max_frame = kDefaultMaxFrame);

  FrameDecoder(FrameDecoder&&) = default;
  FrameDecoder& operator=(FrameDecoder&&) = default;
  FrameDecoder(const FrameDecoder&) = delete;
  FrameDecoder& operator=(const FrameDecoder&) = delete;

  // Consumes bytes from the front of `input` until one frame is complete or `input` is
  // used up. Returns the body of the completed frame (then `input` starts right after
  // it), or std::nullopt when more bytes are needed (then `input` is empty).
  // Fails with kMalformed when a length prefix is 0 or above max_frame; that is decided
  // from the 4 prefix bytes alone, before any body byte is buffered. After a failure the
  // decoder stays failed: every later call returns the same error and consumes nothing.
  Result<std::optional<Bytes>> Next(ByteView& input);

  // True when part of a frame has been received; at end of stream that means truncation.
  bool mid_frame() const { return header_len_ > 0; }

  size_t max_frame() const { return max_frame_; }

 private:
  size_t max_frame_;
  std::array<uint8_t, kFrameHeaderSize> header_{};
  size_t header_len_ = 0;  // prefix bytes received for the current frame
  size_t body_len_ = 0;    // announced body length, valid once header_len_ == 4
  Bytes body_;
  std::optional<Error> failed_;
};

}  // namespace unitsync::protocol
