// Sealed changeset envelopes: AES-256-GCM under a per-unit key derived with HKDF-SHA256
// (protocol/FORMAT.md section 3).
//
// The plaintext is opaque bytes here (the store's changeset format). The associated data
// binds protocol version, kind, origin, destination, sequence numbers, key id and stream,
// so an envelope opens only under the exact header it was sealed for.
//
// Key material never appears in an Error or a log line; ChangesetKey zeroes itself.
// The functions are thread-safe; one ChangesetKey may be shared by threads for reading.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "common/error.h"
#include "protocol/bytes.h"
#include "protocol/limits.h"

namespace unitsync::protocol {

inline constexpr size_t kUnitSecretSize = 32;
inline constexpr size_t kChangesetKeySize = 32;
inline constexpr size_t kNonceSize = 12;
inline constexpr size_t kTagSize = 16;
inline constexpr uint8_t kEnvelopeFormat = 1;
// Largest plaintext one envelope may carry. Frames bound it further: see
// MaxPlaintextForFrame.
inline constexpr size_t kMaxEnvelopePlaintext = 256 * 1024 * 1024;

// Wire values of the AAD's kind byte.
enum class EnvelopeKind : uint8_t {
  kPush = 1,      // a unit's changeset, unit -> central
  kChanges = 2,   // central's fan-out, central -> unit
  kSnapshot = 3,  // one snapshot chunk, central -> unit
  kBackup = 4,    // a record of a sealed backup file (protocol/sealed_file.h)
  kBundle = 5,    // the manifest of an offline bundle (protocol/sealed_file.h)
};

// What an envelope is sealed for. See the table in FORMAT.md section 3 for which values
// each kind uses.
struct EnvelopeHeader {
  uint16_t protocol_version = kMaxProtocolVersion;
  EnvelopeKind kind = EnvelopeKind::kPush;
  std::string origin;       // node id of the sealer
  std::string destination;  // node id of the opener
  uint64_t seq_from = 0;
  uint64_t seq_to = 0;
  std::string stream;  // push: empty; changes: central generation id; snapshot: snapshot id
  bool operator==(const EnvelopeHeader&) const = default;
};

// The largest plaintext whose sealed envelope still fits in a PUSH, CHANGES or
// SNAPSHOT_CHUNK frame under `max_frame`.
constexpr size_t MaxPlaintextForFrame(size_t max_frame) {
  return max_frame - kFrameOverheadForEnvelope - kEnvelopeOverhead;
}

// A derived AES-256 key with its key id. Move-only; the key bytes are zeroed
// (OPENSSL_cleanse) on destruction and when moved from.
class ChangesetKey {
 public:
  // Wraps raw key bytes (for tests and FORMAT.md vectors; production derives keys).
  // Fails with kInvalidArgument when `key` is not kChangesetKeySize bytes.
  static Result<ChangesetKey> FromBytes(uint32_t key_id, ByteView key);

  ChangesetKey(ChangesetKey&& other) noexcept;
  ChangesetKey& operator=(ChangesetKey&& other) noexcept;
  ChangesetKey(const ChangesetKey&) = delete;
  ChangesetKey& operator=(const ChangesetKey&) = delete;
  ~ChangesetKey();

  uint32_t key_id() const { return key_id_; }
  // The raw key, for the cipher. Never log it.
  ByteView bytes() const { return key_; }

 private:
  ChangesetKey(uint32_t key_id, ByteView key);
  void Wipe();

  uint32_t key_id_ = 0;
  std::array<uint8_t, kChangesetKeySize> key_{};
};

// key = HKDF-SHA256(ikm = unit_secret, salt = "unitsync/changeset-key/v1",
//                   info = "unitsync changeset v1" || key_id (4 bytes BE), L = 32).
// Fails with kInvalidArgument when unit_secret is not kUnitSecretSize bytes, kInternal
// when OpenSSL fails. Nothing about the secret is put in the error.
Result<ChangesetKey> DeriveChangesetKey(ByteView unit_secret, uint32_t key_id);

// Where nonces come from. Production uses SecureRandomNonces; tests inject fixed nonces to
// reproduce the FORMAT.md vectors. Every nonce used with one key must be unique.
class NonceSource {
 public:
  virtual ~NonceSource() = default;
  virtual Status Fill(std::span<uint8_t, kNonceSize> nonce) = 0;
};

// 96 bits from OpenSSL's CSPRNG (RAND_bytes) per seal. See FORMAT.md "Nonces" for why a
// random nonce and the 2^32-seals-per-key bound.
class SecureRandomNonces final : public NonceSource {
 public:
  Status Fill(std::span<uint8_t, kNonceSize> nonce) override;
};

// The associated data for `header` under `key_id`, byte for byte as in FORMAT.md.
// Fails with kInvalidArgument when the header breaks a FORMAT.md rule (ids, ranges).
Result<Bytes> EncodeAad(const EnvelopeHeader& header, uint32_t key_id);

// Seals `plaintext` for `header` with a fresh random nonce; returns the envelope
// (format | key id | nonce | ciphertext | tag). Seal a changeset once and keep the bytes:
// a resend sends the same bytes, it does not seal again.
// Fails with kInvalidArgument on a bad header or a plaintext over kMaxEnvelopePlaintext,
// kInternal when OpenSSL or the nonce source fails.
Result<Bytes> SealChangeset(const ChangesetKey& key, const EnvelopeHeader& header,
                            ByteView plaintext);
Result<Bytes> SealChangeset(const ChangesetKey& key, const EnvelopeHeader& header,
                            ByteView plaintext, NonceSource& nonces);

// Returns the key id an envelope claims (offset 1), to choose the key for OpenChangeset.
// Fails with kCorrupt when `sealed` is too short or of an unknown format.
Result<uint32_t> EnvelopeKeyId(ByteView sealed);

// Opens an envelope against the header the receiver expects from its own context (its
// node id as destination, the frame's seq, ...), never against the sender's claims.
// Fails with kCorrupt when the envelope is too short, has an unknown format, names
// another key id than `key`, or its tag does not verify (wrong key, any other header, any
// changed byte). On failure no plaintext is returned and the work buffer is zeroed.
// kInvalidArgument on a bad `expected` header; kInternal when OpenSSL fails.
Result<Bytes> OpenChangeset(const ChangesetKey& key, const EnvelopeHeader& expected,
                            ByteView sealed);

}  // namespace unitsync::protocol
