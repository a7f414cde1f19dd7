// The CA's certificate revocation list, crl.pem (internal to pki/).
#pragma once

#include <cstdint>
#include <ctime>
#include <string>
#include <vector>

#include "common/error.h"
#include "pki/handles.h"

namespace unitsync::pki {

struct RevokedSerial {
  std::string serial_hex;  // lowercase, as CertSerialHex
  std::time_t revoked_at = 0;
};

struct CrlContents {
  int64_t number = 0;  // the CRL number extension; grows by one per regeneration
  std::vector<RevokedSerial> revoked;
};

// A v2 CRL issued by `ca`, signed (ECDSA-SHA256) with `ca_key`: lastUpdate now minus
// kBackdateSeconds, nextUpdate the CA's own notAfter (central reads the CRL from the CA
// directory, so there is no distribution point to refresh; every revoke re-signs it),
// CRL number `number`, authority key id, the `revoked` serials. As PEM.
Result<std::string> BuildCrlPem(const X509* ca, EVP_PKEY* ca_key, int64_t number,
                                const std::vector<RevokedSerial>& revoked);

// Reads a CRL file and checks that `ca` signed it (kCorrupt otherwise; kNotFound when
// the file is missing).
Result<CrlContents> ReadCrl(const std::string& path, const X509* ca);

}  // namespace unitsync::pki
