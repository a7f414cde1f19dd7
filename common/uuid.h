// UUIDv7 (RFC 9562): 48-bit Unix milliseconds, then random bits.
// Row ids are minted offline at any replica; the time prefix keeps B-tree
// inserts near the right edge, which is faster than random UUIDv4 keys.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <string_view>

namespace unitsync {

// Mints UUIDv7 strings, lowercase 8-4-4-4-12. Ids minted by one generator are
// strictly increasing, also when the clock stands still or steps back
// (RFC 9562 method 3: the timestamp never goes below the last one used).
// Not thread-safe: one generator per thread.
class UuidV7Generator {
 public:
  explicit UuidV7Generator(uint64_t seed = std::random_device{}());
  std::string Next(int64_t now_ms);

 private:
  std::mt19937_64 rng_;
  int64_t last_ms_ = 0;
  uint64_t last_rand_a_ = 0;  // 12-bit sequence within the same millisecond.
};

// True when `s` is a canonical lowercase UUID string with version 7.
bool IsUuidV7(std::string_view s);

}  // namespace unitsync
