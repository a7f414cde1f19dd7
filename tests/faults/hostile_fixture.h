// The fixture of the hostile peer tests (hostile_peer_test.cc, forged_push_test.cc): a
// running central (metrics on) with two honest units syncing (tests/recovery_fixture.h),
// and hostile units, unit-0003 .. unit-0006, enrolled like any other, whose bundles the
// tests use to misbehave. Throughout an attack the honest units keep writing; the tests check that
// their writes reach central while it goes on, that central is the same process
// afterwards, and what central shows of what it refused.
#pragma once

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmath>
#include <memory>
#include <string>

#include "tests/faults/hostile_unit.h"
#include "tests/faults/staff_writer.h"
#include "tests/recovery_fixture.h"

namespace unitsync::testing {

class HostilePeers : public DaemonRecovery {
 protected:
  void SetUp() override {
    DaemonRecovery::SetUp();
    for (int n = 3; n < 3 + kHostiles; ++n) {
      ASSERT_TRUE(pki::EnrollUnit(ca_, "unit-000" + std::to_string(n), Bundle(n)));
    }
    metrics_port_ = FreePort();
    WriteCentralConfig(
        "[metrics]\naddress = \"127.0.0.1\"\nport = " + std::to_string(metrics_port_) + "\n");
    StartCentral();
    StartUnits();
    for (const auto& u : units_) AddStudents(u, 0, 1);
    ASSERT_TRUE(Eventually([&] { return Converged(2); })) << "no first sync";
    central_pid_ = central_->pid();
  }

  void TearDown() override {
    StopHonestWriters();
    DaemonRecovery::TearDown();
  }

  static constexpr int kHostiles = 4;
  // Hostile unit `n`'s bundle (unit-000n, 3 <= n < 3 + kHostiles).
  std::string Bundle(int n = 3) { return dir_.File("unit-000" + std::to_string(n) + "-bundle"); }

  // Staff at both honest units add a student every 100 ms until StopHonestWriters.
  void StartHonestWriters() {
    for (const auto& u : units_) {
      writers_.push_back(std::make_unique<StaffWriter>(
          dir_.File(u + ".db"), std::chrono::milliseconds(100), writers_.size() + 1,
          [u](uint64_t n, std::mt19937_64&) -> std::pair<std::string, std::string> {
            const std::string id = "h-" + u + "-" + std::to_string(n);
            return {"INSERT INTO student(id, unit_id, pseudo_id) VALUES ('" + id + "', '" + u +
                        "', 'p')",
                    id};
          }));
      writers_.back()->Start();
    }
  }
  void StopHonestWriters() {
    for (auto& w : writers_) {
      w->Stop();
      EXPECT_EQ(w->failures(), 0u) << w->error();
    }
  }

  // Every honest write made so far is at central (and the honest units made some).
  bool HonestWritesAtCentral() {
    auto c = ValueOrDie(store::Replica::Open(dir_.File("central.db")));
    for (size_t i = 0; i < writers_.size(); ++i) {
      const size_t made = writers_[i]->created().size();
      if (made == 0) return false;
      const std::string n =
          Query(c, "SELECT count(*) FROM student WHERE id LIKE 'h-" + units_[i] + "-%'");
      if (std::stoul(n) < made) return false;
    }
    return true;
  }
  // The honest units' writes made before this call reach central within 60 s.
  void ExpectHonestUnitsKeepSyncing() {
    EXPECT_TRUE(Eventually([&] { return HonestWritesAtCentral(); }))
        << "an honest unit's writes did not reach central during the attack";
  }

  // Central is the process it was, and still answers its control socket.
  void ExpectCentralUp() {
    ASSERT_TRUE(central_);
    EXPECT_FALSE(central_->Exited()) << "central died";
    EXPECT_EQ(central_->pid(), central_pid_);
    const CliResult s = Ctl({"--config", dir_.File("central.toml"), "--json", "status"});
    EXPECT_EQ(s.code, 0) << s.err;
    EXPECT_TRUE(s.code == 0 && nlohmann::json::parse(s.out).contains("daemon")) << s.out;
  }

  // GET /metrics from central; the body.
  std::string Metrics() {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(metrics_port_);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    std::string out;
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
      const std::string req = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
      (void)!::write(fd, req.data(), req.size());
      char buf[4096];
      for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;) {
        out.append(buf, static_cast<size_t>(n));
      }
    }
    ::close(fd);
    return out;
  }
  // The value of the sample `name` (with its labels, e.g. `x{reason="tls"}`); NaN if absent.
  double Metric(const std::string& name) {
    const std::string m = Metrics();
    const size_t at = m.find("\n" + name + " ");
    if (at == std::string::npos) return std::nan("");
    return std::strtod(m.c_str() + at + name.size() + 2, nullptr);
  }

  size_t CentralLogCount(const std::string& what) {
    const std::string log = ReadFile(dir_.File("central.log"));
    size_t n = 0;
    for (size_t p = log.find(what); p != std::string::npos; p = log.find(what, p + 1)) ++n;
    return n;
  }

  uint16_t metrics_port_ = 0;
  pid_t central_pid_ = -1;
  std::vector<std::unique_ptr<StaffWriter>> writers_;
};

}  // namespace unitsync::testing
