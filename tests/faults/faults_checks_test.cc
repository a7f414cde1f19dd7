// The fault tests' checks can fail: planted violations of each kind are reported, and
// the power-loss VFS really throws away what was not fsynced.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <random>

#include "store/test_util.h"
#include "tests/faults/ack_book.h"
#include "tests/faults/ledger.h"
#include "tests/faults/power_vfs.h"

namespace unitsync::faults {
namespace {

using store::testing::Exec;
using store::testing::TempDir;
using store::testing::ValueOrDie;

class FaultChecks : public ::testing::Test {
 protected:
  // Writes at unit-0001 until the ledger holds live and deleted rows.
  void Fill() {
    std::mt19937_64 rng(7);
    std::vector<std::string> v;
    while (ledger_.counts().deletes < 2 || ledger_.counts().updates < 2) {
      ledger_.Write(unit_, "unit-0001", {"unit-0001"}, rng, v);
    }
    ASSERT_TRUE(v.empty());
  }
  Tokens Read() { return ValueOrDie(ReadTokens(unit_)); }
  std::string ALiveRow() {
    for (const auto& [id, row] : ledger_.rows()) {
      if (!row.deleted) return id;
    }
    return "";
  }
  std::string ADeletedRow() {
    for (const auto& [id, row] : ledger_.rows()) {
      if (row.deleted) return id;
    }
    return "";
  }

  TempDir dir_;
  store::Replica unit_ =
      ValueOrDie(store::Replica::Create(dir_.File("unit.db"), store::Role::kUnit, "unit-0001"));
  Ledger ledger_;
};

TEST_F(FaultChecks, FinalStateMatchesTheLedgerAndEachDifferenceIsReported) {
  Fill();
  EXPECT_TRUE(CheckFinal(ledger_, "unit-0001", Read()).empty());
  Tokens lost = Read();
  lost.erase(ALiveRow());
  EXPECT_EQ(CheckFinal(ledger_, "unit-0001", lost).size(), 1u);
  Tokens stale = Read();
  stale[ALiveRow()] = "w000000000000";
  EXPECT_EQ(CheckFinal(ledger_, "unit-0001", stale).size(), 1u);
  Tokens revived = Read();
  revived[ADeletedRow()] = "w000000000001";
  EXPECT_EQ(CheckFinal(ledger_, "unit-0001", revived).size(), 1u);
  Tokens extra = Read();
  extra["s-unit-0001-999999"] = "w000000000001";
  EXPECT_EQ(CheckFinal(ledger_, "unit-0001", extra).size(), 1u);
}

TEST_F(FaultChecks, ATokenGoingBackAVanishedRowAndAnUncommittedValueAreReported) {
  Fill();
  MonotonicCheck check;
  std::vector<std::string> v;
  check.Observe(ledger_, "central", Read(), v);
  ASSERT_TRUE(v.empty());
  const std::string id = ALiveRow();
  Tokens back = Read();
  back[id] = "w000000000000";
  check.Observe(ledger_, "central", back, v);
  EXPECT_EQ(v.size(), 1u) << "went back";
  Tokens gone = Read();
  gone.erase(id);
  check.Observe(ledger_, "central", gone, v);
  EXPECT_EQ(v.size(), 2u) << "vanished";
  Tokens future = Read();
  future[id] = "w999999999999";
  check.Observe(ledger_, "central", future, v);
  EXPECT_EQ(v.size(), 3u) << "never committed";
}

TEST_F(FaultChecks, AnAcknowledgedChangeMissingAfterAReboot) {
  Fill();
  const Tokens before;
  const Tokens after = Read();
  AckBook book;
  book.Applied(protocol::AckOf::kPush, 3, Difference(before, after));
  std::vector<std::string> v;
  Tokens lost = after;
  lost.erase(ALiveRow());
  book.Check(ledger_, "central", lost, v);
  EXPECT_TRUE(v.empty()) << "applied but never acknowledged: losing it is allowed";
  book.Acked(protocol::AckOf::kPush, 2);
  book.Check(ledger_, "central", lost, v);
  EXPECT_TRUE(v.empty()) << "an ACK of an earlier seq does not cover it";
  book.Acked(protocol::AckOf::kPush, 3);
  book.Check(ledger_, "central", after, v);
  EXPECT_TRUE(v.empty());
  book.Check(ledger_, "central", lost, v);
  EXPECT_EQ(v.size(), 1u);
}

// What survives a power cut through the VFS: with synchronous=FULL every commit, with
// synchronous=OFF (no fsync at all) nothing written since the file was opened.
int CountAfterPowerLoss(const std::string& path, const char* synchronous) {
  PowerLossVfs vfs;
  sqlite3* db = nullptr;
  EXPECT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  const std::string setup = std::string("PRAGMA journal_mode=WAL; PRAGMA synchronous=") +
                            synchronous + "; CREATE TABLE IF NOT EXISTS t(x);";
  EXPECT_EQ(sqlite3_exec(db, setup.c_str(), nullptr, nullptr, nullptr), SQLITE_OK);
  EXPECT_EQ(sqlite3_exec(db, "INSERT INTO t VALUES (1)", nullptr, nullptr, nullptr), SQLITE_OK);
  vfs.CutPowerAfter(path, 0);
  EXPECT_TRUE(vfs.PowerIsOff());
  EXPECT_NE(sqlite3_exec(db, "INSERT INTO t VALUES (2)", nullptr, nullptr, nullptr), SQLITE_OK)
      << "nothing commits without power";
  sqlite3_close(db);
  EXPECT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  EXPECT_FALSE(vfs.PowerIsOff()) << "reopening rebooted the node";
  int count = -1;
  sqlite3_exec(
      db, "SELECT count(*) FROM t",
      [](void* out, int, char** v, char**) {
        *static_cast<int*>(out) = std::atoi(v[0]);
        return 0;
      },
      &count, nullptr);
  sqlite3_close(db);
  return count;
}

TEST(PowerLossVfs, KeepsWhatWasSyncedAndDropsTheRest) {
  TempDir dir;
  // The table exists on disk before the VFS: durable from the start.
  for (const char* name : {"full.db", "off.db"}) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(dir.File(name).c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db, "CREATE TABLE t(x)", nullptr, nullptr, nullptr), SQLITE_OK);
    sqlite3_close(db);
  }
  EXPECT_EQ(CountAfterPowerLoss(dir.File("full.db"), "FULL"), 1);
  EXPECT_EQ(CountAfterPowerLoss(dir.File("off.db"), "OFF"), 0);
}

}  // namespace
}  // namespace unitsync::faults
