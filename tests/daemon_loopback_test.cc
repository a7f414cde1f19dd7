// Real unitsyncd processes on loopback with real certificates from the deployment PKI:
// one central and two units. What an admin would check after deploying: writes made at
// the units (by another program, straight into the replica) and at central converge.
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

namespace unitsync::testing {
namespace {

using store::testing::Digests;
using store::testing::Exec;
using store::testing::Query;
using store::testing::TempDir;
using store::testing::ValueOrDie;

uint16_t FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

class Daemon {
 public:
  Daemon(const std::string& config, const std::string& log) {
    const std::string bin = std::string(std::getenv("UNITSYNC_BIN")) + "/unitsyncd";
    pid_ = ::fork();
    if (pid_ == 0) {
      FILE* f = std::freopen(log.c_str(), "w", stderr);
      (void)f;
      ::execl(bin.c_str(), bin.c_str(), "--config", config.c_str(), static_cast<char*>(nullptr));
      std::_Exit(127);
    }
  }
  ~Daemon() { Stop(); }
  // SIGTERM and wait; the exit status.
  int Stop() {
    if (pid_ <= 0) return status_;
    ::kill(pid_, SIGTERM);
    int st = 0;
    ::waitpid(pid_, &st, 0);
    pid_ = -1;
    status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    return status_;
  }

 private:
  pid_t pid_ = -1;
  int status_ = -1;
};

void WriteFile(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

std::string Config(const std::string& role, const std::string& node, const std::string& db,
                   const std::string& bundle, const std::string& extra) {
  return "role = \"" + role + "\"\nnode_id = \"" + node + "\"\ndatabase = \"" + db +
         "\"\n[tls]\nbundle = \"" + bundle + "\"\n" + extra +
         "[sync]\nchange_poll_ms = 600000\nping_interval_ms = 1000\nread_deadline_ms = 3000\n"
         "backoff_base_ms = 100\nbackoff_max_ms = 1000\n";
}

// Waits (bounded) for `done`; convergence time is measured by the benchmarks, not here.
template <typename F>
bool Eventually(F done, std::chrono::seconds limit = std::chrono::seconds(60)) {
  const auto until = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < until) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return done();
}

TEST(DaemonLoopback, UnitsAndCentralConvergeOverTls) {
  TempDir dir;
  const std::string ca = dir.File("ca");
  ASSERT_TRUE(pki::InitCa(ca, "test"));
  ASSERT_TRUE(pki::IssueServer(ca, "central", {"127.0.0.1"}, dir.File("central-bundle")));
  const std::vector<std::string> units = {"unit-0001", "unit-0002"};
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

  // Another program writes straight into the unit replicas, and into central.
  for (size_t i = 0; i < units.size(); ++i) {
    auto r = ValueOrDie(store::Replica::Open(dir.File(units[i] + ".db")));
    for (int n = 0; n < 5; ++n) {
      Exec(r, "INSERT INTO student(id, unit_id, pseudo_id) VALUES ('s-" + units[i] + "-" +
                  std::to_string(n) + "', '" + units[i] + "', 'p')");
    }
  }
  {
    auto c = ValueOrDie(store::Replica::Open(dir.File("central.db")));
    Exec(c,
         "INSERT INTO action_type(id, code, name, level, valid_from) "
         "VALUES ('at1', 'K', 'Typ', 'ea', '2026-01-01')");
  }

  auto converged = [&] {
    auto c = ValueOrDie(store::Replica::Open(dir.File("central.db")));
    if (Query(c, "SELECT count(*) FROM student") != "10") return false;
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
    for (const char* log : {"central.log", "unit-0001.log", "unit-0002.log"}) {
      std::ifstream in(dir.File(log));
      std::cerr << "--- " << log << "\n" << in.rdbuf() << "\n";
    }
  }
  ASSERT_TRUE(ok) << "did not converge";
  auto u1 = ValueOrDie(store::Replica::Open(dir.File("unit-0001.db")));
  EXPECT_EQ(Query(u1, "SELECT count(*) FROM student"), "5") << "only its own students";
  EXPECT_EQ(Query(u1, "SELECT count(*) FROM action_type"), "1") << "reference data arrived";
}

}  // namespace
}  // namespace unitsync::testing
