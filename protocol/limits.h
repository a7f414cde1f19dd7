// Protocol versions and hard limits. protocol/FORMAT.md section 4 is the same table in
// prose; format_doc_test.cc keeps the examples honest, these constants keep the limits.
#pragma once

#include <cstddef>
#include <cstdint>

namespace unitsync::protocol {

// Protocol versions this build speaks: [kMinProtocolVersion, kMaxProtocolVersion].
inline constexpr uint16_t kMinProtocolVersion = 1;
inline constexpr uint16_t kMaxProtocolVersion = 1;

// Frame body length bounds. The configured maximum must lie in
// [kMinConfigurableMaxFrame, kMaxConfigurableMaxFrame].
inline constexpr size_t kDefaultMaxFrame = 4 * 1024 * 1024;
inline constexpr size_t kMinConfigurableMaxFrame = 1024;
inline constexpr size_t kMaxConfigurableMaxFrame = 64 * 1024 * 1024;
inline constexpr size_t kFrameHeaderSize = 4;

// msgpack unpack limits (every message, also inside keys the decoder would reject).
inline constexpr size_t kMaxDepth = 3;  // map -> array (NACK rows, DIGESTS tables) -> array
inline constexpr size_t kMaxMapEntries = 16;
inline constexpr size_t kMaxArrayElements = 4096;
inline constexpr size_t kMaxStrBytes = 1024;
// bin is bounded by the configured max frame; ext is not allowed at all.

// Field limits.
inline constexpr size_t kMaxIdBytes = 64;      // node, generation, snapshot ids
inline constexpr size_t kMaxTextBytes = 1024;  // NACK reason, ERROR msg, DIGESTS error
inline constexpr size_t kMaxNackRows = 4096;
inline constexpr uint64_t kMaxSeq = (uint64_t{1} << 63) - 1;  // fits SQLite INTEGER
inline constexpr uint64_t kMaxSnapshotChunks = uint64_t{1} << 32;
inline constexpr size_t kMaxDigestTables = 256;  // DIGESTS tables
inline constexpr size_t kSha256Bytes = 32;       // DIGESTS table hash

// A sealed envelope is format byte + key id + nonce + ciphertext + tag (FORMAT.md section
// 3), so it is never shorter than its overhead.
inline constexpr size_t kEnvelopeOverhead = 1 + 4 + 12 + 16;

// Room a PUSH / CHANGES / SNAPSHOT_CHUNK frame needs besides its envelope bytes: the
// msgpack map, keys, integers and the bin header all fit in this many bytes.
inline constexpr size_t kFrameOverheadForEnvelope = 128;

}  // namespace unitsync::protocol
