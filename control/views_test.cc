// The control documents computed from real replicas: what status, units and history say
// after writes, merges, refusals and conflicts.
#include "control/views.h"

#include <gtest/gtest.h>

#include "common/clock.h"
#include "store/conflicts.h"
#include "store/cursors.h"
#include "store/rejections.h"
#include "store/sync_state.h"
#include "store/test_util.h"

namespace unitsync::control {
namespace {

using store::Role;
using store::testing::Exec;
using store::testing::MakeReplica;
using store::testing::TempDir;
using store::testing::ValueOrDie;

void AddStudent(store::Replica& r, const std::string& id, const std::string& unit) {
  Exec(r, "INSERT INTO student(id, unit_id, pseudo_id) VALUES ('" + id + "', '" + unit + "', 'p-" +
              id + "')");
}

TEST(StatusView, UnitCountsWhatCentralHasNotAcknowledged) {
  TempDir dir;
  store::Replica unit = MakeReplica(dir, "unit-0001", Role::kUnit);
  auto doc = ValueOrDie(StatusView(unit));
  EXPECT_EQ(doc["role"], "unit");
  EXPECT_EQ(doc["node_id"], "unit-0001");
  EXPECT_EQ(doc["outgoing"]["pending_changes"], 0);
  EXPECT_EQ(doc["outgoing"]["oldest_pending_ms"], 0);

  AddStudent(unit, "s1", "unit-0001");
  AddStudent(unit, "s2", "unit-0001");
  doc = ValueOrDie(StatusView(unit));
  EXPECT_EQ(doc["outgoing"]["pending_changes"], 2);
  EXPECT_GT(doc["outgoing"]["oldest_pending_ms"].get<int64_t>(), 0);
  EXPECT_EQ(doc["outgoing"]["outbox_pending"], 0);
  EXPECT_EQ(doc["rejections"]["total"], 0);
  EXPECT_EQ(doc["conflicts_open"], 0);
}

TEST(StatusView, RowsCentralRefusedAreVisibleAtTheUnitWithTheirReason) {
  TempDir dir;
  store::Replica unit = MakeReplica(dir, "unit-0001", Role::kUnit);
  ASSERT_TRUE(store::RecordRejections(unit, "central", store::RejectionDirection::kRefusedByPeer, 3,
                                      {{"student", "s9", store::RowRejectReason::kForeignUnit}}));
  auto doc = ValueOrDie(StatusView(unit));
  EXPECT_EQ(doc["rejections"]["total"], 1);
  ASSERT_EQ(doc["rejections"]["recent"].size(), 1u);
  const auto& r = doc["rejections"]["recent"][0];
  EXPECT_EQ(r["direction"], "refused_by_peer");
  EXPECT_EQ(r["table"], "student");
  EXPECT_EQ(r["id"], "s9");
  EXPECT_EQ(r["reason_name"], "foreign_unit");
  EXPECT_EQ(r["seq"], 3);
}

TEST(UnitsView, OneEntryPerEnrolledOrKnownUnitWithBacklogRefusalsAndConflicts) {
  TempDir dir;
  // Capture triggers stamp entries with the real time; the replica's clock starts there.
  ManualWallClock clock(SystemWallClock().NowMs());
  store::Replica central = MakeReplica(dir, "central", Role::kCentral, &clock);
  AddStudent(central, "a1", "unit-0001");
  AddStudent(central, "a2", "unit-0001");
  AddStudent(central, "b1", "unit-0002");
  ASSERT_TRUE(store::AdvanceReceived(central, "unit-0003", 7));  // known, not enrolled
  ASSERT_TRUE(store::RecordRejections(central, "unit-0002", store::RejectionDirection::kRefusedHere,
                                      4,
                                      {{"student", "a1", store::RowRejectReason::kForeignUnit},
                                       {"student", "a2", store::RowRejectReason::kForeignUnit}}));
  clock.Advance(5'000);

  auto doc = ValueOrDie(UnitsView(
      central, {{"unit-0001", 1'900'000'000, false}, {"unit-0002", 1'900'000'000, true}}));
  const auto& units = doc["units"];
  ASSERT_EQ(units.size(), 3u);
  EXPECT_EQ(units[0]["unit"], "unit-0001");
  EXPECT_EQ(units[0]["lag_changes"], 2);
  // The entries were captured (real time) just after the clock started, 5 s ago.
  EXPECT_GT(units[0]["lag_ms"].get<int64_t>(), 3'000);
  EXPECT_LE(units[0]["lag_ms"].get<int64_t>(), 5'000);
  EXPECT_EQ(units[0]["rejected_rows"], 0);
  EXPECT_EQ(units[0]["cert_not_after_ms"], 1'900'000'000'000);
  EXPECT_EQ(units[1]["unit"], "unit-0002");
  EXPECT_EQ(units[1]["lag_changes"], 1);
  EXPECT_EQ(units[1]["rejected_rows"], 2);
  EXPECT_TRUE(units[1]["revoked"].get<bool>());
  EXPECT_EQ(units[2]["unit"], "unit-0003");
  EXPECT_FALSE(units[2]["enrolled"].get<bool>());
  EXPECT_EQ(units[2]["pushes_applied"], 7);

  // Acknowledged fan-out no longer counts as lag.
  ASSERT_TRUE(store::AdvanceAcked(central, "unit-0001", doc["log_head_seq"].get<int64_t>()));
  doc = ValueOrDie(UnitsView(central, {{"unit-0001", 0, false}}));
  EXPECT_EQ(doc["units"][0]["lag_changes"], 0);
  EXPECT_EQ(doc["units"][0]["lag_ms"], 0);
}

TEST(UnitsView, IsCentralsOnly) {
  TempDir dir;
  store::Replica unit = MakeReplica(dir, "unit-0001", Role::kUnit);
  auto doc = UnitsView(unit, {});
  ASSERT_FALSE(doc);
  EXPECT_EQ(doc.error().code, Errc::kInvalidArgument);
}

TEST(HistoryView, ColumnVersionsWithOriginsAndWhatTheyReplaced) {
  TempDir dir;
  store::Replica unit = MakeReplica(dir, "unit-0001", Role::kUnit);
  AddStudent(unit, "s1", "unit-0001");
  ASSERT_TRUE(store::testing::Digests(unit).size() > 0);  // stamps the insert
  Exec(unit, "UPDATE student SET grade = '7B' WHERE id = 's1'");
  ASSERT_TRUE(store::testing::Digests(unit).size() > 0);  // stamps the update

  auto doc = ValueOrDie(HistoryView(unit, "student", "s1"));
  EXPECT_EQ(doc["unit"], "unit-0001");
  EXPECT_FALSE(doc["deleted"].get<bool>());
  const nlohmann::json* grade = nullptr;
  const nlohmann::json* pseudo = nullptr;
  for (const auto& c : doc["columns"]) {
    if (c["column"] == "grade") grade = &c;
    if (c["column"] == "pseudo_id") pseudo = &c;
  }
  ASSERT_NE(grade, nullptr);
  ASSERT_NE(pseudo, nullptr);
  EXPECT_EQ((*grade)["version"]["origin"], "unit-0001");
  // "replaced" is the newest version from another node that the column's writes
  // replaced (store/FORMAT.md): the update replaced only this unit's own insert.
  EXPECT_TRUE((*grade)["replaced"].is_null());
  EXPECT_TRUE((*pseudo)["replaced"].is_null());
  EXPECT_GT((*grade)["version"]["hlc"].get<uint64_t>(),
            (*pseudo)["version"]["hlc"].get<uint64_t>());
  for (const auto& c : doc["columns"]) {
    EXPECT_NE(c["column"], "personnummer") << "local-only columns are not replicated";
  }
  ASSERT_EQ(doc["log"].size(), 2u);
  EXPECT_EQ(doc["log"][0]["op"], "I");
  EXPECT_EQ(doc["log"][1]["op"], "U");
  EXPECT_EQ(doc["log"][1]["columns"], "grade");
  // History carries versions, never the values.
  EXPECT_EQ(doc.dump().find("7B"), std::string::npos);
}

TEST(HistoryView, UnknownTableOrRowIsNotFound) {
  TempDir dir;
  store::Replica unit = MakeReplica(dir, "unit-0001", Role::kUnit);
  auto no_table = HistoryView(unit, "_us_meta", "x");
  ASSERT_FALSE(no_table);
  EXPECT_EQ(no_table.error().code, Errc::kNotFound);
  auto no_row = HistoryView(unit, "student", "nope");
  ASSERT_FALSE(no_row);
  EXPECT_EQ(no_row.error().code, Errc::kNotFound);
}

TEST(DigestView, AUnitIsAlwaysScopedToItself) {
  TempDir dir;
  store::Replica unit = MakeReplica(dir, "unit-0001", Role::kUnit);
  auto doc = ValueOrDie(DigestView(unit, std::nullopt));
  EXPECT_EQ(doc["scope"], "unit-0001");
  EXPECT_FALSE(doc["tables"].empty());
  EXPECT_FALSE(DigestView(unit, std::string("unit-0002")));
}

}  // namespace
}  // namespace unitsync::control
