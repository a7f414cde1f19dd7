#include "common/uuid.h"

#include <array>

namespace unitsync {

UuidV7Generator::UuidV7Generator(uint64_t seed) : rng_(seed) {}

std::string UuidV7Generator::Next(int64_t now_ms) {
  if (now_ms > last_ms_) {
    last_ms_ = now_ms;
    last_rand_a_ = rng_() & 0x7ff;  // Leave headroom in the 12-bit counter.
  } else if (++last_rand_a_ > 0xfff) {
    ++last_ms_;  // Counter exhausted: borrow the next millisecond.
    last_rand_a_ = 0;
  }
  std::array<uint8_t, 16> b{};
  const uint64_t ms = static_cast<uint64_t>(last_ms_);
  for (int i = 0; i < 6; ++i) b[i] = static_cast<uint8_t>(ms >> (40 - 8 * i));
  b[6] = static_cast<uint8_t>(0x70 | ((last_rand_a_ >> 8) & 0x0f));
  b[7] = static_cast<uint8_t>(last_rand_a_ & 0xff);
  const uint64_t r = rng_();
  for (int i = 0; i < 8; ++i) b[8 + i] = static_cast<uint8_t>(r >> (56 - 8 * i));
  b[8] = static_cast<uint8_t>(0x80 | (b[8] & 0x3f));  // RFC variant 10xx.

  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(36);
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out.push_back('-');
    out.push_back(kHex[b[i] >> 4]);
    out.push_back(kHex[b[i] & 0x0f]);
  }
  return out;
}

bool IsUuidV7(std::string_view s) {
  if (s.size() != 36) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (c != '-') return false;
    } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
      return false;
    }
  }
  return s[14] == '7' && (s[19] == '8' || s[19] == '9' || s[19] == 'a' || s[19] == 'b');
}

}  // namespace unitsync
