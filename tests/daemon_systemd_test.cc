// unitsyncd under systemd's notification protocol, for real: the test plays systemd's
// part with a Unix datagram socket (NOTIFY_SOCKET), asks for a watchdog (WATCHDOG_USEC,
// WATCHDOG_PID = the daemon, as systemd sets them) and checks what arrives: READY=1, a
// STATUS= line that follows what the node is doing, WATCHDOG=1 again and again, and
// STOPPING=1 on SIGTERM.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "pki/ca.h"
#include "store/test_util.h"
#include "tests/daemon_util.h"

namespace unitsync::testing {
namespace {

using store::testing::Exec;
using store::testing::TempDir;
using store::testing::ValueOrDie;

// systemd's end of NOTIFY_SOCKET.
class NotifySocket {
 public:
  explicit NotifySocket(const std::string& path) : path_(path) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
    ok_ = fd_ >= 0 && path.size() < sizeof addr.sun_path &&
          ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  }
  ~NotifySocket() {
    if (fd_ >= 0) ::close(fd_);
    ::unlink(path_.c_str());
  }
  bool ok() const { return ok_; }

  // Receives until `done(fields)` holds or `limit` passes; every field ("KEY=value")
  // received so far is in fields().
  template <typename F>
  bool ReceiveUntil(F done, std::chrono::seconds limit = std::chrono::seconds(30)) {
    const auto until = std::chrono::steady_clock::now() + limit;
    while (!done()) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          until - std::chrono::steady_clock::now());
      if (left.count() <= 0) return false;
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
      char buf[4096];
      const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) continue;
      const std::string message(buf, static_cast<size_t>(n));
      size_t start = 0;
      while (start < message.size()) {
        size_t end = message.find('\n', start);
        if (end == std::string::npos) end = message.size();
        fields_.push_back(message.substr(start, end - start));
        start = end + 1;
      }
    }
    return true;
  }
  size_t Count(const std::string& field) const {
    size_t n = 0;
    for (const auto& f : fields_) n += f == field ? 1 : 0;
    return n;
  }
  // A field starting with `prefix` and containing `part`.
  bool Has(const std::string& prefix, const std::string& part = "") const {
    for (const auto& f : fields_) {
      if (f.rfind(prefix, 0) == 0 && f.find(part) != std::string::npos) return true;
    }
    return false;
  }
  std::string All() const {
    std::string s;
    for (const auto& f : fields_) s += f + "\n";
    return s;
  }

 private:
  std::string path_;
  int fd_ = -1;
  bool ok_ = false;
  std::vector<std::string> fields_;
};

class Systemd : public ::testing::Test {
 protected:
  void SetUp() override {
    ca_ = dir_.File("ca");
    ASSERT_TRUE(pki::InitCa(ca_, "test"));
    ASSERT_TRUE(pki::IssueServer(ca_, "central", {"127.0.0.1"}, dir_.File("central-bundle")));
    ASSERT_TRUE(pki::EnrollUnit(ca_, "unit-0001", dir_.File("unit-bundle")));
    ValueOrDie(store::Replica::Create(dir_.File("central.db"), store::Role::kCentral, "central"));
    ValueOrDie(store::Replica::Create(dir_.File("unit.db"), store::Role::kUnit, "unit-0001"));
    port_ = FreePort();
    WriteFile(dir_.File("central.toml"),
              Config("central", "central", dir_.File("central.db"), dir_.File("central-bundle"),
                     "pki_dir = \"" + ca_ +
                         "\"\n[listen]\naddress = \"127.0.0.1\"\nport = " + std::to_string(port_) +
                         "\n[control]\nsocket = \"" + dir_.File("central.sock") + "\"\n"));
    WriteFile(dir_.File("unit.toml"),
              Config("unit", "unit-0001", dir_.File("unit.db"), dir_.File("unit-bundle"),
                     "[central]\nhost = \"127.0.0.1\"\nport = " + std::to_string(port_) +
                         "\n[control]\nsocket = \"" + dir_.File("unit.sock") + "\"\n"));
  }
  // What systemd gives a Type=notify service with WatchdogSec=0.4.
  DaemonEnv SystemdEnv(const NotifySocket&, const std::string& path) {
    return {{"NOTIFY_SOCKET", path}, {"WATCHDOG_USEC", "400000"}, {"WATCHDOG_PID", kOwnPid}};
  }

  TempDir dir_;
  std::string ca_;
  uint16_t port_ = 0;
};

TEST_F(Systemd, CentralNotifiesReadyStatusWatchdogAndStopping) {
  NotifySocket notify(dir_.File("notify"));
  ASSERT_TRUE(notify.ok());
  Daemon central(dir_.File("central.toml"), dir_.File("central.log"),
                 SystemdEnv(notify, dir_.File("notify")));
  const std::string listening = "STATUS=listening on 127.0.0.1:" + std::to_string(port_) + "; ";
  ASSERT_TRUE(notify.ReceiveUntil([&] { return notify.Count("READY=1") == 1; }))
      << notify.All() << ReadFile(dir_.File("central.log"));
  ASSERT_TRUE(notify.ReceiveUntil([&] {
    return notify.Count(listening + "0 of 1 enrolled units connected") >= 1;
  })) << notify.All();

  // The status follows the sessions.
  Daemon unit(dir_.File("unit.toml"), dir_.File("unit.log"));
  ASSERT_TRUE(notify.ReceiveUntil([&] {
    return notify.Count(listening + "1 of 1 enrolled units connected") >= 1;
  })) << notify.All()
      << ReadFile(dir_.File("central.log"));

  // Pings keep coming (every 0.2 s here); each one made the round trip through the store
  // thread (daemon/systemd_notify_test.cc shows a wedged store thread stops them).
  ASSERT_TRUE(notify.ReceiveUntil([&] { return notify.Count("WATCHDOG=1") >= 5; })) << notify.All();

  central.Signal(SIGTERM);
  ASSERT_TRUE(notify.ReceiveUntil([&] { return notify.Count("STOPPING=1") == 1; })) << notify.All();
  EXPECT_EQ(central.Stop(), 0);
  EXPECT_EQ(unit.Stop(), 0);
}

TEST_F(Systemd, UnitStatusSaysWhetherItIsConnectedAndWhatIsWaiting) {
  {
    auto r = ValueOrDie(store::Replica::Open(dir_.File("unit.db")));
    for (int i = 0; i < 3; ++i) {
      Exec(r, "INSERT INTO student(id, unit_id, pseudo_id) VALUES ('s" + std::to_string(i) +
                  "', 'unit-0001', 'p')");
    }
  }
  NotifySocket notify(dir_.File("notify"));
  ASSERT_TRUE(notify.ok());
  // No central yet: started (READY=1), but not connected, with three changes waiting.
  Daemon unit(dir_.File("unit.toml"), dir_.File("unit.log"),
              SystemdEnv(notify, dir_.File("notify")));
  ASSERT_TRUE(notify.ReceiveUntil([&] {
    return notify.Count("READY=1") == 1 &&
           (notify.Has("STATUS=not connected to central (attempt ", "; 3 changes waiting since ") ||
            notify.Has("STATUS=connecting to central (attempt ", "; 3 changes waiting since "));
  })) << notify.All()
      << ReadFile(dir_.File("unit.log"));
  EXPECT_FALSE(notify.Has("STATUS=connected")) << notify.All();

  Daemon central(dir_.File("central.toml"), dir_.File("central.log"));
  ASSERT_TRUE(notify.ReceiveUntil([&] {
    return notify.Count("STATUS=connected to central; 0 changes waiting") >= 1;
  })) << notify.All()
      << ReadFile(dir_.File("unit.log"));
  ASSERT_TRUE(notify.ReceiveUntil([&] { return notify.Count("WATCHDOG=1") >= 3; }));

  // Paused by its admin the uplink is stopped, the daemon is not: the status says which.
  const std::string ctl =
      std::string(std::getenv("UNITSYNC_BIN")) + "/unitsyncctl --socket " + dir_.File("unit.sock");
  ASSERT_EQ(std::system((ctl + " pause >/dev/null").c_str()), 0);
  ASSERT_TRUE(notify.ReceiveUntil([&] {
    return notify.Has("STATUS=sync paused by the admin (unitsyncctl resume); ");
  })) << notify.All();
  EXPECT_FALSE(notify.Has("STATUS=stopping")) << notify.All();
  const size_t connected = notify.Count("STATUS=connected to central; 0 changes waiting");
  ASSERT_EQ(std::system((ctl + " resume >/dev/null").c_str()), 0);
  ASSERT_TRUE(notify.ReceiveUntil([&] {
    return notify.Count("STATUS=connected to central; 0 changes waiting") > connected;
  })) << notify.All();

  unit.Signal(SIGTERM);
  ASSERT_TRUE(notify.ReceiveUntil([&] { return notify.Count("STOPPING=1") == 1; })) << notify.All();
  EXPECT_EQ(unit.Stop(), 0);
  EXPECT_EQ(central.Stop(), 0);
}

}  // namespace
}  // namespace unitsync::testing
