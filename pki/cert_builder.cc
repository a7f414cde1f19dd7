#include "pki/cert_builder.h"

#include <openssl/rand.h>

#include <array>

#include "pki/openssl_error.h"

namespace unitsync::pki {
namespace {

// 16 random bytes with the top bit clear (a positive INTEGER that DER encodes in
// 16 bytes) and the next one set (never shorter, never zero).
Result<Asn1IntegerPtr> RandomSerial() {
  std::array<unsigned char, 16> bytes{};
  if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1) {
    return FailOpenSsl(Errc::kInternal, "cannot draw a certificate serial");
  }
  bytes[0] = static_cast<unsigned char>((bytes[0] & 0x7f) | 0x40);
  BignumPtr bn(BN_bin2bn(bytes.data(), static_cast<int>(bytes.size()), nullptr));
  if (!bn) return FailOpenSsl(Errc::kInternal, "cannot convert a serial");
  Asn1IntegerPtr serial(BN_to_ASN1_INTEGER(bn.get(), nullptr));
  if (!serial) return FailOpenSsl(Errc::kInternal, "cannot convert a serial");
  return serial;
}

Status AddExtension(X509* cert, X509V3_CTX* ctx, const char* name, const std::string& value) {
  X509ExtensionPtr ext(X509V3_EXT_nconf(nullptr, ctx, name, value.c_str()));
  if (!ext) return FailOpenSsl(Errc::kInternal, std::string("cannot build extension ") + name);
  if (X509_add_ext(cert, ext.get(), -1) != 1) {
    return FailOpenSsl(Errc::kInternal, std::string("cannot add extension ") + name);
  }
  return {};
}

struct ProfileExtensions {
  const char* basic_constraints;
  const char* key_usage;
  const char* extended_key_usage;  // null: none
};

ProfileExtensions ExtensionsOf(CertProfile profile) {
  switch (profile) {
    case CertProfile::kCa:
      return {"critical,CA:TRUE,pathlen:0", "critical,keyCertSign,cRLSign", nullptr};
    case CertProfile::kUnit:
      return {"critical,CA:FALSE", "critical,digitalSignature", "clientAuth"};
    case CertProfile::kServer:
      return {"critical,CA:FALSE", "critical,digitalSignature", "serverAuth"};
  }
  return {"critical,CA:FALSE", "critical,digitalSignature", nullptr};
}

}  // namespace

Result<X509Ptr> IssueCertificate(const CertRequest& request, EVP_PKEY* subject_key,
                                 const X509* issuer, EVP_PKEY* issuer_key) {
  X509Ptr cert(X509_new());
  if (!cert) return FailOpenSsl(Errc::kInternal, "cannot allocate a certificate");
  if (X509_set_version(cert.get(), X509_VERSION_3) != 1) {
    return FailOpenSsl(Errc::kInternal, "cannot set the certificate version");
  }
  auto serial = RandomSerial();
  if (!serial) return tl::unexpected(serial.error());
  if (X509_set_serialNumber(cert.get(), serial->get()) != 1) {
    return FailOpenSsl(Errc::kInternal, "cannot set the serial");
  }

  X509NamePtr subject(X509_NAME_new());
  if (!subject ||
      X509_NAME_add_entry_by_NID(
          subject.get(), NID_commonName, MBSTRING_UTF8,
          reinterpret_cast<const unsigned char*>(request.common_name.c_str()), -1, -1, 0) != 1 ||
      X509_set_subject_name(cert.get(), subject.get()) != 1) {
    return FailOpenSsl(Errc::kInternal, "cannot set the subject name");
  }
  const X509_NAME* issuer_name = issuer != nullptr ? X509_get_subject_name(issuer) : subject.get();
  if (X509_set_issuer_name(cert.get(), issuer_name) != 1) {
    return FailOpenSsl(Errc::kInternal, "cannot set the issuer name");
  }

  if (X509_gmtime_adj(X509_getm_notBefore(cert.get()), -kBackdateSeconds) == nullptr ||
      X509_time_adj_ex(X509_getm_notAfter(cert.get()), request.days, 0, nullptr) == nullptr) {
    return FailOpenSsl(Errc::kInternal, "cannot set the validity period");
  }
  if (X509_set_pubkey(cert.get(), subject_key) != 1) {
    return FailOpenSsl(Errc::kInternal, "cannot set the public key");
  }

  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  // X509V3_set_ctx wants non-const certificates but only reads them.
  X509V3_set_ctx(&ctx, issuer != nullptr ? const_cast<X509*>(issuer) : cert.get(), cert.get(),
                 nullptr, nullptr, 0);
  const ProfileExtensions ext = ExtensionsOf(request.profile);
  Status st = AddExtension(cert.get(), &ctx, "basicConstraints", ext.basic_constraints);
  if (st) st = AddExtension(cert.get(), &ctx, "keyUsage", ext.key_usage);
  if (st && ext.extended_key_usage != nullptr) {
    st = AddExtension(cert.get(), &ctx, "extendedKeyUsage", ext.extended_key_usage);
  }
  // The subject key id first: a self-signed CA's authority key id is its own.
  if (st) st = AddExtension(cert.get(), &ctx, "subjectKeyIdentifier", "hash");
  if (st) st = AddExtension(cert.get(), &ctx, "authorityKeyIdentifier", "keyid:always");
  if (st && !request.alt_names.empty()) {
    std::string san;
    for (const auto& name : request.alt_names) san += (san.empty() ? "" : ",") + name;
    st = AddExtension(cert.get(), &ctx, "subjectAltName", san);
  }
  if (!st) return tl::unexpected(st.error());

  if (X509_sign(cert.get(), issuer_key, EVP_sha256()) <= 0) {
    return FailOpenSsl(Errc::kInternal, "cannot sign the certificate");
  }
  return cert;
}

}  // namespace unitsync::pki
