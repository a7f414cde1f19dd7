// CompareDigests: which tables differ, and whether sync had settled when the two sides
// computed their digests (FORMAT.md section 6, "Verify").
#include "protocol/verify.h"

#include <gtest/gtest.h>

namespace unitsync::protocol {
namespace {

TableDigest T(std::string table, uint64_t rows, uint8_t fill, uint64_t tombstones = 0) {
  return {std::move(table), rows, tombstones, Bytes(kSha256Bytes, fill)};
}

// A settled pair of positions: nothing waiting, push and pull cursors agree.
const VerifyPosition kUnitSettled{/*push=*/5, /*pull=*/90, /*head=*/40, /*waiting=*/0};
const VerifyPosition kCentralSettled{/*push=*/5, /*pull=*/90, /*head=*/100, /*waiting=*/0};

TEST(Verify, IdenticalDigestsWhileSettledAreAllEqual) {
  const std::vector<TableDigest> tables = {T("unit", 3, 1), T("student", 250, 2, 4)};
  VerifyReport r = CompareDigests("unit-0042", kUnitSettled, tables, kCentralSettled, tables);
  EXPECT_EQ(r.unit, "unit-0042");
  ASSERT_EQ(r.tables.size(), 2u);
  EXPECT_TRUE(r.all_equal());
  EXPECT_TRUE(r.settled);
  EXPECT_TRUE(r.in_flight.empty());
  EXPECT_EQ(r.tables[1].table, "student");
  EXPECT_EQ(r.tables[1].unit->rows, 250u);
  EXPECT_EQ(r.tables[1].central->tombstones, 4u);
  std::string hex;
  for (size_t i = 0; i < kSha256Bytes; ++i) hex += "02";
  EXPECT_EQ(r.tables[1].unit->sha256, hex);
  EXPECT_EQ(r.Summary(), "all 2 tables equal, sync settled");
}

TEST(Verify, NamesExactlyTheTablesThatDiffer) {
  const std::vector<TableDigest> unit = {T("unit", 3, 1), T("student", 250, 2), T("decision", 4, 3),
                                         T("unit_only", 1, 9)};
  const std::vector<TableDigest> central = {T("unit", 3, 1), T("student", 250, 7),
                                            T("decision", 5, 3), T("central_only", 2, 8)};
  VerifyReport r = CompareDigests("unit-0042", kUnitSettled, unit, kCentralSettled, central);
  ASSERT_EQ(r.tables.size(), 5u);
  // Central's order, then what only the unit has.
  EXPECT_EQ(r.tables[0].table, "unit");
  EXPECT_EQ(r.tables[3].table, "central_only");
  EXPECT_EQ(r.tables[4].table, "unit_only");
  EXPECT_TRUE(r.tables[0].equal);
  EXPECT_FALSE(r.tables[1].equal) << "same counts, different hash";
  EXPECT_FALSE(r.tables[2].equal) << "same hash bytes, different row count";
  EXPECT_FALSE(r.tables[3].equal);
  EXPECT_FALSE(r.tables[3].unit.has_value());
  EXPECT_TRUE(r.tables[3].central.has_value());
  EXPECT_FALSE(r.tables[4].central.has_value());
  EXPECT_EQ(r.differing(), 4u);
  EXPECT_TRUE(r.settled) << "a difference while settled is a real one";
  EXPECT_EQ(r.Summary(),
            "4 of 5 tables differ (student, decision, central_only, unit_only), sync settled");
}

TEST(Verify, WorkStillInFlightIsReportedNotSettled) {
  const std::vector<TableDigest> unit = {T("student", 251, 2)};
  const std::vector<TableDigest> central = {T("student", 250, 1)};
  struct Case {
    VerifyPosition unit, central;
    std::string expect;
  };
  const Case cases[] = {
      {{5, 90, 40, 3}, kCentralSettled, "3 rows written at the unit not yet pushed"},
      {{7, 90, 40, 0}, kCentralSettled, "2 pushes built at the unit not yet applied at central"},
      {kUnitSettled, {8, 90, 100, 0}, "central has applied push 8 but the unit has built only 5"},
      {kUnitSettled, {5, 90, 100, 1}, "1 row at central not yet acknowledged by the unit"},
      {{5, 80, 40, 0}, kCentralSettled, "the unit has applied central's log up to 80"},
      {{5, 120, 40, 0}, kCentralSettled, "beyond central's head 100"},
  };
  for (const Case& c : cases) {
    VerifyReport r = CompareDigests("unit-0042", c.unit, unit, c.central, central);
    EXPECT_FALSE(r.settled) << c.expect;
    EXPECT_NE(r.in_flight.find(c.expect), std::string::npos) << r.in_flight;
    EXPECT_NE(r.Summary().find("1 of 1 tables differ (student) while sync was in flight: "),
              std::string::npos)
        << r.Summary();
  }
  VerifyReport r = CompareDigests("unit-0042", {7, 90, 40, 0}, unit, kCentralSettled, central);
  EXPECT_EQ(r.pushes_in_flight, 2u);
}

TEST(Verify, PullBetweenCentralsAcknowledgedCursorAndHeadIsSettled) {
  // The unit applied up to 95; central has recorded the ack up to 90 only, and nothing
  // for this unit waits after 90: the unit's extra entries were not for it.
  VerifyReport r = CompareDigests("u", {5, 95, 40, 0}, {}, kCentralSettled, {});
  EXPECT_TRUE(r.settled) << r.in_flight;
  r = CompareDigests("u", {5, 100, 40, 0}, {}, kCentralSettled, {});
  EXPECT_TRUE(r.settled) << r.in_flight;
}

TEST(Verify, HexRoundTrips) {
  const Bytes b = {0x00, 0x7f, 0xab, 0xff};
  EXPECT_EQ(HexOf(b), "007fabff");
  EXPECT_EQ(BytesOfHex("007fabff"), b);
  EXPECT_EQ(BytesOfHex("007FABFF"), b);
  EXPECT_FALSE(BytesOfHex("007"));
  EXPECT_FALSE(BytesOfHex("0g"));
  EXPECT_FALSE(BytesOfHex("g0")) << "a bad high nibble";
  EXPECT_FALSE(BytesOfHex("0G")) << "past F";
  EXPECT_FALSE(BytesOfHex("/0")) << "before 0";
  EXPECT_FALSE(BytesOfHex("0:")) << "between 9 and A";
  EXPECT_EQ(BytesOfHex(""), Bytes{});
}

}  // namespace
}  // namespace unitsync::protocol
