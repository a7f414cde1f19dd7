// Wall time as an injected dependency, so tests can move it at will
// (backwards jumps, skew) and the sync core stays deterministic.
#pragma once

#include <chrono>
#include <cstdint>

namespace unitsync {

class WallClock {
 public:
  virtual ~WallClock() = default;
  // Milliseconds since the Unix epoch. May jump in either direction.
  virtual int64_t NowMs() = 0;
};

class SystemWallClock final : public WallClock {
 public:
  int64_t NowMs() override {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
};

// A clock that only moves when told to. Not thread-safe.
class ManualWallClock final : public WallClock {
 public:
  explicit ManualWallClock(int64_t now_ms) : now_ms_(now_ms) {}
  int64_t NowMs() override { return now_ms_; }
  void Set(int64_t now_ms) { now_ms_ = now_ms; }
  void Advance(int64_t delta_ms) { now_ms_ += delta_ms; }

 private:
  int64_t now_ms_;
};

}  // namespace unitsync
