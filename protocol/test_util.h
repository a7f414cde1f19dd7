// Helpers shared by protocol tests.
#pragma once

#include <cctype>
#include <cstdint>
#include <cstdlib>
#include <random>
#include <string>
#include <string_view>

#include "protocol/bytes.h"

namespace unitsync::protocol::testing {

// Parses hex digits, ignoring whitespace. Returns an empty vector on a bad digit.
inline Bytes FromHex(std::string_view hex) {
  Bytes out;
  int hi = -1;
  for (char ch : hex) {
    if (std::isspace(static_cast<unsigned char>(ch))) continue;
    int v;
    if (ch >= '0' && ch <= '9') {
      v = ch - '0';
    } else if (ch >= 'a' && ch <= 'f') {
      v = ch - 'a' + 10;
    } else if (ch >= 'A' && ch <= 'F') {
      v = ch - 'A' + 10;
    } else {
      return {};
    }
    if (hi < 0) {
      hi = v;
    } else {
      out.push_back(static_cast<uint8_t>(hi << 4 | v));
      hi = -1;
    }
  }
  return out;
}

inline std::string ToHex(ByteView bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (uint8_t b : bytes) {
    out.push_back(kDigits[b >> 4]);
    out.push_back(kDigits[b & 15]);
  }
  return out;
}

inline Bytes ToBytes(std::string_view s) { return Bytes(s.begin(), s.end()); }

// Seed for randomized tests: UNITSYNC_SEED when set (to replay a failure), else random.
// Tests print it with SCOPED_TRACE so a failure names the seed that found it.
inline uint64_t TestSeed() {
  if (const char* env = std::getenv("UNITSYNC_SEED")) return std::strtoull(env, nullptr, 10);
  return (uint64_t{std::random_device{}()} << 32) | std::random_device{}();
}

}  // namespace unitsync::protocol::testing
