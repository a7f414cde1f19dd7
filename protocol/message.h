// The protocol's messages as plain structs (protocol/FORMAT.md section 2).
// A decoded message satisfies every range rule of FORMAT.md; an encoder refuses a struct
// that does not (EncodeMessage in protocol/message_codec.h).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "protocol/bytes.h"

namespace unitsync::protocol {

// Wire values of the "t" key.
enum class MessageType : uint8_t {
  kHello = 1,
  kWelcome = 2,
  kPush = 3,
  kAck = 4,
  kNack = 5,
  kChanges = 6,
  kSnapshotBegin = 7,
  kSnapshotChunk = 8,
  kSnapshotEnd = 9,
  kPing = 10,
  kPong = 11,
  kError = 12,
  kVerify = 13,
  kDigests = 14,
};

// What an ACK or NACK refers to (the "of" key).
enum class AckOf : uint8_t {
  kPush = 1,      // a unit changeset (PUSH seq); sent by central
  kChanges = 2,   // central's fan-out (CHANGES to); sent by the unit
  kSnapshot = 3,  // a snapshot chunk (SNAPSHOT_CHUNK i); sent by the unit
};

enum class NackCode : uint8_t {
  kCorrupt = 1,     // envelope did not open; seq not consumed
  kMalformed = 2,   // plaintext did not decode; seq not consumed, do not resend
  kPartial = 3,     // applied except `rows`; seq consumed
  kOutOfOrder = 4,  // gap before seq; resend from the receiver's cursor
  kBusy = 5,        // resend after backoff
  kInternal = 6,    // resend after backoff
};

enum class ErrorCode : uint8_t {
  kMalformed = 1,
  kUnsupportedVersion = 2,
  kUnexpectedMessage = 3,
  kNotAuthorized = 4,
  kOverloaded = 5,
  kInternal = 6,
  kReseedRequired = 7,
  kShuttingDown = 8,
};

// A unit asking for a snapshot of its scope (re-seed), in HELLO.
struct SeedRequest {
  std::string snapshot_id;  // fresh for a new snapshot; the same to resume one
  uint64_t next_chunk = 0;  // chunk index to continue with (0: new)
  std::string after_table;  // resume after row `after_pk` of this table ("": the start)
  std::string after_pk;
  bool operator==(const SeedRequest&) const = default;
};

struct Hello {
  uint16_t min_version = 0;
  uint16_t max_version = 0;
  std::string node_id;
  uint64_t push_seq = 0;            // highest changeset seq the unit has built
  uint64_t pull_seq = 0;            // unit's cursor into central's log
  std::string central_generation;   // last seen; empty = never connected
  std::optional<SeedRequest> seed;  // set: send a snapshot instead of the log
  bool operator==(const Hello&) const = default;
};

struct Welcome {
  uint16_t version = 0;  // chosen
  std::string node_id;   // central's
  std::string generation;
  uint64_t applied_seq = 0;  // highest changeset seq of this unit applied at central
  uint64_t log_head = 0;     // central log head
  bool operator==(const Welcome&) const = default;
};

struct Push {
  uint64_t seq = 0;
  Bytes envelope;  // sealed changeset, kind push
  bool operator==(const Push&) const = default;
};

struct Ack {
  AckOf of = AckOf::kPush;
  uint64_t seq = 0;
  bool operator==(const Ack&) const = default;
};

struct RowRejection {
  std::string table;
  std::string id;
  uint16_t reason = 0;  // store-owned registry
  bool operator==(const RowRejection&) const = default;
};

struct Nack {
  AckOf of = AckOf::kPush;
  uint64_t seq = 0;
  NackCode code = NackCode::kInternal;
  std::string reason;  // for logs; never row values
  std::vector<RowRejection> rows;
  bool operator==(const Nack&) const = default;
};

struct Changes {
  uint64_t from_seq = 0;
  uint64_t to_seq = 0;
  Bytes envelope;  // sealed changeset, kind changes
  bool operator==(const Changes&) const = default;
};

struct SnapshotBegin {
  std::string snapshot_id;
  uint64_t log_head = 0;  // central log head as this snapshot (or its resumed part) began
  uint64_t rows = 0;      // rows and tombstones in the unit's whole snapshot (progress)
  bool operator==(const SnapshotBegin&) const = default;
};

struct SnapshotChunk {
  std::string snapshot_id;
  uint64_t index = 0;
  Bytes envelope;  // sealed chunk, kind snapshot
  bool operator==(const SnapshotChunk&) const = default;
};

struct SnapshotEnd {
  std::string snapshot_id;
  uint64_t chunk_count = 0;  // index after the last chunk: every chunk of the snapshot
  uint64_t rows = 0;         // rows sent since BEGIN
  bool operator==(const SnapshotEnd&) const = default;
};

struct Ping {
  uint64_t nonce = 0;
  bool operator==(const Ping&) const = default;
};

struct Pong {
  uint64_t nonce = 0;
  bool operator==(const Pong&) const = default;
};

struct ErrorMessage {
  ErrorCode code = ErrorCode::kInternal;
  std::string message;  // for logs; never row values
  bool operator==(const ErrorMessage&) const = default;
};

// "Send me your per-table digests of this session's unit scope" (either direction, once
// the session is established).
struct Verify {
  uint64_t id = 0;  // chosen by the requester, echoed in DIGESTS; 1 .. kMaxSeq
  bool operator==(const Verify&) const = default;
};

// Where the sender stood when it computed its digests (DIGESTS; FORMAT.md section 2 says
// what each field means for each sender).
struct VerifyPosition {
  uint64_t push = 0;     // unit: highest push seq built; central: this unit's pushes applied
  uint64_t pull = 0;     // unit: central log seq applied; central: what the unit acknowledged
  uint64_t head = 0;     // the sender's own change-log head
  uint64_t waiting = 0;  // rows the sender still has to send the other side (probed, capped)
  bool operator==(const VerifyPosition&) const = default;
};

// One table's digest as it travels (store/digest.h computes it).
struct TableDigest {
  std::string table;  // manifest table name (an id)
  uint64_t rows = 0;
  uint64_t tombstones = 0;
  Bytes sha256;  // exactly 32 bytes
  bool operator==(const TableDigest&) const = default;
};

// The answer to VERIFY: the sender's digests of the session's unit scope, or why it has none.
struct Digests {
  uint64_t id = 0;  // the VERIFY's id
  VerifyPosition position;
  std::string error;  // empty: `tables` holds the digests; else why not (tables empty)
  std::vector<TableDigest> tables;
  bool operator==(const Digests&) const = default;
};

// Alternatives are in wire-type order: index() + 1 == the "t" value.
using Message = std::variant<Hello, Welcome, Push, Ack, Nack, Changes, SnapshotBegin, SnapshotChunk,
                             SnapshotEnd, Ping, Pong, ErrorMessage, Verify, Digests>;

MessageType TypeOf(const Message& message);

// "HELLO", "SNAPSHOT_CHUNK", ... as in FORMAT.md.
std::string_view MessageTypeName(MessageType type);

}  // namespace unitsync::protocol
