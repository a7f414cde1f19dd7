// Central refuses what it must refuse, and carries on serving the others: a unit with a
// certificate from another CA, a revoked unit, an expired certificate, a TLS 1.2 client,
// a peer sending garbage, an oversized length prefix or a stalled half-frame, a client
// that completes TLS and says nothing, and a crowd of connections that never finish
// their handshake (slowloris). Real processes, real certificates.
#include <gtest/gtest.h>
#include <openssl/x509.h>

#include <atomic>
#include <cstdio>
#include <thread>
#include <vector>

#include "pki/ca.h"
#include "pki/ca_dir.h"
#include "pki/cert_builder.h"
#include "pki/cert_info.h"
#include "pki/keys.h"
#include "pki/registration.h"
#include "store/test_util.h"
#include "tests/daemon_util.h"
#include "tests/tls_test_client.h"

namespace unitsync::testing {
namespace {

using store::testing::Exec;
using store::testing::Query;
using store::testing::TempDir;
using store::testing::ValueOrDie;

// Re-issues enrolled unit `unit`'s certificate in `bundle` for the same key, valid from 30
// days ago until yesterday, signed by the deployment CA, and points its registration at
// it: everything about the unit is in order but the dates. Test-only on purpose: the
// production issuer cannot back-date a certificate's end, so this re-signs its output.
void ExpireCertificate(const std::string& ca_dir, const std::string& unit,
                       const std::string& bundle) {
  auto ca = ValueOrDie(pki::OpenCa(ca_dir), "open CA");
  auto key = ValueOrDie(pki::LoadPrivateKey(bundle + "/key.pem"), "unit key");
  pki::CertRequest req;
  req.profile = pki::CertProfile::kUnit;
  req.common_name = unit;
  req.days = 1;
  req.alt_names = {"URI:unitsync:unit:" + unit};
  auto cert = ValueOrDie(pki::IssueCertificate(req, key.get(), ca.cert.get(), ca.key.get()));
  const long day = 24 * 60 * 60;
  ASSERT_NE(X509_gmtime_adj(X509_getm_notBefore(cert.get()), -30 * day), nullptr);
  ASSERT_NE(X509_gmtime_adj(X509_getm_notAfter(cert.get()), -day), nullptr);
  ASSERT_GT(X509_sign(cert.get(), ca.key.get(), EVP_sha256()), 0);
  WriteFile(bundle + "/cert.pem", ValueOrDie(pki::CertificatePem(cert.get())));

  const std::string reg_path = pki::RegistrationPath(ca_dir, unit);
  auto reg = ValueOrDie(pki::ReadRegistration(reg_path, unit), "registration");
  reg.unit.serial_hex = ValueOrDie(pki::CertSerialHex(cert.get()));
  reg.unit.fingerprint_sha256 = ValueOrDie(pki::FingerprintSha256(cert.get()));
  reg.unit.not_after = ValueOrDie(pki::NotAfter(cert.get()));
  WriteFile(reg_path, std::string(pki::FormatRegistration(reg).str()));  // stays 0600
}

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

TEST_F(Refusals, ExpiredCertificateIsRefusedAtTheHandshakeAndLogged) {
  ASSERT_TRUE(pki::EnrollUnit(ca_, "unit-0001", dir_.File("good-bundle")));
  ASSERT_TRUE(pki::EnrollUnit(ca_, "unit-0004", dir_.File("expired-bundle")));
  ExpireCertificate(ca_, "unit-0004", dir_.File("expired-bundle"));
  ASSERT_FALSE(HasFatalFailure());
  StartCentral();
  Daemon good(Unit("unit-0001", dir_.File("good-bundle")), dir_.File("unit-0001.log"));
  Daemon expired(Unit("unit-0004", dir_.File("expired-bundle")), dir_.File("unit-0004.log"));

  ASSERT_TRUE(Eventually([&] { return AtCentral("unit-0001"); }))
      << ReadFile(dir_.File("central.log"));
  // Refused by TLS itself (the registration would have admitted it), with the reason and
  // the id the certificate claims, on every retry.
  ASSERT_TRUE(Eventually([&] {
    return CentralLogCount("verify=\"certificate has expired\" claimed_unit=unit-0004") >= 3;
  })) << ReadFile(dir_.File("central.log"));
  EXPECT_FALSE(CentralLogHas("unit_admitted unit=unit-0004"));
  EXPECT_FALSE(AtCentral("unit-0004"));
  // The good unit is unaffected: a new write still arrives.
  {
    auto r = ValueOrDie(store::Replica::Open(dir_.File("unit-0001.db")));
    Exec(r, "INSERT INTO student(id, unit_id, pseudo_id) VALUES ('s-later', 'unit-0001', 'p')");
  }
  ASSERT_TRUE(Eventually([&] {
    auto c = ValueOrDie(store::Replica::Open(dir_.File("central.db")));
    return Query(c, "SELECT count(*) FROM student WHERE id = 's-later'") == "1";
  }));
  EXPECT_EQ(good.Stop(), 0);
  EXPECT_EQ(expired.Stop(), 0) << "the expired unit keeps retrying, it does not crash";
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

// Slowloris: a crowd of TCP connections from another host that never complete a TLS
// handshake — silent, or dribbling a ClientHello a byte at a time, and reconnecting as
// soon as central drops them — must neither keep real units out nor count as sessions;
// every one is closed by the handshake deadline; and listen.max_sessions still bounds
// the authenticated sessions. (Before the fix, half-open handshakes counted against
// max_sessions: two stalled connections locked every unit out.)
TEST_F(Refusals, SlowlorisCrowdDoesNotStarveUnitsAndMaxSessionsStillHolds) {
  for (const char* u : {"unit-0001", "unit-0002", "unit-0003"}) {
    ASSERT_TRUE(pki::EnrollUnit(ca_, u, dir_.File(std::string(u) + "-bundle")));
  }
  constexpr int kHandshakeMs = 1000;
  StartCentral("max_sessions = 2\nmax_handshakes = 16\nmax_handshakes_per_address = 4\n",
               kHandshakeMs);

  // The start of a TLS ClientHello record; a dribbler sends it a byte per round.
  static const unsigned char kHello[] = {0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01,
                                         0xfc, 0x03, 0x03, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a};
  constexpr int kCrowd = 100;
  constexpr const char* kAttacker = "127.0.0.2";  // the units connect from 127.0.0.1
  std::vector<int> fds(kCrowd, -1);
  std::vector<size_t> sent(kCrowd, 0);
  std::atomic<bool> attacking{true};
  std::atomic<int> connects{0};
  std::thread attacker([&] {
    auto dribble_at = std::chrono::steady_clock::now();
    while (attacking) {
      for (int i = 0; i < kCrowd; ++i) {
        if (fds[i] >= 0 && PeerClosed(fds[i], std::chrono::milliseconds(0))) {
          ::close(fds[i]);
          fds[i] = -1;
        }
        if (fds[i] < 0) {  // straight back in
          fds[i] = ConnectLoopback(port_, kAttacker);
          sent[i] = 0;
          if (fds[i] >= 0) ++connects;
        }
      }
      if (std::chrono::steady_clock::now() >= dribble_at) {
        dribble_at += std::chrono::milliseconds(100);
        for (int i = 0; i < kCrowd; i += 2) {  // the odd ones stay silent
          if (fds[i] >= 0 && sent[i] < sizeof kHello) {
            (void)::send(fds[i], &kHello[sent[i]++], 1, MSG_NOSIGNAL);
          }
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));  // the attacker's pace
    }
  });
  ASSERT_TRUE(Eventually([&] { return connects >= 2 * kCrowd; }));

  // Two units get in and sync while the crowd keeps at it.
  Daemon u1(Unit("unit-0001", dir_.File("unit-0001-bundle")), dir_.File("unit-0001.log"));
  Daemon u2(Unit("unit-0002", dir_.File("unit-0002-bundle")), dir_.File("unit-0002.log"));
  const bool synced = Eventually([&] { return AtCentral("unit-0001") && AtCentral("unit-0002"); });
  EXPECT_TRUE(synced) << ReadFile(dir_.File("central.log"));
  EXPECT_TRUE(CentralLogHas("event=handshake_refused peer=127.0.0.2:"))
      << "the crowd hit its per-address share";

  // A third unit is over max_sessions = 2: refused, while the crowd does not count.
  Daemon u3(Unit("unit-0003", dir_.File("unit-0003-bundle")), dir_.File("unit-0003.log"));
  EXPECT_TRUE(Eventually([&] { return CentralLogHas("event=session_refused unit=unit-0003"); }))
      << ReadFile(dir_.File("central.log"));
  EXPECT_FALSE(AtCentral("unit-0003"));
  // A free session lets it in.
  EXPECT_EQ(u1.Stop(), 0);
  EXPECT_TRUE(Eventually([&] { return AtCentral("unit-0003"); }))
      << ReadFile(dir_.File("central.log"));

  // The crowd stops reconnecting; whatever it still holds is closed by the handshake
  // deadline, never kept.
  attacking = false;
  attacker.join();
  int open = 0;
  for (int fd : fds) {
    if (fd < 0) continue;
    ++open;
    EXPECT_TRUE(PeerClosed(fd, std::chrono::milliseconds(kHandshakeMs + 10'000)))
        << "a half-open connection outlived the handshake deadline";
    ::close(fd);
  }
  EXPECT_GT(open, 0);
  EXPECT_EQ(u2.Stop(), 0);
  EXPECT_EQ(u3.Stop(), 0);
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
