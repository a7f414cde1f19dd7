// The fixture of the network fault tests (net_faults_test.cc, netem_test.cc): central
// and two units as real unitsyncd processes (tests/recovery_fixture.h), unit-0001 behind
// a FaultProxy when asked, staff writing at unit-0001 and at central, and the
// convergence check.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <random>
#include <string>

#include "tests/faults/fault_proxy.h"
#include "tests/faults/staff_writer.h"
#include "tests/recovery_fixture.h"

namespace unitsync::testing {

// How long replicas may take to converge after the faults heal before the test fails. The
// daemons run with read deadlines of 3 s and a reconnect backoff capped at 1 s (Config in
// daemon_util.h); RELIABILITY.md has the times measured, far below this.
inline constexpr std::chrono::seconds kConvergeLimit{60};

class NetFaultsFixture : public DaemonRecovery {
 protected:
  void SetUp() override {
    DaemonRecovery::SetUp();
    if (const char* s = std::getenv("UNITSYNC_FAULT_SEED")) {
      seed_ = std::strtoull(s, nullptr, 10);
    } else {
      seed_ = (static_cast<uint64_t>(std::random_device{}()) << 32) | std::random_device{}();
    }
    rng_.seed(seed_);
    std::printf("faults: seed=%llu (replay: UNITSYNC_FAULT_SEED=%llu)\n",
                static_cast<unsigned long long>(seed_), static_cast<unsigned long long>(seed_));
    RecordProperty("seed", std::to_string(seed_));
  }

  void TearDown() override {
    StopWriters();
    DaemonRecovery::TearDown();
  }

  static std::chrono::seconds FaultSeconds() {
    const char* s = std::getenv("UNITSYNC_FAULT_SECONDS");
    return std::chrono::seconds(s ? std::strtoll(s, nullptr, 10) : 12);
  }

  // unit-0001 dials the proxy instead of central; everything starts and unit-0001 has
  // synced once through the proxy.
  void StartWithProxy() {
    proxy_ = std::make_unique<FaultProxy>(port_, seed_);
    const std::string u = "unit-0001";
    WriteFile(dir_.File(u + ".toml"),
              Config("unit", u, dir_.File(u + ".db"), dir_.File(u + "-bundle"),
                     "[central]\nhost = \"127.0.0.1\"\nport = " + std::to_string(proxy_->port()) +
                         "\n[control]\nsocket = \"" + dir_.File(u + ".sock") + "\"\n"));
    StartAllAndSyncOnce();
  }

  void StartAllAndSyncOnce() {
    StartCentral();
    StartUnits();
    for (const auto& u : units_) AddStudents(u, 0, 1);
    ASSERT_TRUE(Eventually([&] { return Converged(2); })) << "no first sync before any fault";
  }

  // Staff at unit-0001 (new students, grades of earlier ones) and at central (reference
  // data, students of unit-0001, grades of unit-0001's own students: concurrent writes).
  void StartWriters() {
    unit_writer_ = std::make_unique<StaffWriter>(
        dir_.File("unit-0001.db"), std::chrono::milliseconds(100), seed_ + 1,
        [](uint64_t n, std::mt19937_64& rng) -> std::pair<std::string, std::string> {
          const std::string id = "s-u-" + std::to_string(n);
          if (n % 3 != 2) {
            return {"INSERT INTO student(id, unit_id, pseudo_id, grade) VALUES ('" + id +
                        "', 'unit-0001', 'p', 'u" + std::to_string(n) + "')",
                    id};
          }
          const uint64_t k = std::uniform_int_distribution<uint64_t>(0, n - 1)(rng);
          return {"UPDATE student SET grade = 'u" + std::to_string(n) + "' WHERE id = 's-u-" +
                      std::to_string(k) + "'",
                  ""};
        });
    central_writer_ = std::make_unique<StaffWriter>(
        dir_.File("central.db"), std::chrono::milliseconds(100), seed_ + 2,
        [](uint64_t n, std::mt19937_64& rng) -> std::pair<std::string, std::string> {
          const std::string tag = std::to_string(n);
          switch (n % 3) {
            case 0:
              return {"INSERT INTO action_type(id, code, name, level, valid_from) VALUES ('at-" +
                          tag + "', 'C" + tag + "', 'T" + tag + "', 'annat', '2026-01-01')",
                      "at-" + tag};
            case 1:
              return {"INSERT INTO student(id, unit_id, pseudo_id, grade) VALUES ('s-c-" + tag +
                          "', 'unit-0001', 'p', 'c" + tag + "')",
                      "s-c-" + tag};
            default: {
              const uint64_t k = std::uniform_int_distribution<uint64_t>(0, n)(rng);
              return {"UPDATE student SET grade = 'c" + tag + "' WHERE id = 's-u-" +
                          std::to_string(k) + "'",
                      ""};
            }
          }
        });
    unit_writer_->Start();
    central_writer_->Start();
  }

  void StopWriters() {
    for (auto* w : {unit_writer_.get(), central_writer_.get()}) {
      if (w == nullptr) continue;
      w->Stop();
      EXPECT_EQ(w->failures(), 0u) << w->error();
    }
  }
  uint64_t UnitWrites() const { return unit_writer_ ? unit_writer_->writes() : 0; }
  uint64_t CentralWrites() const { return central_writer_ ? central_writer_->writes() : 0; }

  // Rows created at `where`'s writer whose id starts with `prefix`.
  static size_t CreatedWith(const StaffWriter* w, const std::string& prefix) {
    size_t n = 0;
    if (w == nullptr) return 0;
    for (const auto& id : w->created()) n += id.rfind(prefix, 0) == 0;
    return n;
  }
  static size_t CountAt(store::Replica& r, const std::string& table, const std::string& prefix) {
    return std::stoul(
        Query(r, "SELECT count(*) FROM " + table + " WHERE id LIKE '" + prefix + "%'"));
  }

  // Every write present where it belongs, and each unit's digests equal central's copy.
  // `why` says what is still missing (counts and table names only).
  bool ConvergedNow(std::string* why = nullptr) {
    auto c = ValueOrDie(store::Replica::Open(dir_.File("central.db")));
    auto u1 = ValueOrDie(store::Replica::Open(dir_.File("unit-0001.db")));
    auto u2 = ValueOrDie(store::Replica::Open(dir_.File("unit-0002.db")));
    const size_t su = CreatedWith(unit_writer_.get(), "s-u-");
    const size_t sc = CreatedWith(central_writer_.get(), "s-c-");
    const size_t at = CreatedWith(central_writer_.get(), "at-");
    std::string out;
    auto need = [&](bool ok, const std::string& what) {
      if (!ok) out += what + "; ";
    };
    need(CountAt(c, "student", "s-u-") == su, "central lacks unit-0001's students");
    need(CountAt(u1, "student", "s-c-") == sc, "unit-0001 lacks central's students");
    need(CountAt(u1, "action_type", "at-") == at, "unit-0001 lacks reference data");
    need(CountAt(u2, "action_type", "at-") == at, "unit-0002 lacks reference data");
    for (auto [r, u] : {std::pair{&u1, "unit-0001"}, std::pair{&u2, "unit-0002"}}) {
      const auto mine = Digests(*r, u);
      const auto theirs = Digests(c, u);
      if (mine == theirs) continue;
      out += std::string(u) + " digests differ:";
      for (size_t i = 0; i < mine.size() && i < theirs.size(); ++i) {
        if (!(mine[i] == theirs[i])) out += " " + mine[i].table;
      }
      out += "; ";
    }
    if (why != nullptr) *why = out;
    return out.empty();
  }

  bool ConvergedWithin(std::chrono::seconds limit) {
    return Eventually([&] { return ConvergedNow(); }, limit);
  }
  std::string ConvergenceReport() {
    std::string why;
    ConvergedNow(&why);
    return why;
  }

  // `unitsyncctl verify` at unit-0001, over its session through the proxy: identical.
  void ExpectVerifyIdentical() {
    CliResult last;
    EXPECT_TRUE(Eventually([&] {
      last = Ctl({"--config", dir_.File("unit-0001.toml"), "--json", "verify"});
      return last.code == 0;
    })) << last.out
        << last.err;
  }

  void ExpectEveryDaemonStillRunning() {
    ASSERT_TRUE(central_);
    EXPECT_FALSE(central_->Exited()) << "central ended during the faults";
    for (auto& d : unit_daemons_) EXPECT_FALSE(d->Exited()) << "a unit ended during the faults";
  }

  // Lines with `what` in `node`'s log (a lower bound: repeating events are rate-limited).
  size_t LogCount(const std::string& node, const std::string& what) {
    const std::string log = ReadFile(dir_.File(node + ".log"));
    size_t n = 0;
    for (size_t p = log.find(what); p != std::string::npos; p = log.find(what, p + 1)) ++n;
    return n;
  }

  uint64_t seed_ = 0;
  std::mt19937_64 rng_;
  std::unique_ptr<FaultProxy> proxy_;
  std::unique_ptr<StaffWriter> unit_writer_;
  std::unique_ptr<StaffWriter> central_writer_;
};

}  // namespace unitsync::testing
