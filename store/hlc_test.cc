#include "store/hlc.h"

#include <gtest/gtest.h>

namespace unitsync::store {
namespace {

TEST(Hlc, PacksWallTimeAndCounter) {
  const uint64_t h = HlcPack(1'780'000'000'123, 7);
  EXPECT_EQ(HlcWallMs(h), 1'780'000'000'123);
  EXPECT_EQ(HlcCounter(h), 7u);
}

TEST(Hlc, TicksStrictlyIncreaseWhenTheWallClockStandsStillOrStepsBack) {
  ManualWallClock wall(1'000'000);
  HybridClock clock(wall, 0, 60'000);
  uint64_t prev = clock.Tick();
  EXPECT_EQ(HlcWallMs(prev), 1'000'000);
  for (int i = 0; i < 70'000; ++i) {  // Past the 16-bit counter: rolls into the next ms.
    const uint64_t next = clock.Tick();
    ASSERT_GT(next, prev);
    prev = next;
  }
  wall.Set(500'000);  // An hour's worth backwards.
  EXPECT_GT(clock.Tick(), prev);
  wall.Set(2'000'000);  // Forwards again: back on wall time, counter reset.
  EXPECT_EQ(clock.Tick(), HlcPack(2'000'000, 0));
}

TEST(Hlc, StartsAfterThePersistedHighWaterMark) {
  ManualWallClock wall(1'000);
  HybridClock clock(wall, HlcPack(5'000, 3), 60'000);
  EXPECT_EQ(clock.Tick(), HlcPack(5'000, 4));
}

TEST(Hlc, AdoptsRemoteTimeWithinTheBoundOnly) {
  ManualWallClock wall(1'000'000);
  HybridClock clock(wall, 0, 60'000);
  EXPECT_TRUE(clock.Observe(HlcPack(1'050'000, 2)));
  EXPECT_EQ(clock.Tick(), HlcPack(1'050'000, 3));
  EXPECT_FALSE(clock.Observe(HlcPack(1'000'000 + 86'400'000, 0)));  // A day ahead.
  EXPECT_LT(HlcWallMs(clock.Tick()), 1'100'000);
}

TEST(Hlc, VersionsOrderByTimeThenOrigin) {
  EXPECT_LT((Version{5, "b"}), (Version{6, "a"}));
  EXPECT_LT((Version{5, "a"}), (Version{5, "b"}));
  EXPECT_LT(Version{}, (Version{1, ""}));
}

}  // namespace
}  // namespace unitsync::store
