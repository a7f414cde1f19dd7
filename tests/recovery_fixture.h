// The fixture of the recovery tests (daemon_recovery_test.cc, daemon_purge_test.cc):
// central and two units on loopback with real certificates, configs and replicas, run
// as real unitsyncd processes and driven with the real unitsyncctl.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "admin-cli/cli_test_util.h"
#include "pki/ca.h"
#include "store/test_util.h"
#include "tests/daemon_util.h"

namespace unitsync::testing {

using cli::testing::CliResult;
using cli::testing::RunUnitsyncctl;
using store::testing::Digests;
using store::testing::Exec;
using store::testing::Query;
using store::testing::TempDir;
using store::testing::ValueOrDie;

// Central and two units on loopback, each with its config, bundle and replica.
class DaemonRecovery : public ::testing::Test {
 protected:
  const std::vector<std::string> units_ = {"unit-0001", "unit-0002"};

  void SetUp() override {
    ca_ = dir_.File("ca");
    ASSERT_TRUE(pki::InitCa(ca_, "test"));
    ASSERT_TRUE(pki::IssueServer(ca_, "central", {"127.0.0.1"}, dir_.File("central-bundle")));
    ValueOrDie(store::Replica::Create(dir_.File("central.db"), store::Role::kCentral, "central"));
    port_ = FreePort();
    WriteCentralConfig("");
    for (const auto& u : units_) {
      ASSERT_TRUE(pki::EnrollUnit(ca_, u, dir_.File(u + "-bundle")));
      ValueOrDie(store::Replica::Create(dir_.File(u + ".db"), store::Role::kUnit, u));
      WriteFile(dir_.File(u + ".toml"),
                Config("unit", u, dir_.File(u + ".db"), dir_.File(u + "-bundle"),
                       "[central]\nhost = \"127.0.0.1\"\nport = " + std::to_string(port_) +
                           "\n[control]\nsocket = \"" + dir_.File(u + ".sock") + "\"\n"));
    }
  }

  void WriteCentralConfig(const std::string& extra) {
    WriteFile(dir_.File("central.toml"),
              Config("central", "central", dir_.File("central.db"), dir_.File("central-bundle"),
                     "pki_dir = \"" + ca_ +
                         "\"\n[listen]\naddress = \"127.0.0.1\"\nport = " + std::to_string(port_) +
                         "\n[control]\nsocket = \"" + dir_.File("central.sock") + "\"\n" + extra));
  }

  void StartCentral() {
    central_ = std::make_unique<Daemon>(dir_.File("central.toml"), dir_.File("central.log"));
  }
  void StartUnits() {
    for (const auto& u : units_) {
      unit_daemons_.push_back(
          std::make_unique<Daemon>(dir_.File(u + ".toml"), dir_.File(u + ".log")));
    }
  }
  void StopAll() {
    for (auto& d : unit_daemons_) {
      EXPECT_EQ(d->Stop(), 0);
    }
    unit_daemons_.clear();
    if (central_) {
      EXPECT_EQ(central_->Stop(), 0);
    }
    central_.reset();
  }
  void TearDown() override {
    if (HasFailure()) {
      for (const std::string log : {"central", "unit-0001", "unit-0002"}) {
        std::cerr << "--- " << log << ".log\n" << ReadFile(dir_.File(log + ".log")) << "\n";
      }
    }
    StopAll();
  }

  CliResult Ctl(const std::vector<std::string>& args) {
    return RunUnitsyncctl(args, dir_.File(""));
  }
  // True once the daemon of `config` answers on its control socket (status from the
  // daemon carries "daemon"; from the database it does not).
  bool Answers(const std::string& config) {
    return Eventually([&] {
      const CliResult s = Ctl({"--config", config, "--json", "status"});
      return s.code == 0 && nlohmann::json::parse(s.out).contains("daemon");
    });
  }

  // Students written at `unit` by another program, ids s-<unit>-<from..to-1>.
  void AddStudents(const std::string& unit, int from, int to) {
    auto r = ValueOrDie(store::Replica::Open(dir_.File(unit + ".db")));
    Exec(r, "BEGIN");
    for (int n = from; n < to; ++n) {
      Exec(r, "INSERT INTO student(id, unit_id, pseudo_id, grade) VALUES ('s-" + unit + "-" +
                  std::to_string(n) + "', '" + unit + "', 'p', '1')");
    }
    Exec(r, "COMMIT");
  }

  // Every unit's digest equals central's copy of that unit, and central holds `students`.
  bool Converged(int students) {
    auto c = ValueOrDie(store::Replica::Open(dir_.File("central.db")));
    if (Query(c, "SELECT count(*) FROM student") != std::to_string(students)) return false;
    for (const auto& u : units_) {
      auto r = ValueOrDie(store::Replica::Open(dir_.File(u + ".db")));
      if (Digests(r, u) != Digests(c, u)) return false;
    }
    return true;
  }

  TempDir dir_;
  std::string ca_;
  uint16_t port_ = 0;
  std::unique_ptr<Daemon> central_;
  std::vector<std::unique_ptr<Daemon>> unit_daemons_;
};

}  // namespace unitsync::testing
