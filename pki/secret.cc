#include "pki/secret.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "pki/openssl_error.h"
#include "pki/text.h"

namespace unitsync::pki {

Result<SealingSecret> SealingSecret::Generate() {
  SealingSecret s;
  if (RAND_bytes(s.bytes_.data(), static_cast<int>(s.bytes_.size())) != 1) {
    return FailOpenSsl(Errc::kInternal, "cannot draw a sealing secret from the CSPRNG");
  }
  return s;
}

Result<SealingSecret> SealingSecret::FromBytes(std::string_view bytes) {
  if (bytes.size() != kSealingSecretSize) {
    return Fail(Errc::kCorrupt, "a sealing secret is " + std::to_string(kSealingSecretSize) +
                                    " bytes, this one is " + std::to_string(bytes.size()));
  }
  SealingSecret s;
  for (size_t i = 0; i < bytes.size(); ++i) s.bytes_[i] = static_cast<uint8_t>(bytes[i]);
  return s;
}

Result<SealingSecret> SealingSecret::FromHex(std::string_view hex) {
  if (hex.size() != 2 * kSealingSecretSize) {
    return Fail(Errc::kCorrupt,
                "a sealing secret is " + std::to_string(2 * kSealingSecretSize) + " hex digits");
  }
  SealingSecret s;
  if (!DecodeHex(hex, s.bytes_)) {
    return Fail(Errc::kCorrupt, "a sealing secret holds a character that is not a hex digit");
  }
  return s;
}

SealingSecret::~SealingSecret() { OPENSSL_cleanse(bytes_.data(), bytes_.size()); }

std::string SealingSecret::ToHex() const { return EncodeHex(bytes_); }

bool SealingSecret::operator==(const SealingSecret& other) const {
  return CRYPTO_memcmp(bytes_.data(), other.bytes_.data(), bytes_.size()) == 0;
}

WipedString::WipedString(WipedString&& other) noexcept : s_(other.s_) { other.Wipe(); }

WipedString& WipedString::operator=(WipedString&& other) noexcept {
  if (this != &other) {
    Wipe();
    s_ = other.s_;
    other.Wipe();
  }
  return *this;
}

void WipedString::Wipe() {
  // The whole buffer, not just size(): earlier, longer contents may linger past it.
  s_.resize(s_.capacity());
  OPENSSL_cleanse(s_.data(), s_.size());
  s_.clear();
}

}  // namespace unitsync::pki
