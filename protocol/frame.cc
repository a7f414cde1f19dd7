#include "protocol/frame.h"

#include <algorithm>
#include <cassert>
#include <cstring>
#include <string>

namespace unitsync::protocol {
namespace {

// First reservation for a body; later growth follows the bytes that actually arrive.
constexpr size_t kInitialBodyReserve = 64 * 1024;

}  // namespace

Result<Bytes> EncodeFrame(ByteView body, size_t max_frame) {
  if (body.empty()) {
    return Fail(Errc::kInvalidArgument, "frame body is empty");
  }
  if (body.size() > max_frame) {
    return Fail(Errc::kInvalidArgument, "frame body of " + std::to_string(body.size()) +
                                            " bytes exceeds the limit of " +
                                            std::to_string(max_frame) + " bytes");
  }
  Bytes out(kFrameHeaderSize + body.size());
  const auto n = static_cast<uint32_t>(body.size());
  out[0] = static_cast<uint8_t>(n >> 24);
  out[1] = static_cast<uint8_t>(n >> 16);
  out[2] = static_cast<uint8_t>(n >> 8);
  out[3] = static_cast<uint8_t>(n);
  std::memcpy(out.data() + kFrameHeaderSize, body.data(), body.size());
  return out;
}

Status ValidateMaxFrame(size_t max_frame) {
  if (max_frame < kMinConfigurableMaxFrame || max_frame > kMaxConfigurableMaxFrame) {
    return Fail(Errc::kInvalidArgument,
                "max frame size " + std::to_string(max_frame) + " is outside [" +
                    std::to_string(kMinConfigurableMaxFrame) + ", " +
                    std::to_string(kMaxConfigurableMaxFrame) + "]",
                "set max_frame to a value between 1 KiB and 64 MiB (default 4 MiB)");
  }
  return {};
}

FrameDecoder::FrameDecoder(size_t max_frame) : max_frame_(max_frame) {
  assert(max_frame > 0 && max_frame <= kMaxConfigurableMaxFrame);
}

Result<std::optional<Bytes>> FrameDecoder::Next(ByteView& input) {
  if (failed_) {
    return tl::unexpected(*failed_);
  }
  if (header_len_ < kFrameHeaderSize) {
    const size_t n = std::min(kFrameHeaderSize - header_len_, input.size());
    std::memcpy(header_.data() + header_len_, input.data(), n);
    header_len_ += n;
    input = input.subspan(n);
    if (header_len_ < kFrameHeaderSize) {
      return std::optional<Bytes>();
    }
    const uint32_t len = (uint32_t{header_[0]} << 24) | (uint32_t{header_[1]} << 16) |
                         (uint32_t{header_[2]} << 8) | uint32_t{header_[3]};
    if (len == 0) {
      failed_ = Error{Errc::kMalformed, "frame length 0 is invalid", {}};
      return tl::unexpected(*failed_);
    }
    if (len > max_frame_) {
      failed_ = Error{Errc::kMalformed,
                      "frame length " + std::to_string(len) + " exceeds the limit of " +
                          std::to_string(max_frame_) + " bytes",
                      "raise max_frame on both ends if such frames are expected"};
      return tl::unexpected(*failed_);
    }
    body_len_ = len;
    body_.clear();
    body_.reserve(std::min<size_t>(len, kInitialBodyReserve));
  }

  const size_t n = std::min(body_len_ - body_.size(), input.size());
  if (body_.size() + n > body_.capacity()) {
    // Grow geometrically but never past the announced length.
    body_.reserve(std::min(body_len_, std::max(body_.size() + n, 2 * body_.capacity())));
  }
  body_.insert(body_.end(), input.begin(), input.begin() + static_cast<std::ptrdiff_t>(n));
  input = input.subspan(n);
  if (body_.size() < body_len_) {
    return std::optional<Bytes>();
  }
  header_len_ = 0;
  body_len_ = 0;
  Bytes frame = std::move(body_);
  body_ = Bytes();
  return std::optional<Bytes>(std::move(frame));
}

}  // namespace unitsync::protocol
