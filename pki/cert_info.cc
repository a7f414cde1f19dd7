#include "pki/cert_info.h"

#include <cctype>

#include "pki/openssl_error.h"
#include "pki/text.h"

namespace unitsync::pki {

Result<std::string> SerialHex(const ASN1_INTEGER* serial) {
  BignumPtr bn(ASN1_INTEGER_to_BN(serial, nullptr));
  if (!bn) return FailOpenSsl(Errc::kInternal, "cannot read a serial");
  OpenSslStringPtr hex(BN_bn2hex(bn.get()));
  if (!hex) return FailOpenSsl(Errc::kInternal, "cannot format a serial");
  std::string out(hex.get());
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

Result<std::string> CertSerialHex(const X509* cert) {
  return SerialHex(X509_get0_serialNumber(cert));
}

Result<Asn1IntegerPtr> SerialFromHex(const std::string& hex) {
  if (!IsLowerHex(hex, 40)) {
    return Fail(Errc::kCorrupt, "a certificate serial is 1-40 lowercase hex digits");
  }
  BIGNUM* raw = nullptr;
  if (BN_hex2bn(&raw, hex.c_str()) == 0) return FailOpenSsl(Errc::kCorrupt, "bad serial");
  BignumPtr bn(raw);
  Asn1IntegerPtr serial(BN_to_ASN1_INTEGER(bn.get(), nullptr));
  if (!serial) return FailOpenSsl(Errc::kInternal, "cannot convert a serial");
  return serial;
}

Result<std::string> FingerprintSha256(const X509* cert) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (X509_digest(cert, EVP_sha256(), md, &len) != 1) {
    return FailOpenSsl(Errc::kInternal, "cannot hash a certificate");
  }
  return EncodeHex({md, len});
}

Result<std::time_t> Asn1TimeToUnix(const ASN1_TIME* t) {
  std::tm tm{};
  if (t == nullptr || ASN1_TIME_to_tm(t, &tm) != 1) {
    return FailOpenSsl(Errc::kCorrupt, "unreadable time in a certificate or CRL");
  }
  return timegm(&tm);
}

Result<std::time_t> NotAfter(const X509* cert) { return Asn1TimeToUnix(X509_get0_notAfter(cert)); }

}  // namespace unitsync::pki
