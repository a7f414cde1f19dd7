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

// Builds msgpack bodies by hand so tests can produce what the encoder never would. Only
// the short forms: Str takes fewer than 32 bytes, Uint values below 128 (the top bit is
// dropped), Array fewer than 16 entries, Bin fewer than 256 bytes.
class Body {
 public:
  Body& Map(uint32_t n) {  // fixmap, or map16 for 16 to 255 entries
    return Raw(n < 16 ? Bytes{uint8_t(0x80 | n)} : Bytes{0xde, 0, uint8_t(n)});
  }
  Body& Array(uint8_t n) { return Raw({static_cast<uint8_t>(0x90 | n)}); }  // fixarray
  Body& Str(std::string_view s) {                                           // fixstr
    out_.push_back(static_cast<uint8_t>(0xa0 | s.size()));
    out_.insert(out_.end(), s.begin(), s.end());
    return *this;
  }
  Body& Uint(uint8_t v) { return Raw({static_cast<uint8_t>(v & 0x7f)}); }  // positive fixint
  Body& Bin(size_t n, uint8_t fill) {                                      // bin8
    out_.push_back(0xc4);
    out_.push_back(static_cast<uint8_t>(n));
    out_.insert(out_.end(), n, fill);
    return *this;
  }
  Body& Raw(const Bytes& b) {
    out_.insert(out_.end(), b.begin(), b.end());
    return *this;
  }
  const Bytes& bytes() const { return out_; }

 private:
  Bytes out_;
};

// Seed for randomized tests: UNITSYNC_SEED when set (to replay a failure), else random.
// Tests print it with SCOPED_TRACE so a failure names the seed that found it.
inline uint64_t TestSeed() {
  if (const char* env = std::getenv("UNITSYNC_SEED")) return std::strtoull(env, nullptr, 10);
  return (uint64_t{std::random_device{}()} << 32) | std::random_device{}();
}

}  // namespace unitsync::protocol::testing
