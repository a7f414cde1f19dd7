// SIGHUP at central re-reads the CA directory without a restart: a unit enrolled after
// start is refused until the reload and syncs after it; a unit revoked while connected
// loses its session at the reload and is refused from then on; the others keep syncing
// throughout; a reload that cannot load keeps the old state. SIGHUP at a unit changes
// nothing. Real processes, real certificates.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>

#include "pki/ca.h"
#include "store/test_util.h"
#include "tests/daemon_util.h"

namespace unitsync::testing {
namespace {

using store::testing::Exec;
using store::testing::Query;
using store::testing::TempDir;
using store::testing::ValueOrDie;

class Reload : public ::testing::Test {
 protected:
  void SetUp() override {
    ca_ = dir_.File("ca");
    ASSERT_TRUE(pki::InitCa(ca_, "test"));
    ASSERT_TRUE(pki::IssueServer(ca_, "central", {"127.0.0.1"}, dir_.File("central-bundle")));
    ValueOrDie(store::Replica::Create(dir_.File("central.db"), store::Role::kCentral, "central"));
    port_ = FreePort();
    WriteFile(dir_.File("central.toml"),
              Config("central", "central", dir_.File("central.db"), dir_.File("central-bundle"),
                     "pki_dir = \"" + ca_ +
                         "\"\n[listen]\naddress = \"127.0.0.1\"\nport = " + std::to_string(port_) +
                         "\n[control]\nsocket = \"" + dir_.File("central.sock") + "\"\n"));
  }

  std::unique_ptr<Daemon> StartUnit(const std::string& id) {
    if (!std::filesystem::exists(dir_.File(id + ".db"))) {
      ValueOrDie(store::Replica::Create(dir_.File(id + ".db"), store::Role::kUnit, id));
    }
    WriteFile(dir_.File(id + ".toml"),
              Config("unit", id, dir_.File(id + ".db"), dir_.File(id + "-bundle"),
                     "[central]\nhost = \"127.0.0.1\"\nport = " + std::to_string(port_) +
                         "\n[control]\nsocket = \"" + dir_.File(id + ".sock") + "\"\n"));
    return std::make_unique<Daemon>(dir_.File(id + ".toml"), dir_.File(id + ".log"));
  }

  void Write(const std::string& unit, const std::string& student) {
    auto r = ValueOrDie(store::Replica::Open(dir_.File(unit + ".db")));
    Exec(r, "INSERT INTO student(id, unit_id, pseudo_id) VALUES ('" + student + "', '" + unit +
                "', 'p')");
  }
  bool AtCentral(const std::string& student) {
    auto c = ValueOrDie(store::Replica::Open(dir_.File("central.db")));
    return Query(c, "SELECT count(*) FROM student WHERE id = '" + student + "'") == "1";
  }
  std::string Log(const std::string& node = "central") {
    return ReadFile(dir_.File(node + ".log"));
  }
  size_t LogCount(const std::string& what, const std::string& node = "central") {
    const std::string text = Log(node);
    size_t n = 0;
    for (size_t p = text.find(what); p != std::string::npos; p = text.find(what, p + 1)) ++n;
    return n;
  }
  // SIGHUP to central; waits for the reload's outcome line (`reloaded` or `reload_failed`).
  bool Hangup(const std::string& outcome) {
    const size_t before = LogCount("event=" + outcome);
    central_->Signal(SIGHUP);
    return Eventually([&] { return LogCount("event=" + outcome) > before; });
  }

  TempDir dir_;
  std::string ca_;
  uint16_t port_ = 0;
  std::unique_ptr<Daemon> central_;
};

TEST_F(Reload, SighupAdmitsNewUnitsDropsRevokedOnesAndKeepsTheRestSyncing) {
  ASSERT_TRUE(pki::EnrollUnit(ca_, "unit-0001", dir_.File("unit-0001-bundle")));
  ASSERT_TRUE(pki::EnrollUnit(ca_, "unit-0003", dir_.File("unit-0003-bundle")));
  central_ = std::make_unique<Daemon>(dir_.File("central.toml"), dir_.File("central.log"));
  ASSERT_TRUE(Eventually([&] { return Log().find("event=started") != std::string::npos; }));
  auto a = StartUnit("unit-0001");
  auto c = StartUnit("unit-0003");
  Write("unit-0001", "a1");
  Write("unit-0003", "c1");
  ASSERT_TRUE(Eventually([&] { return AtCentral("a1") && AtCentral("c1"); })) << Log();

  // Enrolled after central started: not known until a reload.
  ASSERT_TRUE(pki::EnrollUnit(ca_, "unit-0002", dir_.File("unit-0002-bundle")));
  auto b = StartUnit("unit-0002");
  Write("unit-0002", "b1");
  ASSERT_TRUE(Eventually([&] { return LogCount("unit unit-0002 is not enrolled") >= 2; })) << Log();
  EXPECT_FALSE(AtCentral("b1"));
  ASSERT_TRUE(Hangup("reloaded")) << Log();
  EXPECT_NE(Log().find("units=3 revoked=0 added=1"), std::string::npos) << Log();
  ASSERT_TRUE(Eventually([&] { return AtCentral("b1"); })) << Log();

  // Revoked while connected: dropped at the reload, refused after it.
  ASSERT_TRUE(pki::Revoke(ca_, "unit-0003"));
  ASSERT_TRUE(Hangup("reloaded")) << Log();
  EXPECT_NE(Log().find("newly_revoked=1"), std::string::npos) << Log();
  EXPECT_NE(Log().find("event=session_dropped unit=unit-0003"), std::string::npos) << Log();
  EXPECT_NE(Log().find("sessions_dropped=1"), std::string::npos) << Log();
  const size_t refused_before = LogCount("verify=\"certificate revoked\" claimed_unit=unit-0003");
  Write("unit-0003", "c2");
  Write("unit-0001", "a2");
  Write("unit-0002", "b2");
  ASSERT_TRUE(Eventually([&] {
    return LogCount("verify=\"certificate revoked\" claimed_unit=unit-0003") >= refused_before + 2;
  })) << Log();
  EXPECT_TRUE(Eventually([&] { return AtCentral("a2") && AtCentral("b2"); }))
      << "the others keep syncing\n"
      << Log();
  EXPECT_FALSE(AtCentral("c2"));

  // A reload that cannot load (a registration others may read) keeps the old state.
  const std::string reg = ca_ + "/units/unit-0002.toml";
  ASSERT_EQ(::chmod(reg.c_str(), 0644), 0);
  ASSERT_TRUE(Hangup("reload_failed")) << Log();
  EXPECT_NE(Log().find("chmod 600"), std::string::npos) << "the hint says how to fix it";
  Write("unit-0002", "b3");
  EXPECT_TRUE(Eventually([&] { return AtCentral("b3"); })) << "still admitted, still syncing";
  ASSERT_EQ(::chmod(reg.c_str(), 0600), 0);
  ASSERT_TRUE(Hangup("reloaded")) << Log();

  // A unit has nothing to reload; it says so and carries on.
  a->Signal(SIGHUP);
  ASSERT_TRUE(Eventually([&] { return LogCount("event=reload_unsupported", "unit-0001") == 1; }));
  Write("unit-0001", "a3");
  EXPECT_TRUE(Eventually([&] { return AtCentral("a3"); }));

  EXPECT_EQ(a->Stop(), 0);
  EXPECT_EQ(b->Stop(), 0);
  EXPECT_EQ(c->Stop(), 0);
  EXPECT_EQ(central_->Stop(), 0);
}

}  // namespace
}  // namespace unitsync::testing
