// Builds and signs X.509 v3 certificates (internal to pki/). The profiles are in
// pki/DESIGN.md; this file is their only implementation.
#pragma once

#include <ctime>
#include <string>
#include <vector>

#include "common/error.h"
#include "pki/handles.h"

namespace unitsync::pki {

// notBefore (and a CRL's lastUpdate) are set this far in the past, so a peer whose
// clock runs up to a day behind still accepts a certificate issued just now.
inline constexpr long kBackdateSeconds = 24 * 60 * 60;

enum class CertProfile {
  kCa,      // basicConstraints critical CA:TRUE,pathlen:0; keyUsage keyCertSign, cRLSign
  kUnit,    // CA:FALSE; keyUsage digitalSignature; EKU clientAuth
  kServer,  // CA:FALSE; keyUsage digitalSignature; EKU serverAuth
};

struct CertRequest {
  CertProfile profile = CertProfile::kUnit;
  std::string common_name;
  int days = 0;  // REQUIRES: > 0.
  // subjectAltName entries in OpenSSL config form ("URI:...", "DNS:...", "IP:...").
  // REQUIRES: each already validated (no ',' and nothing the config syntax would read).
  std::vector<std::string> alt_names;
};

// Issues a certificate for the public half of `subject_key` with a random positive
// 127-bit serial, signed (ECDSA-SHA256) by `issuer_key`. `issuer` is the CA certificate,
// or null for a self-signed CA (then `issuer_key` must be `subject_key`).
// kInternal when OpenSSL fails; nothing is returned then.
Result<X509Ptr> IssueCertificate(const CertRequest& request, EVP_PKEY* subject_key,
                                 const X509* issuer, EVP_PKEY* issuer_key);

}  // namespace unitsync::pki
