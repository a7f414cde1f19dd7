// Keys and certificates to and from PEM (internal to pki/).
#pragma once

#include <string>

#include "common/error.h"
#include "pki/handles.h"
#include "pki/secret.h"

namespace unitsync::pki {

// A fresh ECDSA P-256 key. kInternal when OpenSSL fails.
Result<PkeyPtr> GenerateP256Key();

// The private key as unencrypted PKCS#8 PEM, in a buffer that is wiped when it dies.
// (Unencrypted because unitsyncd starts unattended; the file's mode protects it.)
Result<WipedString> PrivateKeyPem(EVP_PKEY* key);

// Reads a PEM private key file. Never prompts for a passphrase: an encrypted key is
// kRejected. kNotFound when missing, kCorrupt when it is not a PEM private key.
Result<PkeyPtr> LoadPrivateKey(const std::string& path);

Result<std::string> CertificatePem(const X509* cert);
// Reads the first PEM certificate of `path`. kNotFound, kCorrupt as above.
Result<X509Ptr> LoadCertificate(const std::string& path);

}  // namespace unitsync::pki
