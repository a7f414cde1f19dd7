// UnitIdFromCertificate on certificates that unitsync would never issue: the TLS
// code relies on it to refuse them.
#include "pki/identity.h"

#include "pki/cert_builder.h"
#include "pki/keys.h"
#include "pki/test_util.h"

namespace unitsync::pki {
namespace {

using testing::Must;

// A self-signed certificate with the given subject CNs and subjectAltNames.
X509Ptr MakeCert(const std::vector<std::string>& cns, const std::vector<std::string>& alt_names) {
  PkeyPtr key = Must(GenerateP256Key());
  CertRequest request;
  request.profile = CertProfile::kUnit;
  request.common_name = "placeholder";
  request.days = 1;
  request.alt_names = alt_names;
  X509Ptr cert = Must(IssueCertificate(request, key.get(), nullptr, key.get()));
  X509NamePtr name(X509_NAME_new());
  for (const std::string& cn : cns) {
    // A plain string type, not MBSTRING_*: skips OpenSSL's 64-character CN limit, so
    // over-long names can be made.
    X509_NAME_add_entry_by_NID(name.get(), NID_commonName, V_ASN1_UTF8STRING,
                               reinterpret_cast<const unsigned char*>(cn.data()),
                               static_cast<int>(cn.size()), -1, 0);
  }
  if (cns.empty()) {
    X509_NAME_add_entry_by_NID(name.get(), NID_organizationName, MBSTRING_UTF8,
                               reinterpret_cast<const unsigned char*>("unitsync"), -1, -1, 0);
  }
  X509_set_subject_name(cert.get(), name.get());
  return cert;
}

Errc RejectionOf(const X509* cert) {
  auto r = UnitIdFromCertificate(cert);
  return r ? static_cast<Errc>(-1) : r.error().code;
}

TEST(pki_identity, TheIdComesFromTheCommonNameCheckedAgainstTheUnitUri) {
  EXPECT_EQ(Must(UnitIdFromCertificate(MakeCert({"unit-1"}, {"URI:unitsync:unit:unit-1"}).get())),
            "unit-1");
  EXPECT_EQ(Must(UnitIdFromCertificate(MakeCert({"unit-1"}, {}).get())), "unit-1");
  // Other URIs and DNS names are not unit claims.
  EXPECT_EQ(
      Must(UnitIdFromCertificate(
          MakeCert({"central"}, {"DNS:central.example.org", "URI:https://example.org/"}).get())),
      "central");
  EXPECT_EQ(RejectionOf(MakeCert({"unit-1"}, {"URI:unitsync:unit:unit-2"}).get()), Errc::kRejected);
  EXPECT_EQ(
      RejectionOf(
          MakeCert({"unit-1"}, {"URI:unitsync:unit:unit-1", "URI:unitsync:unit:unit-2"}).get()),
      Errc::kRejected);
  EXPECT_EQ(RejectionOf(MakeCert({}, {"URI:unitsync:unit:unit-1"}).get()), Errc::kRejected);
  EXPECT_EQ(RejectionOf(MakeCert({"unit-1", "unit-2"}, {}).get()), Errc::kRejected);
  EXPECT_EQ(RejectionOf(MakeCert({"unit 1"}, {}).get()), Errc::kRejected);
  EXPECT_EQ(RejectionOf(MakeCert({std::string("unit\0x", 6)}, {}).get()), Errc::kRejected);
  EXPECT_EQ(RejectionOf(MakeCert({std::string(65, 'u')}, {}).get()), Errc::kRejected);
  EXPECT_EQ(UnitIdFromCertificate(nullptr).error().code, Errc::kInvalidArgument);
}

TEST(pki_identity, NodeIdsUseTheWireAlphabet) {
  for (const char* ok : {"unit-0001", "u", "Skola:Norr.1_a", "0"}) {
    EXPECT_TRUE(IsValidNodeId(ok)) << ok;
  }
  EXPECT_TRUE(IsValidNodeId(std::string(64, 'a')));
  for (const std::string& bad :
       std::vector<std::string>{"", "unit 1", "unit/1", "ü", "a,b", "a\nb", std::string(65, 'a')}) {
    EXPECT_FALSE(IsValidNodeId(bad)) << bad;
  }
}

}  // namespace
}  // namespace unitsync::pki
