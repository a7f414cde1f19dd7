// Real unitsyncd processes on loopback with real certificates from the deployment PKI:
// one central and three units. What an admin would check after deploying: writes made at
// the units (by other programs straight into the replica, one of them the sqlite3 shell)
// and at central converge.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <thread>

#include "pki/ca.h"
#include "store/test_util.h"
#include "tests/daemon_util.h"

namespace unitsync::testing {
namespace {

using store::testing::Digests;
using store::testing::Exec;
using store::testing::Query;
using store::testing::TempDir;
using store::testing::ValueOrDie;

TEST(DaemonLoopback, UnitsAndCentralConvergeOverTls) {
  TempDir dir;
  const std::string ca = dir.File("ca");
  ASSERT_TRUE(pki::InitCa(ca, "test"));
  ASSERT_TRUE(pki::IssueServer(ca, "central", {"127.0.0.1"}, dir.File("central-bundle")));
  const std::vector<std::string> units = {"unit-0001", "unit-0002", "unit-0003"};
  for (const auto& u : units) ASSERT_TRUE(pki::EnrollUnit(ca, u, dir.File(u + "-bundle")));

  ValueOrDie(store::Replica::Create(dir.File("central.db"), store::Role::kCentral, "central"));
  for (const auto& u : units) {
    ValueOrDie(store::Replica::Create(dir.File(u + ".db"), store::Role::kUnit, u));
  }
  const uint16_t port = FreePort();
  WriteFile(dir.File("central.toml"),
            Config("central", "central", dir.File("central.db"), dir.File("central-bundle"),
                   "pki_dir = \"" + ca +
                       "\"\n[listen]\naddress = \"127.0.0.1\"\nport = " + std::to_string(port) +
                       "\n[control]\nsocket = \"" + dir.File("central.sock") + "\"\n"));
  for (const auto& u : units) {
    WriteFile(dir.File(u + ".toml"),
              Config("unit", u, dir.File(u + ".db"), dir.File(u + "-bundle"),
                     "[central]\nhost = \"127.0.0.1\"\nport = " + std::to_string(port) +
                         "\n[control]\nsocket = \"" + dir.File(u + ".sock") + "\"\n"));
  }

  Daemon central(dir.File("central.toml"), dir.File("central.log"));
  std::vector<std::unique_ptr<Daemon>> daemons;
  for (const auto& u : units) {
    daemons.push_back(std::make_unique<Daemon>(dir.File(u + ".toml"), dir.File(u + ".log")));
  }

  // Another program writes straight into the unit replicas, and into central; at
  // unit-0003 that program is the sqlite3 shell.
  for (size_t i = 0; i + 1 < units.size(); ++i) {
    auto r = ValueOrDie(store::Replica::Open(dir.File(units[i] + ".db")));
    for (int n = 0; n < 5; ++n) {
      Exec(r, "INSERT INTO student(id, unit_id, pseudo_id) VALUES ('s-" + units[i] + "-" +
                  std::to_string(n) + "', '" + units[i] + "', 'p')");
    }
  }
  {
    std::string sql = "BEGIN;";
    for (int n = 0; n < 5; ++n) {
      sql += "INSERT INTO student(id, unit_id, pseudo_id) VALUES ('s-unit-0003-" +
             std::to_string(n) + "', 'unit-0003', 'p');";
    }
    sql += "COMMIT;";
    const std::string cmd = "sqlite3 '" + dir.File("unit-0003.db") + "' \"" + sql + "\"";
    ASSERT_EQ(std::system(cmd.c_str()), 0) << "the sqlite3 shell (scripts/setup installs it)";
  }
  {
    auto c = ValueOrDie(store::Replica::Open(dir.File("central.db")));
    Exec(c,
         "INSERT INTO action_type(id, code, name, level, valid_from) "
         "VALUES ('at1', 'K', 'Typ', 'ea', '2026-01-01')");
  }

  auto converged = [&] {
    auto c = ValueOrDie(store::Replica::Open(dir.File("central.db")));
    if (Query(c, "SELECT count(*) FROM student") != "15") return false;
    for (const auto& u : units) {
      auto r = ValueOrDie(store::Replica::Open(dir.File(u + ".db")));
      if (Digests(r, u) != Digests(c, u)) return false;
    }
    return true;
  };
  const bool ok = Eventually(converged);
  for (auto& d : daemons) EXPECT_EQ(d->Stop(), 0);
  EXPECT_EQ(central.Stop(), 0);
  if (!ok) {
    for (const char* log : {"central.log", "unit-0001.log", "unit-0002.log", "unit-0003.log"}) {
      std::ifstream in(dir.File(log));
      std::cerr << "--- " << log << "\n" << in.rdbuf() << "\n";
    }
  }
  ASSERT_TRUE(ok) << "did not converge";
  auto u1 = ValueOrDie(store::Replica::Open(dir.File("unit-0001.db")));
  EXPECT_EQ(Query(u1, "SELECT count(*) FROM student"), "5") << "only its own students";
  EXPECT_EQ(Query(u1, "SELECT count(*) FROM action_type"), "1") << "reference data arrived";
}

// SIGTERM in the middle of a sync, at the unit and then at central: nothing is lost and
// both resume where they stopped when restarted.
TEST(DaemonLoopback, SigtermDuringSyncLosesNothing) {
  TempDir dir;
  const std::string ca = dir.File("ca");
  ASSERT_TRUE(pki::InitCa(ca, "test"));
  ASSERT_TRUE(pki::IssueServer(ca, "central", {"127.0.0.1"}, dir.File("central-bundle")));
  ASSERT_TRUE(pki::EnrollUnit(ca, "unit-0001", dir.File("unit-bundle")));
  ValueOrDie(store::Replica::Create(dir.File("central.db"), store::Role::kCentral, "central"));
  ValueOrDie(store::Replica::Create(dir.File("unit.db"), store::Role::kUnit, "unit-0001"));
  const uint16_t port = FreePort();
  WriteFile(dir.File("central.toml"),
            Config("central", "central", dir.File("central.db"), dir.File("central-bundle"),
                   "pki_dir = \"" + ca +
                       "\"\n[listen]\naddress = \"127.0.0.1\"\nport = " + std::to_string(port) +
                       "\n[control]\nsocket = \"" + dir.File("central.sock") + "\"\n"));
  // Small changesets, so a sync of many rows takes many round trips to interrupt.
  WriteFile(dir.File("unit.toml"),
            Config("unit", "unit-0001", dir.File("unit.db"), dir.File("unit-bundle"),
                   "[central]\nhost = \"127.0.0.1\"\nport = " + std::to_string(port) +
                       "\n[control]\nsocket = \"" + dir.File("unit.sock") + "\"\n") +
                "max_rows_per_changeset = 20\n");
  constexpr int kRows = 3000;
  {
    auto r = ValueOrDie(store::Replica::Open(dir.File("unit.db")));
    Exec(r, "BEGIN");
    for (int n = 0; n < kRows; ++n) {
      Exec(r, "INSERT INTO student(id, unit_id, pseudo_id, grade) VALUES ('s" + std::to_string(n) +
                  "', 'unit-0001', 'p', 1)");
    }
    Exec(r, "COMMIT");
  }
  auto at_central = [&] {
    auto c = ValueOrDie(store::Replica::Open(dir.File("central.db")));
    return std::stoi(Query(c, "SELECT count(*) FROM student"));
  };
  auto central = std::make_unique<Daemon>(dir.File("central.toml"), dir.File("central.log"));
  auto unit = std::make_unique<Daemon>(dir.File("unit.toml"), dir.File("unit.log"));
  // Stop the unit as soon as central has some rows: the sync is under way.
  ASSERT_TRUE(Eventually([&] { return at_central() > 0; }));
  EXPECT_EQ(unit->Stop(), 0);
  const int after_unit_stop = at_central();
  unit = std::make_unique<Daemon>(dir.File("unit.toml"), dir.File("unit.log"));
  // Now stop central in the middle of it.
  ASSERT_TRUE(Eventually([&] { return at_central() > after_unit_stop; }));
  EXPECT_EQ(central->Stop(), 0);
  central = std::make_unique<Daemon>(dir.File("central.toml"), dir.File("central.log"));

  const bool all = Eventually([&] { return at_central() == kRows; });
  EXPECT_EQ(unit->Stop(), 0);
  EXPECT_EQ(central->Stop(), 0);
  ASSERT_TRUE(all) << "central has " << at_central() << " of " << kRows << "\n"
                   << ReadFile(dir.File("unit.log")) << ReadFile(dir.File("central.log"));
  auto u = ValueOrDie(store::Replica::Open(dir.File("unit.db")));
  auto c = ValueOrDie(store::Replica::Open(dir.File("central.db")));
  EXPECT_EQ(Digests(u, std::string("unit-0001")), Digests(c, std::string("unit-0001")));
}

}  // namespace
}  // namespace unitsync::testing
