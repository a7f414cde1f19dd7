// Facts read from certificates and times (internal to pki/).
#pragma once

#include <ctime>
#include <string>

#include "common/error.h"
#include "pki/handles.h"

namespace unitsync::pki {

// The serial as lowercase hex without leading zeros ("5f3a..."), as in registrations
// and `openssl x509 -serial` (which prints it upper-case).
Result<std::string> SerialHex(const ASN1_INTEGER* serial);
Result<std::string> CertSerialHex(const X509* cert);
// The inverse of SerialHex. kCorrupt on anything but 1..40 lowercase hex digits.
Result<Asn1IntegerPtr> SerialFromHex(const std::string& hex);

// SHA-256 of the DER certificate, 64 lowercase hex digits (`openssl x509 -fingerprint
// -sha256` prints the same bytes upper-case with colons).
Result<std::string> FingerprintSha256(const X509* cert);

Result<std::time_t> Asn1TimeToUnix(const ASN1_TIME* t);
Result<std::time_t> NotAfter(const X509* cert);

}  // namespace unitsync::pki
