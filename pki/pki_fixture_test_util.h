// The fixture and certificate-inspection helpers shared by the pki/ tests of the CA
// life cycle (pki_test.cc, revoke_test.cc).
#pragma once

#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <ctime>
#include <set>
#include <string>
#include <vector>

#include "pki/ca.h"
#include "pki/cert_info.h"
#include "pki/test_util.h"

namespace unitsync::pki::testing {

inline constexpr long kDay = 24 * 60 * 60;

class PkiFixture : public ::testing::Test {
 protected:
  PkiFixture() : umask_(022) {}

  std::string Ca() const { return dir_.File("ca"); }
  std::string Out(const std::string& name) const { return dir_.File(name); }

  CaSummary InitTestCa(const std::string& dir) { return Must(InitCa(dir, "Test Kommun"), "init"); }
  IssuedBundle Enroll(const std::string& unit) {
    return Must(EnrollUnit(Ca(), unit, Out(unit)), "enroll");
  }

  ScopedUmask umask_;
  TempDir dir_;
};

// Days between two times, rounded to the nearest day.
inline long Days(std::time_t from, std::time_t to) { return (to - from + kDay / 2) / kDay; }

inline std::set<std::string> ExtendedKeyUsages(const X509* cert) {
  std::set<std::string> out;
  ExtKeyUsagePtr eku(static_cast<EXTENDED_KEY_USAGE*>(
      X509_get_ext_d2i(cert, NID_ext_key_usage, nullptr, nullptr)));
  for (int i = 0; eku && i < sk_ASN1_OBJECT_num(eku.get()); ++i) {
    out.insert(OBJ_nid2sn(OBJ_obj2nid(sk_ASN1_OBJECT_value(eku.get(), i))));
  }
  return out;
}

inline std::vector<std::string> AltNames(const X509* cert) {
  std::vector<std::string> out;
  GeneralNamesPtr names(
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr)));
  for (int i = 0; names && i < sk_GENERAL_NAME_num(names.get()); ++i) {
    const GENERAL_NAME* n = sk_GENERAL_NAME_value(names.get(), i);
    if (n->type == GEN_URI || n->type == GEN_DNS) {
      const ASN1_STRING* s = n->type == GEN_URI ? n->d.uniformResourceIdentifier : n->d.dNSName;
      out.push_back(std::string(n->type == GEN_URI ? "URI:" : "DNS:") +
                    std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                                static_cast<size_t>(ASN1_STRING_length(s))));
    } else if (n->type == GEN_IPADD) {
      out.push_back("IP:" + std::to_string(ASN1_STRING_length(n->d.iPAddress)) + "bytes");
    }
  }
  return out;
}

inline std::string CommonName(const X509* cert) {
  char buf[256] = {};
  X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, buf, sizeof buf);
  return buf;
}

// Serials that a CRL file lists.
inline std::set<std::string> CrlSerials(const std::string& path) {
  std::set<std::string> out;
  BioPtr bio(BIO_new_file(path.c_str(), "r"));
  X509CrlPtr crl(bio ? PEM_read_bio_X509_CRL(bio.get(), nullptr, nullptr, nullptr) : nullptr);
  if (!crl) return {"<unreadable CRL>"};
  const STACK_OF(X509_REVOKED)* revoked = X509_CRL_get_REVOKED(crl.get());
  for (int i = 0; i < sk_X509_REVOKED_num(revoked); ++i) {
    out.insert(Must(SerialHex(X509_REVOKED_get0_serialNumber(sk_X509_REVOKED_value(revoked, i)))));
  }
  return out;
}

}  // namespace unitsync::pki::testing
