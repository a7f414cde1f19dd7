// Real unitsyncd processes: a write made through a connection that stays open — as any
// application keeps its connection — is synced without waiting for the fallback poll.
// The inotify event for such a write is the -wal write, which comes before the commit is
// visible; the watcher has to look again after it (daemon/change_watcher.h).
#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "pki/ca.h"
#include "store/test_util.h"
#include "tests/daemon_util.h"

namespace unitsync::testing {
namespace {

using store::testing::Exec;
using store::testing::Query;
using store::testing::TempDir;
using store::testing::ValueOrDie;

int Count(const std::string& db, const std::string& table) {
  store::ReplicaOptions ro;
  ro.read_only = true;
  auto r = ValueOrDie(store::Replica::Open(db, ro));
  return std::stoi(Query(r, "SELECT count(*) FROM " + table));
}

TEST(DaemonChangeNotice, WritesThroughAnOpenConnectionSyncWithoutTheFallbackPoll) {
  TempDir dir;
  const std::string ca = dir.File("ca");
  ASSERT_TRUE(pki::InitCa(ca, "test"));
  ASSERT_TRUE(pki::IssueServer(ca, "central", {"127.0.0.1"}, dir.File("central-bundle")));
  ASSERT_TRUE(pki::EnrollUnit(ca, "unit-0001", dir.File("unit-bundle")));
  ValueOrDie(store::Replica::Create(dir.File("central.db"), store::Role::kCentral, "central"));
  ValueOrDie(store::Replica::Create(dir.File("unit.db"), store::Role::kUnit, "unit-0001"));
  const uint16_t port = FreePort();
  // Config() sets change_poll_ms to 10 minutes: only the watcher can notice these writes.
  WriteFile(dir.File("central.toml"),
            Config("central", "central", dir.File("central.db"), dir.File("central-bundle"),
                   "pki_dir = \"" + ca +
                       "\"\n[listen]\naddress = \"127.0.0.1\"\nport = " + std::to_string(port) +
                       "\n[control]\nsocket = \"" + dir.File("central.sock") + "\"\n"));
  WriteFile(dir.File("unit.toml"),
            Config("unit", "unit-0001", dir.File("unit.db"), dir.File("unit-bundle"),
                   "[central]\nhost = \"127.0.0.1\"\nport = " + std::to_string(port) +
                       "\n[control]\nsocket = \"" + dir.File("unit.sock") + "\"\n"));
  Daemon central(dir.File("central.toml"), dir.File("central.log"));
  Daemon unit(dir.File("unit.toml"), dir.File("unit.log"));

  constexpr int kWrites = 5;
  constexpr auto kLimit = std::chrono::seconds(30);
  bool ok = true;
  {
    auto app = ValueOrDie(store::Replica::Open(dir.File("unit.db")));  // stays open
    for (int n = 1; n <= kWrites && ok; ++n) {
      Exec(app, "INSERT INTO student(id, unit_id, pseudo_id) VALUES ('s" + std::to_string(n) +
                    "', 'unit-0001', 'p')");
      ok = Eventually([&] { return Count(dir.File("central.db"), "student") == n; }, kLimit);
      EXPECT_TRUE(ok) << "unit write " << n << " did not reach central";
    }
  }
  {
    auto app = ValueOrDie(store::Replica::Open(dir.File("central.db")));  // stays open
    for (int n = 1; n <= kWrites && ok; ++n) {
      Exec(app, "INSERT INTO action_type(id, code, name, level, valid_from) VALUES ('t" +
                    std::to_string(n) + "', 'K" + std::to_string(n) +
                    "', 'Typ', 'ea', '2026-01-01')");
      ok = Eventually([&] { return Count(dir.File("unit.db"), "action_type") == n; }, kLimit);
      EXPECT_TRUE(ok) << "central write " << n << " did not reach the unit";
    }
  }
  EXPECT_EQ(unit.Stop(), 0);
  EXPECT_EQ(central.Stop(), 0);
  if (!ok) std::cerr << ReadFile(dir.File("unit.log")) << ReadFile(dir.File("central.log"));
}

}  // namespace
}  // namespace unitsync::testing
