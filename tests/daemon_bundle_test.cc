// No network at all (DESIGN.md "Recovery"): a unit's changes go to central in a sealed
// bundle carried by hand and central's reply comes back the same way, with real unitsyncd
// processes, real certificates, real replicas and the real unitsyncctl. The round trip
// alone makes the unit and central's copy of it identical; when the network comes back
// the session finds nothing to resend and sync carries on.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "admin-cli/cli_test_util.h"
#include "pki/ca.h"
#include "store/test_util.h"
#include "tests/daemon_util.h"

namespace unitsync::testing {
namespace {

using cli::testing::CliResult;
using cli::testing::RunUnitsyncctl;
using store::testing::Digests;
using store::testing::Exec;
using store::testing::Query;
using store::testing::TempDir;
using store::testing::ValueOrDie;

class DaemonBundle : public ::testing::Test {
 protected:
  const std::string u_ = "unit-0001";

  void SetUp() override {
    ca_ = dir_.File("ca");
    ASSERT_TRUE(pki::InitCa(ca_, "test"));
    ASSERT_TRUE(pki::IssueServer(ca_, "central", {"127.0.0.1"}, dir_.File("central-bundle")));
    ASSERT_TRUE(pki::EnrollUnit(ca_, u_, dir_.File(u_ + "-bundle")));
    ValueOrDie(store::Replica::Create(dir_.File("central.db"), store::Role::kCentral, "central"));
    ValueOrDie(store::Replica::Create(dir_.File(u_ + ".db"), store::Role::kUnit, u_));
    port_ = FreePort();
    WriteFile(dir_.File("central.toml"),
              Config("central", "central", dir_.File("central.db"), dir_.File("central-bundle"),
                     "pki_dir = \"" + ca_ +
                         "\"\n[listen]\naddress = \"127.0.0.1\"\nport = " + std::to_string(port_) +
                         "\n[control]\nsocket = \"" + dir_.File("central.sock") + "\"\n"));
    // No network: the unit dials a port nobody listens on.
    uint16_t dead = FreePort();
    while (dead == port_) dead = FreePort();
    WriteUnitConfig(dead);
  }

  void WriteUnitConfig(uint16_t central_port) {
    WriteFile(dir_.File(u_ + ".toml"),
              Config("unit", u_, dir_.File(u_ + ".db"), dir_.File(u_ + "-bundle"),
                     "[central]\nhost = \"127.0.0.1\"\nport = " + std::to_string(central_port) +
                         "\n[control]\nsocket = \"" + dir_.File(u_ + ".sock") + "\"\n"));
  }

  void TearDown() override {
    if (HasFailure()) {
      for (const std::string& log : {std::string("central"), u_}) {
        std::cerr << "--- " << log << ".log\n" << ReadFile(dir_.File(log + ".log")) << "\n";
      }
    }
    if (unit_) unit_->Stop();
    if (central_) central_->Stop();
  }

  void StartCentral() {
    central_ = std::make_unique<Daemon>(dir_.File("central.toml"), dir_.File("central.log"));
  }
  void StartUnit() {
    unit_ = std::make_unique<Daemon>(dir_.File(u_ + ".toml"), dir_.File(u_ + ".log"));
  }
  // The control socket answers: the daemon is up (and would refuse a second owner).
  bool Answers(const std::string& node) {
    return Ctl({"--config", dir_.File(node + ".toml"), "--json", "status"})
               .out.find("\"daemon\"") != std::string::npos;
  }

  CliResult Ctl(const std::vector<std::string>& args) {
    return RunUnitsyncctl(args, dir_.File(""));
  }
  CliResult AtUnit(std::vector<std::string> args) {
    args.insert(args.begin(), {"--config", dir_.File(u_ + ".toml")});
    return Ctl(args);
  }
  CliResult AtCentral(std::vector<std::string> args) {
    args.insert(args.begin(), {"--config", dir_.File("central.toml")});
    return Ctl(args);
  }

  // Rows written by another program: `n` students with ids <prefix>-<i>, in `unit`.
  void AddStudents(const std::string& db, const std::string& prefix, const std::string& unit,
                   int from, int to) {
    auto r = ValueOrDie(store::Replica::Open(dir_.File(db)));
    Exec(r, "BEGIN");
    for (int n = from; n < to; ++n) {
      Exec(r, "INSERT INTO student(id, unit_id, pseudo_id, grade) VALUES ('" + prefix + "-" +
                  std::to_string(n) + "', '" + unit + "', 'p', '1')");
    }
    Exec(r, "COMMIT");
  }
  std::string Count(const std::string& db, const std::string& where) {
    auto r = ValueOrDie(store::Replica::Open(dir_.File(db)));
    return Query(r, "SELECT count(*) FROM student WHERE " + where);
  }
  bool DigestsEqual() {
    auto c = ValueOrDie(store::Replica::Open(dir_.File("central.db")));
    auto r = ValueOrDie(store::Replica::Open(dir_.File(u_ + ".db")));
    return Digests(r, u_) == Digests(c, u_);
  }
  nlohmann::json UnitStatus() {
    const CliResult s = AtUnit({"--json", "status"});
    EXPECT_EQ(s.code, 0) << s.err;
    return nlohmann::json::parse(s.out);
  }

  TempDir dir_;
  std::string ca_;
  uint16_t port_ = 0;
  std::unique_ptr<Daemon> central_;
  std::unique_ptr<Daemon> unit_;
};

TEST_F(DaemonBundle, ARoundTripWithTheNetworkOffConvergesAndSyncCarriesOn) {
  StartCentral();
  StartUnit();
  ASSERT_TRUE(Eventually([&] { return Answers("central") && Answers(u_); }));
  // Both sides keep working with no network: 300 rows at the unit (several changesets),
  // an update of one of them; central writes rows into the unit's scope and another's.
  AddStudents(u_ + ".db", "s-unit", u_, 0, 300);
  {
    auto r = ValueOrDie(store::Replica::Open(dir_.File(u_ + ".db")));
    Exec(r, "UPDATE student SET grade = '7' WHERE id = 's-unit-5'");
  }
  AddStudents("central.db", "s-central", u_, 0, 20);
  AddStudents("central.db", "s-other", "unit-0002", 0, 5);
  {
    const auto status = UnitStatus();
    EXPECT_NE(status["link"]["state"], "connected") << status.dump();
    EXPECT_GE(status["outgoing"]["pending_changes"].get<int64_t>(), 300) << status.dump();
  }

  // The unit: refused while its daemon owns the replica, then exported.
  const std::string bundle = dir_.File("usb/unit-0001.usbn");
  std::filesystem::create_directory(dir_.File("usb"));
  const CliResult live = AtUnit({"export-bundle", "--out", bundle});
  EXPECT_EQ(live.code, 4) << live.err;
  EXPECT_NE(live.err.find("unitsyncd is running"), std::string::npos) << live.err;
  EXPECT_FALSE(std::filesystem::exists(bundle));
  EXPECT_EQ(unit_->Stop(), 0);
  const CliResult exported = AtUnit({"--json", "export-bundle", "--out", bundle});
  ASSERT_EQ(exported.code, 0) << exported.err;
  const auto exp = nlohmann::json::parse(exported.out);
  EXPECT_GE(exp["changesets"].get<int>(), 1) << exported.out;
  EXPECT_EQ(exp["destination"], "central");
  EXPECT_EQ(ReadFile(bundle).find("s-unit-"), std::string::npos) << "plaintext in the bundle";

  // Central: refused while running; then imported, once.
  const CliResult busy = AtCentral({"import-bundle", bundle});
  EXPECT_EQ(busy.code, 4) << busy.err;
  EXPECT_EQ(central_->Stop(), 0);
  // A damaged copy (one byte in the last changeset): nothing applied.
  std::string bytes = ReadFile(bundle);
  bytes[bytes.size() - 20] ^= 0x20;
  WriteFile(dir_.File("usb/damaged.usbn"), bytes);
  const CliResult damaged = AtCentral({"import-bundle", dir_.File("usb/damaged.usbn")});
  EXPECT_EQ(damaged.code, 5) << damaged.err;
  EXPECT_EQ(Count("central.db", "unit_id = '" + u_ + "' AND id LIKE 's-unit-%'"), "0");

  const CliResult imported = AtCentral({"--json", "import-bundle", bundle});
  ASSERT_EQ(imported.code, 0) << imported.err;
  const auto imp = nlohmann::json::parse(imported.out);
  EXPECT_EQ(imp["unit"], u_);
  EXPECT_EQ(imp["applied"], exp["changesets"]);
  EXPECT_EQ(imp["reply"]["rows"], 20) << "central's rows for this unit, not another unit's";
  const std::string reply = imp["reply"]["out"];
  EXPECT_EQ(reply, dir_.File("usb/unit-0001-reply.usbn"));
  EXPECT_EQ(Count("central.db", "id LIKE 's-unit-%'"), "300");

  const CliResult twice = AtCentral({"import-bundle", bundle, "--reply-out", dir_.File("r2.usbn")});
  EXPECT_EQ(twice.code, 4) << twice.err;
  EXPECT_NE(twice.err.find("already imported"), std::string::npos) << twice.err;
  EXPECT_FALSE(std::filesystem::exists(dir_.File("r2.usbn")));
  // The unit's own bundle is not for the unit; the reply is not for central.
  EXPECT_EQ(AtUnit({"import-bundle", bundle}).code, 5);
  EXPECT_EQ(AtCentral({"import-bundle", reply}).code, 5);

  // Back at the unit: the reply acknowledges everything and brings central's rows.
  const CliResult back = AtUnit({"--json", "import-bundle", reply});
  ASSERT_EQ(back.code, 0) << back.err;
  const auto imported_reply = nlohmann::json::parse(back.out);
  EXPECT_EQ(imported_reply["acked_seq"], exp["last_seq"]);
  EXPECT_FALSE(imported_reply["resynced"].get<bool>());
  const CliResult again = AtUnit({"import-bundle", reply});
  EXPECT_EQ(again.code, 4) << again.err;

  // Converged with no network at all: equal digests, nothing pending, every write of
  // both sides present on both, nothing of the other unit at this one.
  EXPECT_TRUE(DigestsEqual());
  {
    const auto status = UnitStatus();
    EXPECT_EQ(status["outgoing"]["pending_changes"], 0) << status.dump();
    EXPECT_EQ(status["outgoing"]["outbox_pending"], 0) << status.dump();
  }
  EXPECT_EQ(Count(u_ + ".db", "id LIKE 's-central-%'"), "20");
  EXPECT_EQ(Count(u_ + ".db", "id LIKE 's-other-%'"), "0");
  EXPECT_EQ(Count("central.db", "id = 's-unit-5' AND grade = '7'"), "1");

  // The network comes back: the session starts from the cursors the bundles moved — no
  // resend of the whole state — and new writes flow as usual.
  WriteUnitConfig(port_);
  StartCentral();
  StartUnit();
  ASSERT_TRUE(Eventually([&] { return UnitStatus()["link"]["state"] == "connected"; }));
  AddStudents(u_ + ".db", "s-after", u_, 0, 3);
  AddStudents("central.db", "s-central-after", u_, 0, 2);
  ASSERT_TRUE(Eventually([&] {
    return Count("central.db", "id LIKE 's-after-%'") == "3" &&
           Count(u_ + ".db", "id LIKE 's-central-after-%'") == "2" && DigestsEqual();
  }));
  const CliResult verify = AtUnit({"--json", "verify"});
  EXPECT_EQ(verify.code, 0) << verify.out << verify.err;
  EXPECT_TRUE(nlohmann::json::parse(verify.out)["units"][0]["all_equal"].get<bool>()) << verify.out;
  EXPECT_TRUE(Eventually([&] { return UnitStatus()["outgoing"]["pending_changes"] == 0; }));
  EXPECT_EQ(ReadFile(dir_.File(u_ + ".log")).find("event=resync"), std::string::npos)
      << "the cursors the bundles moved were trusted as they are";
  EXPECT_EQ(Count("central.db", "unit_id = '" + u_ + "'"), "325");
}

}  // namespace
}  // namespace unitsync::testing
