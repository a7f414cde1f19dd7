// The CA life cycle on real files, part 1: init-ca and enroll. Checks what an
// operator and central's TLS rely on: modes, certificate profiles, verification by
// OpenSSL's own verifier (with the CRL), refusals. Server and revoke: revoke_test.cc.
#include "pki/files.h"
#include "pki/identity.h"
#include "pki/pki_fixture_test_util.h"
#include "pki/registry.h"
#include "protocol/envelope.h"

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

static_assert(kSealingSecretSize == protocol::kUnitSecretSize,
              "the enrollment secret is the protocol's unit secret");

using pki_ca = PkiFixture;
using pki_enroll = PkiFixture;

TEST_F(pki_ca, InitCaMakesACaCertificateKeyAndEmptyCrlWithStrictModes) {
  const CaSummary ca = InitTestCa(Ca());
  EXPECT_EQ(ModeOf(Ca()), 0700);
  EXPECT_EQ(ModeOf(Ca() + "/ca.key"), 0600);
  EXPECT_EQ(ModeOf(Ca() + "/ca.pem"), 0644);
  EXPECT_EQ(ModeOf(Ca() + "/crl.pem"), 0644);
  EXPECT_EQ(ModeOf(Ca() + "/units"), 0700);
  EXPECT_EQ(ca.cert_path, Ca() + "/ca.pem");

  X509Ptr cert = Cert(ca.cert_path);
  EXPECT_EQ(CommonName(cert.get()), "unitsync deployment CA Test Kommun");
  EXPECT_EQ(X509_check_ca(cert.get()), 1);
  int critical = 0;
  BasicConstraintsPtr bc(static_cast<BASIC_CONSTRAINTS*>(
      X509_get_ext_d2i(cert.get(), NID_basic_constraints, &critical, nullptr)));
  ASSERT_TRUE(bc);
  EXPECT_TRUE(bc->ca);
  EXPECT_EQ(critical, 1);
  EXPECT_EQ(X509_get_key_usage(cert.get()), static_cast<uint32_t>(KU_KEY_CERT_SIGN | KU_CRL_SIGN));
  EXPECT_EQ(X509_get_extension_flags(cert.get()) & EXFLAG_SS, static_cast<uint32_t>(EXFLAG_SS));
  // 128-bit random serials: 32 hex digits (the top bit is cleared, the next one set).
  EXPECT_EQ(ca.serial_hex.size(), 32u) << ca.serial_hex;
  EXPECT_EQ(Days(std::time(nullptr), Must(NotAfter(cert.get()))), kDefaultCaDays);
  EXPECT_EQ(ca.fingerprint_sha256, Must(FingerprintSha256(cert.get())));
  EXPECT_TRUE(CrlSerials(ca.crl_path).empty());
  // The CA key is an ECDSA P-256 key that signs what ca.pem says.
  PkeyPtr key = Must(LoadPrivateKey(ca.key_path));
  EXPECT_EQ(EVP_PKEY_get_base_id(key.get()), EVP_PKEY_EC);
  EXPECT_EQ(EVP_PKEY_get_bits(key.get()), 256);
  EXPECT_EQ(X509_check_private_key(cert.get(), key.get()), 1);
}

TEST_F(pki_ca, InitCaNeverReplacesAnExistingCa) {
  InitTestCa(Ca());
  const std::string key = ReadFile(Ca() + "/ca.key");
  const std::string cert = ReadFile(Ca() + "/ca.pem");
  auto again = InitCa(Ca(), "Other");
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, Errc::kAlreadyExists);
  EXPECT_FALSE(again.error().hint.empty());
  EXPECT_EQ(ReadFile(Ca() + "/ca.key"), key);
  EXPECT_EQ(ReadFile(Ca() + "/ca.pem"), cert);
  // Nothing was removed by the failed attempt either.
  EXPECT_EQ(ModeOf(Ca() + "/units"), 0700);
}

TEST_F(pki_ca, InitCaUsesAnEmptyPrivateDirectoryButNotAnOpenOne) {
  ASSERT_EQ(::mkdir(Out("open").c_str(), 0755), 0);
  auto open = InitCa(Out("open"), "X");
  ASSERT_FALSE(open);
  EXPECT_EQ(open.error().code, Errc::kRejected);
  EXPECT_NE(open.error().hint.find("chmod 700"), std::string::npos) << open.error().hint;
  EXPECT_FALSE(testing::ModeOf(Out("open") + "/ca.key") >= 0);

  ASSERT_EQ(::mkdir(Out("private").c_str(), 0700), 0);
  Must(InitCa(Out("private"), "X"));
  EXPECT_EQ(ModeOf(Out("private") + "/ca.key"), 0600);
}

TEST_F(pki_ca, ModesHoldWhateverTheUmask) {
  ScopedUmask permissive(0);
  InitTestCa(Ca());
  const IssuedBundle b = Enroll("unit-0001");
  EXPECT_EQ(ModeOf(Ca()), 0700);
  EXPECT_EQ(ModeOf(Ca() + "/ca.key"), 0600);
  EXPECT_EQ(ModeOf(Ca() + "/units"), 0700);
  EXPECT_EQ(ModeOf(b.registration_path), 0600);
  EXPECT_EQ(ModeOf(b.dir), 0700);
  EXPECT_EQ(ModeOf(b.dir + "/key.pem"), 0600);
  EXPECT_EQ(ModeOf(b.dir + "/secret"), 0600);
}

TEST_F(pki_ca, InvalidNamesAndDaysAreRefusedBeforeAnythingIsWritten) {
  for (const std::string& name :
       std::vector<std::string>{"", " lead", "trail ", "semi;colon", std::string(65, 'a')}) {
    auto r = InitCa(Ca(), name);
    ASSERT_FALSE(r) << name;
    EXPECT_EQ(r.error().code, Errc::kInvalidArgument);
  }
  for (const int days : {0, -1, kMaxDays + 1}) {
    auto r = InitCa(Ca(), "X", days);
    ASSERT_FALSE(r) << days;
    EXPECT_EQ(r.error().code, Errc::kInvalidArgument);
  }
  EXPECT_EQ(ModeOf(Ca()), -1);
}

TEST_F(pki_ca, AWorldReadableCaKeyStopsIssuing) {
  InitTestCa(Ca());
  ASSERT_EQ(::chmod((Ca() + "/ca.key").c_str(), 0644), 0);
  auto r = EnrollUnit(Ca(), "unit-0001", Out("b"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kRejected);
  EXPECT_NE(r.error().hint.find("chmod 600"), std::string::npos);
  EXPECT_EQ(ModeOf(Out("b")), -1);
}

TEST_F(pki_enroll, UnitCertificateNamesTheUnitForClientAuthOnly) {
  InitTestCa(Ca());
  const IssuedBundle b = Enroll("unit-0042");
  X509Ptr cert = Cert(b.dir + "/cert.pem");
  EXPECT_EQ(CommonName(cert.get()), "unit-0042");
  EXPECT_EQ(AltNames(cert.get()), std::vector<std::string>{"URI:unitsync:unit:unit-0042"});
  EXPECT_EQ(ExtendedKeyUsages(cert.get()), std::set<std::string>{"clientAuth"});
  EXPECT_EQ(X509_get_key_usage(cert.get()), static_cast<uint32_t>(KU_DIGITAL_SIGNATURE));
  EXPECT_EQ(X509_check_ca(cert.get()), 0);
  EXPECT_EQ(Days(std::time(nullptr), Must(NotAfter(cert.get()))), kDefaultLeafDays);
  EXPECT_EQ(Must(UnitIdFromCertificate(cert.get())), "unit-0042");
  EXPECT_EQ(b.serial_hex, Must(CertSerialHex(cert.get())));
  EXPECT_EQ(b.fingerprint_sha256, Must(FingerprintSha256(cert.get())));

  EXPECT_EQ(Verify(Ca() + "/ca.pem", b.dir + "/cert.pem"), X509_V_OK);
  EXPECT_EQ(Verify(Ca() + "/ca.pem", b.dir + "/cert.pem", Ca() + "/crl.pem"), X509_V_OK);
  // A unit certificate cannot serve as central's server certificate.
  EXPECT_EQ(Verify(Ca() + "/ca.pem", b.dir + "/cert.pem", "", X509_PURPOSE_SSL_SERVER),
            X509_V_ERR_INVALID_PURPOSE);
  // The bundle's ca.pem is the CA's.
  EXPECT_EQ(ReadFile(b.dir + "/ca.pem"), ReadFile(Ca() + "/ca.pem"));
}

TEST_F(pki_enroll, BundleAndRegistrationHoldTheSameSecretWithStrictModes) {
  InitTestCa(Ca());
  const IssuedBundle b = Enroll("unit-0001");
  EXPECT_EQ(ModeOf(b.dir), 0700);
  EXPECT_EQ(ModeOf(b.dir + "/key.pem"), 0600);
  EXPECT_EQ(ModeOf(b.dir + "/secret"), 0600);
  EXPECT_EQ(ModeOf(b.dir + "/cert.pem"), 0644);
  EXPECT_EQ(ModeOf(b.dir + "/bundle.toml"), 0644);
  EXPECT_EQ(b.registration_path, Ca() + "/units/unit-0001.toml");
  EXPECT_EQ(ModeOf(b.registration_path), 0600);
  const std::string secret = ReadFile(b.dir + "/secret");
  ASSERT_EQ(secret.size(), 32u);

  const Registry registry = Must(LoadRegistrations(Ca()));
  EXPECT_EQ(registry.ca_cert_path, Ca() + "/ca.pem");
  EXPECT_EQ(registry.crl_path, Ca() + "/crl.pem");
  ASSERT_EQ(registry.units.size(), 1u);
  const UnitRegistration& r = registry.units[0];
  EXPECT_EQ(r.unit.unit_id, "unit-0001");
  EXPECT_EQ(r.unit.serial_hex, b.serial_hex);
  EXPECT_EQ(r.unit.fingerprint_sha256, b.fingerprint_sha256);
  EXPECT_EQ(r.unit.not_after, b.not_after);
  EXPECT_FALSE(r.unit.revoked);
  EXPECT_LE(std::abs(r.unit.enrolled_at - std::time(nullptr)), 60);
  ASSERT_EQ(r.keys.size(), 1u);
  EXPECT_EQ(r.keys[0].key_id, 1u);
  EXPECT_EQ(r.keys[0].secret.view(), secret);
  EXPECT_NE(ReadFile(b.registration_path).find(r.keys[0].secret.ToHex()), std::string::npos);

  const PkeyPtr key = Must(LoadPrivateKey(b.dir + "/key.pem"));
  EXPECT_EQ(EVP_PKEY_get_base_id(key.get()), EVP_PKEY_EC);
  EXPECT_EQ(X509_check_private_key(Cert(b.dir + "/cert.pem").get(), key.get()), 1);
}

TEST_F(pki_enroll, EveryUnitGetsItsOwnSecretKeyAndSerial) {
  InitTestCa(Ca());
  std::set<std::string> secrets, keys, serials;
  for (const char* unit : {"unit-0001", "unit-0002", "unit-0003"}) {
    const IssuedBundle b = Enroll(unit);
    secrets.insert(ReadFile(b.dir + "/secret"));
    keys.insert(ReadFile(b.dir + "/key.pem"));
    serials.insert(b.serial_hex);
  }
  EXPECT_EQ(secrets.size(), 3u);
  EXPECT_EQ(keys.size(), 3u);
  EXPECT_EQ(serials.size(), 3u);
  const std::vector<EnrolledUnit> listed = Must(ListEnrolled(Ca()));
  ASSERT_EQ(listed.size(), 3u);
  EXPECT_EQ(listed[0].unit_id, "unit-0001");
  EXPECT_EQ(listed[2].unit_id, "unit-0003");
}

TEST_F(pki_enroll, AUnitIsEnrolledOnceAndNothingIsOverwritten) {
  InitTestCa(Ca());
  const IssuedBundle first = Enroll("unit-0001");
  const std::string registration = ReadFile(first.registration_path);

  auto again = EnrollUnit(Ca(), "unit-0001", Out("second"));
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, Errc::kAlreadyExists);
  EXPECT_FALSE(again.error().hint.empty());
  EXPECT_EQ(ReadFile(first.registration_path), registration);
  EXPECT_EQ(ModeOf(Out("second")), -1);

  // Into a directory that already holds something: refused, and the failed attempt
  // leaves neither a registration nor stray files behind.
  auto into_existing = EnrollUnit(Ca(), "unit-0002", first.dir);
  ASSERT_FALSE(into_existing);
  EXPECT_EQ(into_existing.error().code, Errc::kAlreadyExists);
  EXPECT_EQ(ModeOf(Ca() + "/units/unit-0002.toml"), -1);
  EXPECT_EQ(ReadFile(first.dir + "/secret").size(), 32u);
  EXPECT_EQ(Must(ListEnrolled(Ca())).size(), 1u);
}

TEST_F(pki_enroll, AFailedEnrollmentRemovesWhatItWrote) {
  InitTestCa(Ca());
  // units/ replaced by a plain file: the bundle is written, then the registration
  // (the last step) cannot be, even as root.
  ASSERT_EQ(::rename((Ca() + "/units").c_str(), (Ca() + "/units.bak").c_str()), 0);
  testing::WriteFile(Ca() + "/units", "not a directory\n");
  auto r = EnrollUnit(Ca(), "unit-0001", Out("b"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kIo) << r.error().ToString();
  EXPECT_EQ(ModeOf(Out("b")), -1) << "the bundle of a failed enrollment was left behind";

  // Into an existing empty directory: the files go, the directory stays.
  ASSERT_EQ(::mkdir(Out("c").c_str(), 0700), 0);
  EXPECT_FALSE(EnrollUnit(Ca(), "unit-0001", Out("c")));
  EXPECT_TRUE(Must(ListDir(Out("c"))).empty());
  EXPECT_EQ(ModeOf(Out("c")), 0700);
}

TEST_F(pki_enroll, BadIdsAndValidityAreRefused) {
  InitTestCa(Ca());
  for (const std::string& id :
       std::vector<std::string>{"", "unit 1", "unit/1", "../x", std::string(65, 'u'), "ü"}) {
    auto r = EnrollUnit(Ca(), id, Out("b"));
    ASSERT_FALSE(r) << id;
    EXPECT_EQ(r.error().code, Errc::kInvalidArgument) << id;
  }
  EXPECT_EQ(EnrollUnit(Ca(), "unit-1", Out("b"), 0).error().code, Errc::kInvalidArgument);
  // Longer than the CA lives: refused with the longest possible validity as the hint.
  auto too_long = EnrollUnit(Ca(), "unit-1", Out("b"), kDefaultCaDays + 1);
  ASSERT_FALSE(too_long);
  EXPECT_EQ(too_long.error().code, Errc::kInvalidArgument);
  EXPECT_NE(too_long.error().hint.find("--days 36"), std::string::npos) << too_long.error().hint;
  EXPECT_EQ(ModeOf(Out("b")), -1);
  // Not a CA directory.
  auto no_ca = EnrollUnit(Out("nowhere"), "unit-1", Out("b"));
  ASSERT_FALSE(no_ca);
  EXPECT_EQ(no_ca.error().code, Errc::kNotFound);
  EXPECT_NE(no_ca.error().hint.find("init-ca"), std::string::npos);
  // Wire-legal ids beyond the replica alphabet are accepted by the library.
  EXPECT_TRUE(EnrollUnit(Ca(), "Skola:Norr.1", Out("c")));
}

TEST_F(pki_enroll, ACertificateFromAnotherCaDoesNotVerifyOrAuthenticate) {
  InitTestCa(Ca());
  Must(InitCa(Out("other-ca"), "Other"));
  Enroll("unit-0001");
  const IssuedBundle foreign = Must(EnrollUnit(Out("other-ca"), "unit-0001", Out("foreign")));
  EXPECT_EQ(Verify(Ca() + "/ca.pem", foreign.dir + "/cert.pem"),
            X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
  EXPECT_EQ(Verify(Out("other-ca") + "/ca.pem", foreign.dir + "/cert.pem"), X509_V_OK);
  // Same unit id, not the enrolled certificate: central refuses it even if a chain
  // check were misconfigured.
  const Registry registry = Must(LoadRegistrations(Ca()));
  auto auth = AuthenticateUnit(registry, Cert(foreign.dir + "/cert.pem").get());
  ASSERT_FALSE(auth);
  EXPECT_EQ(auth.error().code, Errc::kRejected);
  EXPECT_EQ(Must(AuthenticateUnit(registry, Cert(Out("unit-0001") + "/cert.pem").get())),
            "unit-0001");
}

}  // namespace
}  // namespace unitsync::pki
