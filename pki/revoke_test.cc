// The CA life cycle on real files, part 2: central's server certificate and
// revocation (the CRL as OpenSSL's verifier and central's AuthenticateUnit see it).
#include <fcntl.h>
#include <unistd.h>

#include "pki/pki_fixture_test_util.h"
#include "pki/registry.h"

namespace unitsync::pki {
namespace {

using testing::AltNames;
using testing::Cert;
using testing::CommonName;
using testing::CrlSerials;
using testing::Days;
using testing::ExtendedKeyUsages;
using testing::ModeOf;
using testing::Must;
using testing::PkiFixture;
using testing::ReadFile;
using testing::ScopedUmask;
using testing::Verify;

using pki_server = PkiFixture;
using pki_revoke = PkiFixture;

TEST_F(pki_server, ServerCertificateNamesTheNodeAndEveryHost) {
  InitTestCa(Ca());
  const IssuedBundle b = Must(IssueServer(
      Ca(), "central", {"Central.Example.org", "10.0.0.5", "::1", "central.example.org"},
      Out("central"), 400));
  EXPECT_EQ(b.hosts, (std::vector<std::string>{"central.example.org", "10.0.0.5", "::1"}));
  X509Ptr cert = Cert(b.dir + "/cert.pem");
  EXPECT_EQ(CommonName(cert.get()), "central");
  EXPECT_EQ(AltNames(cert.get()),
            (std::vector<std::string>{"DNS:central.example.org", "IP:4bytes", "IP:16bytes"}));
  EXPECT_EQ(X509_check_host(cert.get(), "central.example.org", 0, 0, nullptr), 1);
  EXPECT_EQ(X509_check_ip_asc(cert.get(), "10.0.0.5", 0), 1);
  EXPECT_EQ(X509_check_ip_asc(cert.get(), "::1", 0), 1);
  EXPECT_EQ(X509_check_host(cert.get(), "other.example.org", 0, 0, nullptr), 0);
  EXPECT_EQ(ExtendedKeyUsages(cert.get()), std::set<std::string>{"serverAuth"});
  EXPECT_EQ(Days(std::time(nullptr), Must(NotAfter(cert.get()))), 400);
  EXPECT_EQ(
      Verify(Ca() + "/ca.pem", b.dir + "/cert.pem", Ca() + "/crl.pem", X509_PURPOSE_SSL_SERVER),
      X509_V_OK);
  EXPECT_EQ(ModeOf(b.dir + "/key.pem"), 0600);
  EXPECT_EQ(ModeOf(b.dir + "/secret"), 0600);  // seals central's backups
  EXPECT_TRUE(b.registration_path.empty());
  EXPECT_TRUE(Must(ListEnrolled(Ca())).empty());  // Central is not a unit.
}

TEST_F(pki_server, BadHostsAreRefused) {
  InitTestCa(Ca());
  for (const std::vector<std::string>& hosts :
       std::vector<std::vector<std::string>>{{},
                                             {"bad_host"},
                                             {"-lead.example"},
                                             {"a..b"},
                                             {"x,DNS:evil.example"},
                                             {"trail.example."},
                                             {"1.2.3.4/24"},
                                             {std::string(64, 'a') + ".example"}}) {
    auto r = IssueServer(Ca(), "central", hosts, Out("central"));
    ASSERT_FALSE(r) << (hosts.empty() ? "<none>" : hosts[0]);
    EXPECT_EQ(r.error().code, Errc::kInvalidArgument);
  }
  EXPECT_EQ(ModeOf(Out("central")), -1);
}

TEST_F(pki_revoke, ARevokedCertificateFailsCrlCheckedVerificationAndAuthentication) {
  InitTestCa(Ca());
  const IssuedBundle a = Enroll("unit-a");
  const IssuedBundle b = Enroll("unit-b");
  const std::string ca = Ca() + "/ca.pem", crl = Ca() + "/crl.pem";
  ASSERT_EQ(Verify(ca, a.dir + "/cert.pem", crl), X509_V_OK);

  const Revocation r = Must(Revoke(Ca(), "unit-a"));
  EXPECT_EQ(r.serial_hex, a.serial_hex);
  EXPECT_EQ(r.crl_number, 2);
  EXPECT_EQ(r.crl_entries, 1u);
  EXPECT_EQ(CrlSerials(crl), std::set<std::string>{a.serial_hex});
  EXPECT_EQ(ModeOf(crl), 0644);
  EXPECT_EQ(Verify(ca, a.dir + "/cert.pem", crl), X509_V_ERR_CERT_REVOKED);
  EXPECT_EQ(Verify(ca, b.dir + "/cert.pem", crl), X509_V_OK);
  // Without the CRL the chain alone still verifies: the CRL is what revokes.
  EXPECT_EQ(Verify(ca, a.dir + "/cert.pem"), X509_V_OK);

  const Registry registry = Must(LoadRegistrations(Ca()));
  ASSERT_NE(registry.Find("unit-a"), nullptr);
  EXPECT_TRUE(registry.Find("unit-a")->unit.revoked);
  EXPECT_EQ(registry.Find("unit-a")->unit.revoked_at, r.revoked_at);
  EXPECT_FALSE(registry.Find("unit-b")->unit.revoked);
  EXPECT_EQ(ModeOf(a.registration_path), 0600);
  auto auth = AuthenticateUnit(registry, Cert(a.dir + "/cert.pem").get());
  ASSERT_FALSE(auth);
  EXPECT_EQ(auth.error().code, Errc::kRejected);
  EXPECT_EQ(Must(AuthenticateUnit(registry, Cert(b.dir + "/cert.pem").get())), "unit-b");

  // The next revocation keeps the earlier serial on the list.
  EXPECT_EQ(Must(Revoke(Ca(), "unit-b")).crl_number, 3);
  EXPECT_EQ(CrlSerials(crl), (std::set<std::string>{a.serial_hex, b.serial_hex}));
  EXPECT_EQ(Verify(ca, a.dir + "/cert.pem", crl), X509_V_ERR_CERT_REVOKED);
  // A revoked unit id is not issued again.
  EXPECT_EQ(EnrollUnit(Ca(), "unit-a", Out("again")).error().code, Errc::kAlreadyExists);
}

TEST_F(pki_revoke, UnknownAndAlreadyRevokedUnitsAreRefused) {
  InitTestCa(Ca());
  Enroll("unit-a");
  auto unknown = Revoke(Ca(), "unit-zz");
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().code, Errc::kNotFound);
  EXPECT_NE(unknown.error().hint.find("pki list"), std::string::npos);
  Must(Revoke(Ca(), "unit-a"));
  const std::string crl = ReadFile(Ca() + "/crl.pem");
  auto twice = Revoke(Ca(), "unit-a");
  ASSERT_FALSE(twice);
  EXPECT_EQ(twice.error().code, Errc::kRejected);
  EXPECT_EQ(ReadFile(Ca() + "/crl.pem"), crl);
  EXPECT_EQ(Revoke(Ca(), "bad id").error().code, Errc::kInvalidArgument);
}

TEST_F(pki_revoke, ARevocationInterruptedAfterTheCrlIsCompletedByRunningItAgain) {
  InitTestCa(Ca());
  const IssuedBundle a = Enroll("unit-a");
  const std::string before = ReadFile(a.registration_path);
  const Revocation first = Must(Revoke(Ca(), "unit-a"));
  // Crash after the CRL was replaced, before the registration was: put the old
  // registration back.
  ASSERT_EQ(::unlink(a.registration_path.c_str()), 0);
  {
    const int fd = ::open(a.registration_path.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0600);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::write(fd, before.data(), before.size()), static_cast<ssize_t>(before.size()));
    ::close(fd);
  }
  EXPECT_FALSE(Must(LoadRegistrations(Ca())).Find("unit-a")->unit.revoked);
  const Revocation second = Must(Revoke(Ca(), "unit-a"));
  EXPECT_EQ(second.revoked_at, first.revoked_at);  // The CRL's date is kept.
  EXPECT_EQ(second.crl_entries, 1u);
  EXPECT_TRUE(Must(LoadRegistrations(Ca())).Find("unit-a")->unit.revoked);
  EXPECT_EQ(CrlSerials(Ca() + "/crl.pem"), std::set<std::string>{a.serial_hex});
}

}  // namespace
}  // namespace unitsync::pki
