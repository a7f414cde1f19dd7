#include "store/hlc.h"

#include <algorithm>

namespace unitsync::store {

uint64_t HybridClock::Tick() {
  const uint64_t now = HlcPack(std::max<int64_t>(wall_->NowMs(), 0), 0);
  // Either the wall clock moved past everything seen, or we count on from
  // the last timestamp; a full counter rolls into the next millisecond.
  last_ = std::max(now, last_ + 1);
  return last_;
}

bool HybridClock::Observe(uint64_t remote) {
  if (HlcWallMs(remote) > wall_->NowMs() + max_skew_ms_) return false;
  last_ = std::max(last_, remote);
  return true;
}

}  // namespace unitsync::store
