#include "common/uuid.h"

#include <gtest/gtest.h>

#include <set>

namespace unitsync {
namespace {

TEST(UuidV7, IsCanonicalAndTimeOrdered) {
  UuidV7Generator gen(42);
  std::string prev;
  for (int i = 0; i < 1000; ++i) {
    const std::string id = gen.Next(1'700'000'000'000 + i / 10);
    EXPECT_TRUE(IsUuidV7(id)) << id;
    EXPECT_LT(prev, id);
    prev = id;
  }
}

TEST(UuidV7, StaysIncreasingWhenClockStepsBack) {
  UuidV7Generator gen(7);
  const std::string a = gen.Next(1'700'000'000'500);
  const std::string b = gen.Next(1'700'000'000'000);  // Clock jumped back.
  EXPECT_LT(a, b);
}

TEST(UuidV7, EncodesMillisecondsInPrefix) {
  UuidV7Generator gen(1);
  const std::string id = gen.Next(0x0123456789ab);
  EXPECT_EQ(id.substr(0, 13), "01234567-89ab");
}

TEST(UuidV7, RejectsOtherForms) {
  EXPECT_FALSE(IsUuidV7("not-a-uuid"));
  EXPECT_FALSE(IsUuidV7("01234567-89ab-4def-8123-456789abcdef"));  // v4
  EXPECT_FALSE(IsUuidV7("01234567-89AB-7DEF-8123-456789ABCDEF"));  // uppercase
}

}  // namespace
}  // namespace unitsync
