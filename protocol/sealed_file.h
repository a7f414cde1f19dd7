// Sealed files: backups and offline bundles at rest (FORMAT.md section 7).
//
// A sealed file is a short plain header followed by length-prefixed envelopes
// (section 3). The header only says where to look; everything in it is bound into the
// associated data of every record, so a changed header opens nothing. Record 0 is a
// manifest sealed like the rest; the records after it are backup chunks (kind backup)
// or, in a bundle, changesets sealed exactly as on the wire (PUSH or CHANGES envelopes).
//
// Pure code: bytes in, bytes out; file I/O lives in recovery/. Thread-safe (no state).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/error.h"
#include "protocol/bytes.h"
#include "protocol/envelope.h"

namespace unitsync::protocol {

enum class SealedFileKind : uint8_t {
  kBackup = 1,  // magic "USBK": a replica's database, in chunks
  kBundle = 2,  // magic "USBN": changesets carried by hand
};

inline constexpr size_t kSealedFileMagicSize = 4;
inline constexpr uint8_t kSealedFileFormat = 1;
// A record (one envelope) is at most this long; bounded before allocating.
inline constexpr uint32_t kMaxSealedRecord = 16 * 1024 * 1024 + kEnvelopeOverhead;
// Records in one file, manifest included.
inline constexpr uint64_t kMaxSealedRecords = uint64_t{1} << 32;

struct SealedFileHeader {
  SealedFileKind kind = SealedFileKind::kBackup;
  std::string origin;       // node that sealed it
  std::string destination;  // node that opens it (a backup: the same node)
  std::string file_id;      // fresh per file; the records' stream
  uint64_t records = 0;     // manifest included, >= 1
  bool operator==(const SealedFileHeader&) const = default;
};

// magic | format | origin | destination | file id | records (u64 BE). kInvalidArgument
// when an id is not an id or records is 0 or over the limit.
Result<Bytes> EncodeSealedFileHeader(const SealedFileHeader& header);
// The longest header there can be: read this much (or the whole file, if shorter) and
// decode from it.
inline constexpr size_t kMaxSealedFileHeader = kSealedFileMagicSize + 1 + 3 * (1 + kMaxIdBytes) + 8;
// Decodes a header from the start of `bytes`; `consumed` gets its length. kMalformed when
// the magic, format or any field is wrong, or `bytes` ends inside the header.
Result<SealedFileHeader> DecodeSealedFileHeader(ByteView bytes, size_t& consumed);

// The envelope header record `index` of a file is sealed for (backup: kind backup, seq
// index..records-1; bundle manifest: kind bundle, 0..records-1). Bundle records after the
// manifest carry their own wire headers (BundleRecord).
EnvelopeHeader SealedRecordHeader(const SealedFileHeader& file, uint64_t index);

// ---- backups ----

enum class BackupRole : uint8_t { kUnit = 1, kCentral = 2 };

// Record 0 of a backup.
struct BackupManifest {
  BackupRole role = BackupRole::kUnit;
  std::string node_id;
  int64_t created_ms = 0;
  uint32_t schema_version = 0;
  uint64_t database_bytes = 0;  // plaintext bytes over all chunks
  uint32_t chunk_bytes = 0;     // every chunk but the last is this long
  bool operator==(const BackupManifest&) const = default;
};
Bytes EncodeBackupManifest(const BackupManifest& manifest);
// kMalformed on any deviation (wrong format byte, bad id, chunk size 0 or over the
// record limit, trailing bytes).
Result<BackupManifest> DecodeBackupManifest(ByteView bytes);

// ---- offline bundles ----

enum class BundleKind : uint8_t {
  kPushes = 1,  // unit → central: the unit's unacknowledged PUSH envelopes
  kReply = 2,   // central → unit: what central applied, and CHANGES for the unit
};

// One changeset record of a bundle: its wire sequence numbers (PUSH: seq, seq; CHANGES:
// from, to). The envelope itself is the record in the file.
struct BundleRecord {
  uint64_t seq_from = 0;
  uint64_t seq_to = 0;
  bool operator==(const BundleRecord&) const = default;
};

// Record 0 of a bundle.
struct BundleManifest {
  BundleKind kind = BundleKind::kPushes;
  int64_t created_ms = 0;
  // kPushes: push seq central acknowledged, as the unit knew it. kReply: highest push seq
  // of the unit central has applied (the unit acknowledges up to it).
  uint64_t applied = 0;
  // kPushes: the unit's cursor into central's log. kReply: central's log head.
  uint64_t pull = 0;
  // kPushes: the central generation the unit last saw. kReply: central's generation (the
  // stream the CHANGES records are sealed under).
  std::string generation;
  std::vector<BundleRecord> records;  // one per record after the manifest, in order
  bool operator==(const BundleManifest&) const = default;
};
Bytes EncodeBundleManifest(const BundleManifest& manifest);
Result<BundleManifest> DecodeBundleManifest(ByteView bytes);

}  // namespace unitsync::protocol
