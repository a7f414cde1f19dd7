// A unit's changeset sealing secret: 32 random bytes made at enrollment, from which
// protocol/ derives the AES keys per key id (protocol/envelope.h, DeriveChangesetKey).
//
// The bytes are wiped (OPENSSL_cleanse) when a SealingSecret dies. Nothing here puts
// the secret, or any part of it, into an Error.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "common/error.h"

namespace unitsync::pki {

// Equals protocol::kUnitSecretSize (pinned by pki_test).
inline constexpr size_t kSealingSecretSize = 32;
// The key id of the secret made at enrollment. Rotation will add higher ids.
inline constexpr uint32_t kFirstKeyId = 1;

class SealingSecret {
 public:
  // 32 bytes from OpenSSL's CSPRNG (RAND_bytes). kInternal when it is not seeded.
  static Result<SealingSecret> Generate();
  // kCorrupt when `bytes` is not exactly kSealingSecretSize long.
  static Result<SealingSecret> FromBytes(std::string_view bytes);
  // From 64 lowercase or uppercase hex digits; kCorrupt otherwise (the error does
  // not quote the text).
  static Result<SealingSecret> FromHex(std::string_view hex);

  SealingSecret(const SealingSecret&) = default;
  SealingSecret& operator=(const SealingSecret&) = default;
  ~SealingSecret();

  // The raw bytes, for DeriveChangesetKey. Never log them.
  std::span<const uint8_t, kSealingSecretSize> bytes() const { return bytes_; }
  std::string_view view() const {
    return {reinterpret_cast<const char*>(bytes_.data()), bytes_.size()};
  }
  // 64 lowercase hex digits, for the registration file. The caller wipes the copy
  // (see WipedString).
  std::string ToHex() const;

  bool operator==(const SealingSecret& other) const;

 private:
  SealingSecret() = default;
  std::array<uint8_t, kSealingSecretSize> bytes_{};
};

// A string that holds secret text (a PEM private key, a registration file) and is
// wiped when it dies. Move-only.
class WipedString {
 public:
  WipedString() = default;
  explicit WipedString(std::string s) : s_(std::move(s)) {}
  WipedString(WipedString&& other) noexcept;
  WipedString& operator=(WipedString&& other) noexcept;
  WipedString(const WipedString&) = delete;
  WipedString& operator=(const WipedString&) = delete;
  ~WipedString() { Wipe(); }

  const std::string& str() const { return s_; }
  std::string& mutable_str() { return s_; }

 private:
  void Wipe();
  std::string s_;
};

}  // namespace unitsync::pki
