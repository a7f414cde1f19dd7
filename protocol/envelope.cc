// The one file that talks to OpenSSL: HKDF, AES-256-GCM, RAND_bytes, and the translation
// of OpenSSL failures into Errors.
#include "protocol/envelope.h"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include <climits>
#include <cstring>
#include <memory>

#include "protocol/text.h"

namespace unitsync::protocol {
namespace {

constexpr std::string_view kHkdfSalt = "unitsync/changeset-key/v1";
constexpr std::string_view kHkdfInfoPrefix = "unitsync changeset v1";
constexpr size_t kKeyIdOffset = 1;
constexpr size_t kNonceOffset = 5;
constexpr size_t kCiphertextOffset = kNonceOffset + kNonceSize;

struct CipherCtxFree {
  void operator()(EVP_CIPHER_CTX* ctx) const { EVP_CIPHER_CTX_free(ctx); }
};
struct KdfFree {
  void operator()(EVP_KDF* kdf) const { EVP_KDF_free(kdf); }
};
struct KdfCtxFree {
  void operator()(EVP_KDF_CTX* ctx) const { EVP_KDF_CTX_free(ctx); }
};
using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, CipherCtxFree>;
using Kdf = std::unique_ptr<EVP_KDF, KdfFree>;
using KdfCtx = std::unique_ptr<EVP_KDF_CTX, KdfCtxFree>;

// Bytes that are zeroed when they go out of scope (plaintext work buffers).
class WipedBytes {
 public:
  explicit WipedBytes(size_t n) : bytes_(n) {}
  ~WipedBytes() { OPENSSL_cleanse(bytes_.data(), bytes_.size()); }
  WipedBytes(const WipedBytes&) = delete;
  WipedBytes& operator=(const WipedBytes&) = delete;
  uint8_t* data() { return bytes_.data(); }
  Bytes Release() { return std::move(bytes_); }

 private:
  Bytes bytes_;
};

// OpenSSL's error queue describes the failed call; it never holds key material.
tl::unexpected<Error> OpenSslFailure(std::string_view what) {
  std::string message = "OpenSSL " + std::string(what) + " failed";
  if (const unsigned long code = ERR_get_error(); code != 0) {
    char buf[256];
    ERR_error_string_n(code, buf, sizeof(buf));
    message += ": ";
    message += buf;
  }
  ERR_clear_error();
  return Fail(Errc::kInternal, std::move(message));
}

tl::unexpected<Error> NotOpened() {
  return Fail(Errc::kCorrupt,
              "sealed changeset does not open: wrong key, unexpected header or altered bytes",
              "check that both ends hold the same unit secret and key id");
}

void PutU16(Bytes& out, uint16_t v) {
  out.push_back(static_cast<uint8_t>(v >> 8));
  out.push_back(static_cast<uint8_t>(v));
}
void PutU32(Bytes& out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<uint8_t>(v >> shift));
}
void PutU64(Bytes& out, uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<uint8_t>(v >> shift));
}
void PutShortString(Bytes& out, std::string_view s) {
  out.push_back(static_cast<uint8_t>(s.size()));
  out.insert(out.end(), s.begin(), s.end());
}

Status ValidateHeader(const EnvelopeHeader& h) {
  const auto id_ok = [](std::string_view s) {
    return !s.empty() && s.size() <= kMaxIdBytes && IsIdText(s);
  };
  if (h.protocol_version < 1) {
    return Fail(Errc::kInvalidArgument, "envelope header protocol version must be >= 1");
  }
  if (static_cast<uint8_t>(h.kind) < 1 || static_cast<uint8_t>(h.kind) > 5) {
    return Fail(Errc::kInvalidArgument, "envelope header kind must be 1..5");
  }
  if (!id_ok(h.origin) || !id_ok(h.destination)) {
    return Fail(Errc::kInvalidArgument, "envelope header origin/destination is not a node id");
  }
  if (!h.stream.empty() && !id_ok(h.stream)) {
    return Fail(Errc::kInvalidArgument, "envelope header stream is not an id");
  }
  if (h.seq_from > h.seq_to || h.seq_to > kMaxSeq) {
    return Fail(Errc::kInvalidArgument, "envelope header needs seq_from <= seq_to <= 2^63-1");
  }
  return {};
}

}  // namespace

// ---- ChangesetKey ----

ChangesetKey::ChangesetKey(uint32_t key_id, ByteView key) : key_id_(key_id) {
  std::memcpy(key_.data(), key.data(), key_.size());
}

Result<ChangesetKey> ChangesetKey::FromBytes(uint32_t key_id, ByteView key) {
  if (key.size() != kChangesetKeySize) {
    return Fail(Errc::kInvalidArgument, "changeset key must be 32 bytes");
  }
  return ChangesetKey(key_id, key);
}

ChangesetKey::ChangesetKey(ChangesetKey&& other) noexcept : key_id_(other.key_id_) {
  key_ = other.key_;
  other.Wipe();
}

ChangesetKey& ChangesetKey::operator=(ChangesetKey&& other) noexcept {
  if (this != &other) {
    key_id_ = other.key_id_;
    key_ = other.key_;
    other.Wipe();
  }
  return *this;
}

ChangesetKey::~ChangesetKey() { Wipe(); }

void ChangesetKey::Wipe() { OPENSSL_cleanse(key_.data(), key_.size()); }

// ---- Key derivation ----

Result<ChangesetKey> DeriveChangesetKey(ByteView unit_secret, uint32_t key_id) {
  if (unit_secret.size() != kUnitSecretSize) {
    return Fail(Errc::kInvalidArgument, "unit secret must be 32 bytes",
                "re-enroll the unit or restore its sealing secret file");
  }
  Kdf kdf(EVP_KDF_fetch(nullptr, "HKDF", nullptr));
  if (!kdf) return OpenSslFailure("HKDF fetch");
  KdfCtx ctx(EVP_KDF_CTX_new(kdf.get()));
  if (!ctx) return OpenSslFailure("HKDF context");

  Bytes info(kHkdfInfoPrefix.begin(), kHkdfInfoPrefix.end());
  PutU32(info, key_id);
  char digest[] = "SHA256";
  // OSSL_PARAM takes non-const pointers; OpenSSL only reads these buffers.
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string("digest", digest, 0),
      OSSL_PARAM_construct_octet_string("key", const_cast<uint8_t*>(unit_secret.data()),
                                        unit_secret.size()),
      OSSL_PARAM_construct_octet_string("salt", const_cast<char*>(kHkdfSalt.data()),
                                        kHkdfSalt.size()),
      OSSL_PARAM_construct_octet_string("info", info.data(), info.size()),
      OSSL_PARAM_construct_end(),
  };
  std::array<uint8_t, kChangesetKeySize> out{};
  if (EVP_KDF_derive(ctx.get(), out.data(), out.size(), params) != 1) {
    OPENSSL_cleanse(out.data(), out.size());
    return OpenSslFailure("HKDF derive");
  }
  auto key = ChangesetKey::FromBytes(key_id, out);
  OPENSSL_cleanse(out.data(), out.size());
  return key;
}

Status SecureRandomNonces::Fill(std::span<uint8_t, kNonceSize> nonce) {
  if (RAND_bytes(nonce.data(), static_cast<int>(nonce.size())) != 1) {
    return OpenSslFailure("RAND_bytes");
  }
  return {};
}

// ---- AAD ----

Result<Bytes> EncodeAad(const EnvelopeHeader& header, uint32_t key_id) {
  if (Status s = ValidateHeader(header); !s) return tl::unexpected(s.error());
  Bytes aad;
  aad.reserve(27 + header.origin.size() + header.destination.size() + header.stream.size());
  aad.push_back(kEnvelopeFormat);
  PutU16(aad, header.protocol_version);
  aad.push_back(static_cast<uint8_t>(header.kind));
  PutU32(aad, key_id);
  PutU64(aad, header.seq_from);
  PutU64(aad, header.seq_to);
  PutShortString(aad, header.origin);
  PutShortString(aad, header.destination);
  PutShortString(aad, header.stream);
  return aad;
}

// ---- Seal / open ----

Result<Bytes> SealChangeset(const ChangesetKey& key, const EnvelopeHeader& header,
                            ByteView plaintext) {
  SecureRandomNonces nonces;
  return SealChangeset(key, header, plaintext, nonces);
}

Result<Bytes> SealChangeset(const ChangesetKey& key, const EnvelopeHeader& header,
                            ByteView plaintext, NonceSource& nonces) {
  if (plaintext.size() > kMaxEnvelopePlaintext) {
    return Fail(Errc::kInvalidArgument, "changeset plaintext exceeds the envelope limit");
  }
  auto aad = EncodeAad(header, key.key_id());
  if (!aad) return tl::unexpected(aad.error());

  Bytes out(kEnvelopeOverhead + plaintext.size());
  out[0] = kEnvelopeFormat;
  for (int i = 0; i < 4; ++i)
    out[kKeyIdOffset + i] = static_cast<uint8_t>(key.key_id() >> (24 - 8 * i));
  const std::span<uint8_t, kNonceSize> nonce(out.data() + kNonceOffset, kNonceSize);
  if (Status s = nonces.Fill(nonce); !s) return tl::unexpected(s.error());

  CipherCtx ctx(EVP_CIPHER_CTX_new());
  if (!ctx) return OpenSslFailure("cipher context");
  int aad_len = 0;
  int out_len = 0;
  uint8_t final_block[16];  // GCM's Final writes no bytes; see OpenChangeset
  if (EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, key.bytes().data(), nonce.data()) !=
          1 ||
      EVP_EncryptUpdate(ctx.get(), nullptr, &aad_len, aad->data(), static_cast<int>(aad->size())) !=
          1 ||
      (!plaintext.empty() &&
       EVP_EncryptUpdate(ctx.get(), out.data() + kCiphertextOffset, &out_len, plaintext.data(),
                         static_cast<int>(plaintext.size())) != 1) ||
      static_cast<size_t>(out_len) != plaintext.size() ||
      EVP_EncryptFinal_ex(ctx.get(), final_block, &out_len) != 1 || out_len != 0 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, kTagSize,
                          out.data() + out.size() - kTagSize) != 1) {
    return OpenSslFailure("AES-256-GCM seal");
  }
  return out;
}

Result<uint32_t> EnvelopeKeyId(ByteView sealed) {
  if (sealed.size() < kEnvelopeOverhead) {
    return Fail(Errc::kCorrupt, "sealed changeset is shorter than an envelope");
  }
  if (sealed[0] != kEnvelopeFormat) {
    return Fail(Errc::kCorrupt,
                "sealed changeset has unknown envelope format " + std::to_string(sealed[0]));
  }
  uint32_t id = 0;
  for (size_t i = 0; i < 4; ++i) id = (id << 8) | sealed[kKeyIdOffset + i];
  return id;
}

Result<Bytes> OpenChangeset(const ChangesetKey& key, const EnvelopeHeader& expected,
                            ByteView sealed) {
  auto key_id = EnvelopeKeyId(sealed);
  if (!key_id) return tl::unexpected(key_id.error());
  if (*key_id != key.key_id()) {
    return Fail(Errc::kCorrupt, "sealed changeset names key id " + std::to_string(*key_id) +
                                    ", expected key id " + std::to_string(key.key_id()));
  }
  if (sealed.size() - kEnvelopeOverhead > kMaxEnvelopePlaintext) {
    return Fail(Errc::kCorrupt, "sealed changeset exceeds the envelope limit");
  }
  auto aad = EncodeAad(expected, key.key_id());
  if (!aad) return tl::unexpected(aad.error());

  const size_t n = sealed.size() - kEnvelopeOverhead;
  const uint8_t* nonce = sealed.data() + kNonceOffset;
  const uint8_t* ciphertext = sealed.data() + kCiphertextOffset;
  // GCM_SET_TAG wants a writable buffer.
  std::array<uint8_t, kTagSize> tag;
  std::memcpy(tag.data(), sealed.data() + sealed.size() - kTagSize, kTagSize);

  CipherCtx ctx(EVP_CIPHER_CTX_new());
  if (!ctx) return OpenSslFailure("cipher context");
  WipedBytes plaintext(n);
  // GCM is a stream mode: Update writes exactly n bytes and Final writes none, so Final
  // gets a scratch buffer, not a pointer into `plaintext` (which is null when n is 0).
  int aad_len = 0;
  int out_len = 0;
  uint8_t final_block[16];
  if (EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, key.bytes().data(), nonce) != 1 ||
      EVP_DecryptUpdate(ctx.get(), nullptr, &aad_len, aad->data(), static_cast<int>(aad->size())) !=
          1 ||
      (n > 0 && EVP_DecryptUpdate(ctx.get(), plaintext.data(), &out_len, ciphertext,
                                  static_cast<int>(n)) != 1) ||
      static_cast<size_t>(out_len) != n ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, kTagSize, tag.data()) != 1) {
    return OpenSslFailure("AES-256-GCM open");
  }
  if (EVP_DecryptFinal_ex(ctx.get(), final_block, &out_len) != 1) {
    ERR_clear_error();
    return NotOpened();  // `plaintext` is wiped on return
  }
  return plaintext.Release();
}

}  // namespace unitsync::protocol
