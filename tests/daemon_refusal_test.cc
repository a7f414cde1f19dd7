// Central refuses what it must refuse, and carries on serving the others: a unit with a
// certificate from another CA, a revoked unit, a TLS 1.2 client, a peer sending garbage,
// an oversized length prefix or a stalled half-frame, a client that completes TLS and
// says nothing. Graceful ends send close_notify. Real processes, real certificates.
#include <gtest/gtest.h>

#include <cstdio>

#include "pki/ca.h"
#include "store/test_util.h"
#include "tests/daemon_util.h"
#include "tests/tls_test_client.h"

namespace unitsync::testing {
namespace {

using store::testing::Exec;
using store::testing::Query;
using store::testing::TempDir;
using store::testing::ValueOrDie;

class Refusals : public ::testing::Test {
 protected:
  void SetUp() override {
    ca_ = dir_.File("ca");
    ASSERT_TRUE(pki::InitCa(ca_, "test"));
    ASSERT_TRUE(pki::IssueServer(ca_, "central", {"127.0.0.1"}, dir_.File("central-bundle")));
    ValueOrDie(store::Replica::Create(dir_.File("central.db"), store::Role::kCentral, "central"));
    port_ = FreePort();
  }

  // A unit node with `bundle`, its replica and config; returns the config path.
  std::string Unit(const std::string& id, const std::string& bundle) {
    ValueOrDie(store::Replica::Create(dir_.File(id + ".db"), store::Role::kUnit, id));
    const std::string path = dir_.File(id + ".toml");
    WriteFile(path, Config("unit", id, dir_.File(id + ".db"), bundle,
                           "[central]\nhost = \"127.0.0.1\"\nport = " + std::to_string(port_) +
                               "\n[control]\nsocket = \"" + dir_.File(id + ".sock") + "\"\n"));
    auto r = ValueOrDie(store::Replica::Open(dir_.File(id + ".db")));
    Exec(r,
         "INSERT INTO student(id, unit_id, pseudo_id) VALUES ('s-" + id + "', '" + id + "', 'p')");
    return path;
  }

  // `listen` adds keys to [listen]; `handshake_ms` is sync.handshake_timeout_ms.
  void StartCentral(const std::string& listen = "", int handshake_ms = 2000) {
    std::string config =
        Config("central", "central", dir_.File("central.db"), dir_.File("central-bundle"),
               "pki_dir = \"" + ca_ +
                   "\"\n[listen]\naddress = \"127.0.0.1\"\nport = " + std::to_string(port_) + "\n" +
                   listen + "[control]\nsocket = \"" + dir_.File("central.sock") + "\"\n");
    const std::string dflt = "handshake_timeout_ms = 2000";
    config.replace(config.find(dflt), dflt.size(),
                   "handshake_timeout_ms = " + std::to_string(handshake_ms));
    WriteFile(dir_.File("central.toml"), config);
    central_ = std::make_unique<Daemon>(dir_.File("central.toml"), dir_.File("central.log"));
    ASSERT_TRUE(Eventually([&] { return CentralLogHas("event=started"); }))
        << ReadFile(dir_.File("central.log"));
  }

  bool CentralLogHas(const std::string& what) {
    return ReadFile(dir_.File("central.log")).find(what) != std::string::npos;
  }
  size_t CentralLogCount(const std::string& what) {
    return Count(ReadFile(dir_.File("central.log")), what);
  }

  bool AtCentral(const std::string& id) {
    auto c = ValueOrDie(store::Replica::Open(dir_.File("central.db")));
    return Query(c, "SELECT count(*) FROM student WHERE id = 's-" + id + "'") == "1";
  }

  static size_t Count(const std::string& text, const std::string& what) {
    size_t n = 0;
    for (size_t p = text.find(what); p != std::string::npos; p = text.find(what, p + 1)) ++n;
    return n;
  }

  // Runs a shell command with the openssl CLI against central; its exit status.
  int Shell(const std::string& cmd) { return std::system(cmd.c_str()); }

  TempDir dir_;
  std::string ca_;
  uint16_t port_ = 0;
  std::unique_ptr<Daemon> central_;
};

TEST_F(Refusals, ForeignCaRevokedAndTls12AreRefusedAndOthersCarryOn) {
  // A good unit, a unit whose certificate comes from another CA, a revoked unit.
  ASSERT_TRUE(pki::EnrollUnit(ca_, "unit-0001", dir_.File("good-bundle")));
  const std::string other_ca = dir_.File("other-ca");
  ASSERT_TRUE(pki::InitCa(other_ca, "intruder"));
  ASSERT_TRUE(pki::EnrollUnit(other_ca, "unit-0002", dir_.File("foreign-bundle")));
  ASSERT_TRUE(pki::EnrollUnit(ca_, "unit-0003", dir_.File("revoked-bundle")));
  ASSERT_TRUE(pki::Revoke(ca_, "unit-0003"));
  StartCentral();

  Daemon good(Unit("unit-0001", dir_.File("good-bundle")), dir_.File("unit-0001.log"));
  Daemon foreign(Unit("unit-0002", dir_.File("foreign-bundle")), dir_.File("unit-0002.log"));
  Daemon revoked(Unit("unit-0003", dir_.File("revoked-bundle")), dir_.File("unit-0003.log"));

  // TLS 1.2, even with the good unit's certificate: no handshake.
  const std::string b = dir_.File("good-bundle");
  const int tls12 = Shell("echo | timeout 10 openssl s_client -tls1_2 -connect 127.0.0.1:" +
                          std::to_string(port_) + " -cert " + b + "/cert.pem -key " + b +
                          "/key.pem -CAfile " + b + "/ca.pem >" + dir_.File("tls12.out") + " 2>&1");
  EXPECT_NE(tls12, 0) << ReadFile(dir_.File("tls12.out"));

  ASSERT_TRUE(Eventually([&] { return AtCentral("unit-0001"); }))
      << ReadFile(dir_.File("central.log"));
  // Give the refused ones several reconnect attempts, then check nothing came through.
  // Both refused units keep retrying; wait for several refusals of each kind of attempt.
  ASSERT_TRUE(Eventually([&] {
    return Count(ReadFile(dir_.File("central.log")), "event=tls_refused") >= 5;
  })) << ReadFile(dir_.File("central.log"));
  EXPECT_FALSE(AtCentral("unit-0002"));
  EXPECT_FALSE(AtCentral("unit-0003"));
  const std::string log = ReadFile(dir_.File("central.log"));
  EXPECT_NE(log.find("event=tls_refused"), std::string::npos) << log;
  EXPECT_EQ(good.Stop(), 0);
  EXPECT_EQ(foreign.Stop(), 0);
  EXPECT_EQ(revoked.Stop(), 0);
  EXPECT_EQ(central_->Stop(), 0) << "central survived every refusal";
}

TEST_F(Refusals, GarbageOversizedFramesAndStalledPeersAreDroppedNotFatal) {
  ASSERT_TRUE(pki::EnrollUnit(ca_, "unit-0001", dir_.File("good-bundle")));
  // Two hostile but enrolled peers, each with its own identity (a second connection of
  // the same unit would replace the first).
  ASSERT_TRUE(pki::EnrollUnit(ca_, "unit-0002", dir_.File("oversize-bundle")));
  ASSERT_TRUE(pki::EnrollUnit(ca_, "unit-0003", dir_.File("stall-bundle")));
  StartCentral();
  const std::string port = std::to_string(port_);
  auto s_client = [&](const std::string& bundle) {
    const std::string b = dir_.File(bundle);
    return "timeout 20 openssl s_client -quiet -connect 127.0.0.1:" + port + " -cert " + b +
           "/cert.pem -key " + b + "/key.pem -CAfile " + b + "/ca.pem";
  };
  // Plain garbage instead of a TLS handshake.
  Shell("bash -c 'exec 3<>/dev/tcp/127.0.0.1/" + port +
        "; head -c 4096 /dev/urandom >&3; sleep 1' >/dev/null 2>&1");
  // An authenticated peer announcing a 4 GiB frame, and one stalling in a half frame.
  Shell("printf '\\377\\377\\377\\377' | " + s_client("oversize-bundle") + " >/dev/null 2>&1 &");
  Shell("(printf '\\000\\000'; sleep 15) | " + s_client("stall-bundle") + " >/dev/null 2>&1 &");

  Daemon good(Unit("unit-0001", dir_.File("good-bundle")), dir_.File("unit-0001.log"));
  ASSERT_TRUE(Eventually([&] { return AtCentral("unit-0001"); }))
      << ReadFile(dir_.File("central.log"));
  ASSERT_TRUE(Eventually(
      [&] {
        const std::string log = ReadFile(dir_.File("central.log"));
        return log.find("event=malformed_from_unit") != std::string::npos &&  // 4 GiB prefix
               log.find("no HELLO in time") != std::string::npos;  // the stalled half frame
      },
      std::chrono::seconds(60)))
      << ReadFile(dir_.File("central.log"));
  EXPECT_EQ(good.Stop(), 0);
  EXPECT_EQ(central_->Stop(), 0);
}

TEST_F(Refusals, ClientThatCompletesTlsButSendsNoHelloIsDroppedByTheDeadline) {
  ASSERT_TRUE(pki::EnrollUnit(ca_, "unit-0001", dir_.File("good-bundle")));
  ASSERT_TRUE(pki::EnrollUnit(ca_, "unit-0005", dir_.File("mute-bundle")));
  StartCentral("", 1000);
  TlsTestClient mute;
  ASSERT_TRUE(mute.Connect(port_, dir_.File("mute-bundle"))) << mute.error();
  Daemon good(Unit("unit-0001", dir_.File("good-bundle")), dir_.File("unit-0001.log"));
  // handshake_timeout_ms is 1 s; the bound is generous for a loaded machine.
  const auto end = mute.WaitForEnd(std::chrono::milliseconds(20'000));
  EXPECT_EQ(end, TlsTestClient::End::kCloseNotify);
  EXPECT_FALSE(mute.received().empty()) << "an ERROR frame says why before the close";
  EXPECT_TRUE(CentralLogHas("unit=unit-0005 code=")) << ReadFile(dir_.File("central.log"));
  EXPECT_TRUE(CentralLogHas("no HELLO in time"));
  ASSERT_TRUE(Eventually([&] { return AtCentral("unit-0001"); }));
  EXPECT_EQ(good.Stop(), 0);
  EXPECT_EQ(central_->Stop(), 0);
}

// A graceful end sends TLS close_notify: here a session replaced by a newer connection of
// the same unit, and central's SIGTERM. (Aborts — refusals, evictions — stay immediate.)
TEST_F(Refusals, GracefulClosesSendCloseNotify) {
  ASSERT_TRUE(pki::EnrollUnit(ca_, "unit-0006", dir_.File("b6")));
  StartCentral("", 20'000);  // no HELLO deadline in the way
  TlsTestClient first;
  ASSERT_TRUE(first.Connect(port_, dir_.File("b6"))) << first.error();
  ASSERT_TRUE(Eventually([&] { return CentralLogHas("unit_admitted unit=unit-0006"); }));
  TlsTestClient second;
  ASSERT_TRUE(second.Connect(port_, dir_.File("b6"))) << second.error();
  const auto replaced = first.WaitForEnd(std::chrono::milliseconds(10'000));
  EXPECT_EQ(replaced, TlsTestClient::End::kCloseNotify);
  EXPECT_TRUE(CentralLogHas("event=session_replaced unit=unit-0006"));

  central_->Signal(SIGTERM);
  const auto stopped = second.WaitForEnd(std::chrono::milliseconds(10'000));
  EXPECT_EQ(stopped, TlsTestClient::End::kCloseNotify);
  EXPECT_FALSE(second.received().empty()) << "ERROR shutting_down came first";
  EXPECT_EQ(central_->Stop(), 0);
}

}  // namespace
}  // namespace unitsync::testing
