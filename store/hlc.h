// Hybrid logical clock (DESIGN.md "Clock").
//
// A timestamp is one uint64: the upper 48 bits are wall milliseconds, the
// lower 16 a counter that orders events within one millisecond. Ties
// between nodes are broken by the origin node id (see Version), so versions
// are totally ordered across the whole deployment.
//
//   63                              16 15            0
//  +----------------------------------+--------------+
//  |          wall ms (48 bits)        | counter (16) |
//  +----------------------------------+--------------+
#pragma once

#include <compare>
#include <cstdint>
#include <string>

#include "common/clock.h"

namespace unitsync::store {

inline constexpr uint64_t HlcPack(int64_t wall_ms, uint32_t counter) {
  return (static_cast<uint64_t>(wall_ms) << 16) | (counter & 0xffffu);
}
inline constexpr int64_t HlcWallMs(uint64_t hlc) { return static_cast<int64_t>(hlc >> 16); }
inline constexpr uint32_t HlcCounter(uint64_t hlc) { return hlc & 0xffffu; }

// A column's version: the timestamp of the write and the node that made it.
// hlc == 0 means "no version" and sorts below every real one.
struct Version {
  uint64_t hlc = 0;
  std::string origin;

  bool empty() const { return hlc == 0; }
  friend auto operator<=>(const Version&, const Version&) = default;
  friend bool operator==(const Version&, const Version&) = default;
};

class HybridClock {
 public:
  // `last` is the highest timestamp this node ever issued or adopted (persisted
  // by the replica). Remote timestamps more than `max_skew_ms` ahead of the
  // local wall clock are not adopted.
  HybridClock(WallClock& wall, uint64_t last, int64_t max_skew_ms)
      : wall_(&wall), last_(last), max_skew_ms_(max_skew_ms) {}

  // A new timestamp, greater than every one issued or adopted before, also
  // when the wall clock stands still or steps back.
  uint64_t Tick();

  // Takes in a timestamp seen on a remote version. Returns false when it lies
  // beyond the skew bound: then it is not adopted (the local clock does not
  // jump into the future), and the caller reports it.
  bool Observe(uint64_t remote);

  // Rolls the clock back to `last` — only for undoing the observations of a
  // transaction that rolled back, never to go below a persisted value.
  void Restore(uint64_t last) { last_ = last; }

  uint64_t last() const { return last_; }
  int64_t max_skew_ms() const { return max_skew_ms_; }
  int64_t NowMs() const { return wall_->NowMs(); }

 private:
  WallClock* wall_;  // Not owned; outlives the clock.
  uint64_t last_;
  int64_t max_skew_ms_;
};

}  // namespace unitsync::store
