#include "pki/identity.h"

#include <openssl/asn1.h>
#include <openssl/x509v3.h>

#include "pki/handles.h"
#include "pki/openssl_error.h"

namespace unitsync::pki {
namespace {

tl::unexpected<Error> Reject(std::string message) {
  ClearOpenSslErrors();
  return Fail(Errc::kRejected, std::move(message),
              "the peer's certificate was not issued by 'unitsyncctl pki'; enroll it again");
}

// The bytes of an ASN1 string as text, refusing embedded NULs.
Result<std::string> Asn1Text(const ASN1_STRING* s) {
  unsigned char* utf8 = nullptr;
  const int len = ASN1_STRING_to_UTF8(&utf8, s);
  if (len < 0) return Reject("certificate name is not decodable text");
  OpenSslBytesPtr owned(utf8);
  std::string out(reinterpret_cast<const char*>(utf8), static_cast<size_t>(len));
  if (out.find('\0') != std::string::npos) return Reject("certificate name holds a NUL byte");
  return out;
}

}  // namespace

bool IsValidNodeId(std::string_view id) {
  if (id.empty() || id.size() > kMaxNodeIdSize) return false;
  for (const char c : id) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == ':' || c == '-';
    if (!ok) return false;
  }
  return true;
}

Result<std::string> UnitIdFromCertificate(const X509* cert) {
  if (cert == nullptr) return Fail(Errc::kInvalidArgument, "no certificate");
  const X509_NAME* subject = X509_get_subject_name(cert);
  if (subject == nullptr) return Reject("certificate has no subject");
  const int first = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
  if (first < 0) return Reject("certificate subject has no common name");
  if (X509_NAME_get_index_by_NID(subject, NID_commonName, first) >= 0) {
    return Reject("certificate subject has more than one common name");
  }
  auto cn = Asn1Text(X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, first)));
  if (!cn) return tl::unexpected(cn.error());
  if (!IsValidNodeId(*cn)) {
    return Reject("certificate common name is not a node id (1-64 of A-Z a-z 0-9 . _ : -)");
  }

  int critical = 0;
  GeneralNamesPtr names(static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(cert, NID_subject_alt_name, &critical, nullptr)));
  if (!names) {
    if (critical == -1) {  // No SAN at all: the CN alone names the node.
      ClearOpenSslErrors();
      return cn;
    }
    // -2: more than one SAN extension; otherwise it did not decode.
    return Reject("certificate's subjectAltName is duplicated or malformed");
  }
  for (int i = 0; i < sk_GENERAL_NAME_num(names.get()); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(names.get(), i);
    if (name->type != GEN_URI) continue;
    auto uri = Asn1Text(name->d.uniformResourceIdentifier);
    if (!uri) return tl::unexpected(uri.error());
    if (uri->rfind(kUnitUriPrefix, 0) != 0) continue;
    if (std::string_view(*uri).substr(kUnitUriPrefix.size()) != *cn) {
      return Reject("certificate names two different units (common name and subjectAltName)");
    }
  }
  return cn;
}

}  // namespace unitsync::pki
