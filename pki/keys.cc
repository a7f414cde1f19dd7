#include "pki/keys.h"

#include <openssl/pem.h>

#include "pki/files.h"
#include "pki/openssl_error.h"

namespace unitsync::pki {
namespace {

constexpr size_t kMaxPemFile = 64 * 1024;

// A passphrase callback that never asks: OpenSSL's default would prompt on the
// terminal, which an unattended daemon must never do.
int NoPassphrase(char*, int, int, void*) { return 0; }

Result<BioPtr> MemoryBioOf(const std::string& text) {
  BioPtr bio(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
  if (!bio) return FailOpenSsl(Errc::kInternal, "cannot allocate a memory BIO");
  return bio;
}

}  // namespace

Result<PkeyPtr> GenerateP256Key() {
  PkeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  if (!key) return FailOpenSsl(Errc::kInternal, "cannot generate a P-256 key");
  return key;
}

Result<WipedString> PrivateKeyPem(EVP_PKEY* key) {
  // A secure-memory BIO: its buffer is cleansed when freed.
  BioPtr bio(BIO_new(BIO_s_secmem()));
  if (!bio) return FailOpenSsl(Errc::kInternal, "cannot allocate a BIO");
  if (PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return FailOpenSsl(Errc::kInternal, "cannot encode the private key");
  }
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio.get(), &data);
  if (len <= 0 || data == nullptr) return Fail(Errc::kInternal, "empty private key encoding");
  WipedString out;
  out.mutable_str().reserve(static_cast<size_t>(len));
  out.mutable_str().assign(data, static_cast<size_t>(len));
  return out;
}

Result<PkeyPtr> LoadPrivateKey(const std::string& path) {
  auto text = ReadSmallFile(path, kMaxPemFile);
  if (!text) return tl::unexpected(text.error());
  WipedString pem(std::move(*text));
  auto bio = MemoryBioOf(pem.str());
  if (!bio) return tl::unexpected(bio.error());
  PkeyPtr key(PEM_read_bio_PrivateKey(bio->get(), nullptr, NoPassphrase, nullptr));
  if (!key) {
    const bool encrypted = pem.str().find("ENCRYPTED") != std::string::npos;
    return FailOpenSsl(encrypted ? Errc::kRejected : Errc::kCorrupt,
                       path + " is not a usable PEM private key",
                       encrypted ? "unitsync keys are not passphrase-protected; their file mode "
                                   "protects them"
                                 : "is this the key.pem of a unitsync bundle?");
  }
  return key;
}

Result<std::string> CertificatePem(const X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio) return FailOpenSsl(Errc::kInternal, "cannot allocate a BIO");
  if (PEM_write_bio_X509(bio.get(), cert) != 1) {
    return FailOpenSsl(Errc::kInternal, "cannot encode a certificate");
  }
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio.get(), &data);
  if (len <= 0 || data == nullptr) return Fail(Errc::kInternal, "empty certificate encoding");
  return std::string(data, static_cast<size_t>(len));
}

Result<X509Ptr> LoadCertificate(const std::string& path) {
  auto text = ReadSmallFile(path, kMaxPemFile);
  if (!text) return tl::unexpected(text.error());
  auto bio = MemoryBioOf(*text);
  if (!bio) return tl::unexpected(bio.error());
  X509Ptr cert(PEM_read_bio_X509(bio->get(), nullptr, NoPassphrase, nullptr));
  if (!cert) {
    return FailOpenSsl(Errc::kCorrupt, path + " is not a PEM certificate",
                       "the file was edited or damaged");
  }
  return cert;
}

}  // namespace unitsync::pki
