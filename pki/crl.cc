#include "pki/crl.h"

#include <openssl/pem.h>

#include "pki/cert_builder.h"
#include "pki/cert_info.h"
#include "pki/files.h"
#include "pki/openssl_error.h"

namespace unitsync::pki {
namespace {

constexpr size_t kMaxCrlFile = 16 * 1024 * 1024;

using X509CrlRevokedStack = STACK_OF(X509_REVOKED);

}  // namespace

Result<std::string> BuildCrlPem(const X509* ca, EVP_PKEY* ca_key, int64_t number,
                                const std::vector<RevokedSerial>& revoked) {
  X509CrlPtr crl(X509_CRL_new());
  if (!crl) return FailOpenSsl(Errc::kInternal, "cannot allocate a CRL");
  Asn1TimePtr last(X509_gmtime_adj(nullptr, -kBackdateSeconds));
  if (!last || X509_CRL_set_version(crl.get(), X509_CRL_VERSION_2) != 1 ||
      X509_CRL_set_issuer_name(crl.get(), X509_get_subject_name(ca)) != 1 ||
      X509_CRL_set1_lastUpdate(crl.get(), last.get()) != 1 ||
      X509_CRL_set1_nextUpdate(crl.get(), X509_get0_notAfter(ca)) != 1) {
    return FailOpenSsl(Errc::kInternal, "cannot set up the CRL");
  }
  for (const RevokedSerial& r : revoked) {
    auto serial = SerialFromHex(r.serial_hex);
    if (!serial) return tl::unexpected(serial.error());
    X509RevokedPtr entry(X509_REVOKED_new());
    Asn1TimePtr when(ASN1_TIME_set(nullptr, r.revoked_at));
    if (!entry || !when || X509_REVOKED_set_serialNumber(entry.get(), serial->get()) != 1 ||
        X509_REVOKED_set_revocationDate(entry.get(), when.get()) != 1) {
      return FailOpenSsl(Errc::kInternal, "cannot build a CRL entry");
    }
    if (X509_CRL_add0_revoked(crl.get(), entry.get()) != 1) {
      return FailOpenSsl(Errc::kInternal, "cannot add a CRL entry");
    }
    entry.release();  // Owned by the CRL now.
  }
  Asn1IntegerPtr crl_number(ASN1_INTEGER_new());
  if (!crl_number || ASN1_INTEGER_set_int64(crl_number.get(), number) != 1 ||
      X509_CRL_add1_ext_i2d(crl.get(), NID_crl_number, crl_number.get(), 0, 0) != 1) {
    return FailOpenSsl(Errc::kInternal, "cannot set the CRL number");
  }
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, const_cast<X509*>(ca), nullptr, nullptr, crl.get(), 0);
  X509ExtensionPtr aki(X509V3_EXT_nconf(nullptr, &ctx, "authorityKeyIdentifier", "keyid:always"));
  if (!aki || X509_CRL_add_ext(crl.get(), aki.get(), -1) != 1) {
    return FailOpenSsl(Errc::kInternal, "cannot set the CRL's authority key id");
  }
  if (X509_CRL_sort(crl.get()) != 1 || X509_CRL_sign(crl.get(), ca_key, EVP_sha256()) <= 0) {
    return FailOpenSsl(Errc::kInternal, "cannot sign the CRL");
  }
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_X509_CRL(bio.get(), crl.get()) != 1) {
    return FailOpenSsl(Errc::kInternal, "cannot encode the CRL");
  }
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio.get(), &data);
  if (len <= 0 || data == nullptr) return Fail(Errc::kInternal, "empty CRL encoding");
  return std::string(data, static_cast<size_t>(len));
}

Result<CrlContents> ReadCrl(const std::string& path, const X509* ca) {
  auto text = ReadSmallFile(path, kMaxCrlFile);
  if (!text) return tl::unexpected(text.error());
  BioPtr bio(BIO_new_mem_buf(text->data(), static_cast<int>(text->size())));
  if (!bio) return FailOpenSsl(Errc::kInternal, "cannot allocate a BIO");
  X509CrlPtr crl(PEM_read_bio_X509_CRL(bio.get(), nullptr, nullptr, nullptr));
  if (!crl) return FailOpenSsl(Errc::kCorrupt, path + " is not a PEM CRL");
  if (X509_CRL_verify(crl.get(), X509_get0_pubkey(ca)) != 1) {
    return FailOpenSsl(Errc::kCorrupt, path + " is not signed by this CA",
                       "restore crl.pem from a backup, or run 'pki revoke' again");
  }
  CrlContents out;
  int critical = 0;
  Asn1IntegerPtr number(static_cast<ASN1_INTEGER*>(
      X509_CRL_get_ext_d2i(crl.get(), NID_crl_number, &critical, nullptr)));
  if (!number || ASN1_INTEGER_get_int64(&out.number, number.get()) != 1 || out.number < 0) {
    return FailOpenSsl(Errc::kCorrupt, path + " has no usable CRL number");
  }
  const X509CrlRevokedStack* entries = X509_CRL_get_REVOKED(crl.get());
  for (int i = 0; i < sk_X509_REVOKED_num(entries); ++i) {
    const X509_REVOKED* entry = sk_X509_REVOKED_value(entries, i);
    auto serial = SerialHex(X509_REVOKED_get0_serialNumber(entry));
    if (!serial) return tl::unexpected(serial.error());
    auto when = Asn1TimeToUnix(X509_REVOKED_get0_revocationDate(entry));
    if (!when) return tl::unexpected(when.error());
    out.revoked.push_back({std::move(*serial), *when});
  }
  return out;
}

}  // namespace unitsync::pki
