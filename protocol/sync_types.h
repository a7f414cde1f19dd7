// Vocabulary of the sans-I/O sync core (protocol/uplink.h, protocol/hub.h).
//
// The core is a plain object driven by events — bytes received, connection up or down,
// timer fired, local change noticed, store result — that queues actions — bytes to send,
// timers to arm, store work to do, log lines. It reads time and randomness only through
// SyncEnv, so tests drive it deterministically; it never blocks and never does I/O.
//
//   driver (daemon/ with Asio, or tests/ with a fake link)
//     ──events──► Uplink / HubSession ──TakeActions()──► driver carries them out
//     ◄──store results (OnStoreResult)── store work done on the replica
//
// Store work and its results travel as plain structs. The core never sees keys or
// plaintext: whoever carries out the work seals and opens envelopes (protocol/envelope.h)
// with the header FORMAT.md section 3 prescribes, so the core stays small and testable.
// At most one store request is outstanding per core object at a time; a result always
// answers the request issued last.
#pragma once

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "common/error.h"
#include "protocol/bytes.h"
#include "protocol/limits.h"
#include "protocol/message.h"
#include "protocol/verify.h"

namespace unitsync::protocol {

// Time and randomness, injected. Monotonic time: never jumps back.
class SyncEnv {
 public:
  virtual ~SyncEnv() = default;
  virtual int64_t MonotonicMs() = 0;
  virtual uint64_t Random() = 0;
};

// Session tuning; defaults suit a unit on a school network.
struct SyncOptions {
  // PUSHes (at the unit) or CHANGES (at central) in flight before an ACK is needed.
  uint32_t window = 8;
  // A PING is sent after this long without sending anything.
  int64_t ping_interval_ms = 30'000;
  // The session is closed when nothing arrives for this long (≥ 2 ping intervals).
  int64_t read_deadline_ms = 90'000;
  // Connect + TLS + HELLO/WELCOME must finish within this.
  int64_t handshake_timeout_ms = 15'000;
  // Reconnect delay: base × 2^attempt, capped, with jitter in [delay/2, delay].
  int64_t backoff_base_ms = 1'000;
  int64_t backoff_max_ms = 300'000;
  // Frame limit for both directions (FORMAT.md section 4).
  size_t max_frame = kDefaultMaxFrame;
  // A verify we started fails when it has not completed within this (the peer's answer
  // and our own digests included).
  int64_t verify_timeout_ms = 60'000;
};

enum class TimerId : uint8_t {
  kReconnect = 1,  // uplink: next connect attempt
  kHandshake = 2,  // connect + handshake deadline
  kHeartbeat = 3,  // time to send a PING
  kReadDeadline = 4,
  kRetry = 5,   // resend after a NACK busy/internal
  kVerify = 6,  // the earliest deadline of the verifies we started
};

enum class LogLevel : uint8_t { kInfo, kWarning, kError };

// ---- actions common to both roles ----

struct SendFrame {
  Bytes frame;  // length prefix + body, ready to write
};
struct ArmTimer {
  TimerId id;
  int64_t after_ms;  // replaces an armed timer with the same id
};
struct CancelTimer {
  TimerId id;
};
// Open a transport connection (uplink only); answer with OnConnected or OnDisconnected.
struct Connect {};
// Close the transport after writing what was queued. No OnDisconnected follows.
struct CloseConnection {
  std::string reason;
};
// Central: accepted rows reached central's log; every other unit's session should be
// told (HubSession::OnLogAdvanced) so it fans them out.
struct LogAdvanced {};
// A verify started with StartVerify(id) has ended: the report, or why there is none
// (Errc::kUnavailable: the session ended first or the peer did not answer in time;
// kBusy: the peer answered without digests (its store failed, or it is busy); anything
// else: our own store failed). Exactly one per started id.
struct VerifyDone {
  uint64_t id = 0;
  Result<VerifyReport> result;
};
// One line for the operator; never contains row values.
struct LogLine {
  LogLevel level;
  std::string event;   // stable event name, e.g. "push_rejected_rows"
  std::string fields;  // key=value pairs
};

// A unit's re-seed, wanted or under way (FORMAT.md SNAPSHOT_*; the store keeps it
// durable with each chunk applied).
struct SeedProgress {
  std::string snapshot;  // "" until the first chunk is applied (the uplink picks one)
  uint64_t next_chunk = 0;
  std::string after_table;  // resume after this row ("" = from the start)
  std::string after_pk;
  uint64_t head = 0;        // central log head of the snapshot's first BEGIN (0: none yet)
  uint64_t rows_done = 0;   // rows applied so far
  uint64_t rows_total = 0;  // as central last announced them
  // Central's log no longer reaches our pull cursor (ERROR reseed_required): rows the
  // snapshot does not deliver are evicted and the pull cursor becomes the head.
  bool forced = false;
  bool operator==(const SeedProgress&) const = default;
};

// The pull cursor after a snapshot whose first BEGIN had `head`: a unit that never pulled
// continues after `head`; one that had (a restored replica, an admin's re-seed of a
// replica with data) continues from the lower of the two, so moves and deletes of rows
// it already held that happened before `head` still reach it.
inline uint64_t SeededPull(uint64_t pull, uint64_t head) {
  return pull == 0 ? head : (pull < head ? pull : head);
}

// ---- store work a unit's uplink asks for ----

// Returns outbox entries with seq > after_seq (oldest first, at most `limit`), building
// new ones from the change log when the outbox holds fewer. Answer: PushesReady.
struct FetchPushes {
  uint64_t after_seq = 0;
  uint32_t limit = 0;
};
// Central applied every push <= seq: drop them from the outbox. Answer: StoreDone.
struct AckPushes {
  uint64_t seq = 0;
};
// Open a CHANGES envelope (kind changes, origin = central, destination = this unit,
// seq_from/seq_to = from/to, stream = generation) and apply it, advancing the pull cursor
// to `to` in the same transaction. Answer: ChangesApplied.
struct ApplyChanges {
  uint64_t from = 0;
  uint64_t to = 0;
  std::string generation;
  std::string central_node;
  Bytes envelope;
};
// Central restored from a backup (new generation) or out of step with our cursors:
// renumber pushes after `central_applied`, re-queue our whole own state, set the pull
// cursor to `pull`, remember `generation`. Answer: StoreDone.
struct Resync {
  uint64_t central_applied = 0;
  uint64_t pull = 0;
  std::string generation;
};
// Central said its log no longer reaches our pull cursor: re-seed, forced (store
// RequestSeed). Answer: StoreDone.
struct ForceSeed {};
// Remember the generation id seen in WELCOME. Answer: StoreDone.
struct SaveGeneration {
  std::string generation;
};
// Central refused rows of push `seq`: keep them for the admin. Answer: StoreDone.
struct RecordRejections {
  uint64_t seq = 0;
  std::vector<RowRejection> rows;
};
// Open a SNAPSHOT_CHUNK envelope (kind snapshot, origin = central, destination = this
// unit, seq_from = seq_to = `index`, stream = `snapshot`) and merge its rows; in the same
// transaction advance the durable seed state past it (next chunk, resume key = the
// chunk's last row, rows; snapshot, head and rows_total recorded). The chunk must be the
// one the durable state expects. Answer: SnapshotChunkApplied.
struct ApplySnapshotChunk {
  std::string snapshot;
  uint64_t index = 0;
  uint64_t head = 0;        // the snapshot's head (kept from its first BEGIN)
  uint64_t rows_total = 0;  // from the latest BEGIN
  std::string central_node;
  Bytes envelope;
};
// Every chunk is applied: the pull cursor becomes SeededPull(cursor, head) and the seed
// state is cleared, in one transaction. Answer: StoreDone.
struct FinishSnapshot {
  uint64_t head = 0;
};

// ---- store work central's hub session asks for ----

// Where this unit stands at central; `unit_built` is the push seq its HELLO claims to
// have built, remembered to tell what a unit that lost its disk never sent. For a HELLO
// (`hello`), its pull cursor too: central's log GC (store/log_gc.h) decides whether the
// unit must re-seed. Answer: UnitLoaded.
struct LoadUnit {
  uint64_t unit_built = 0;
  uint64_t pull = 0;
  bool hello = false;
};
// Open a PUSH envelope (kind push, origin = unit, destination = central, seq_from =
// seq_to = seq), authorize and apply it, advancing the unit's applied cursor to `seq` in
// the same transaction. Answer: PushApplied.
struct ApplyPush {
  uint64_t seq = 0;
  Bytes envelope;
};
// Build and seal the unit's fan-out from central's log after `after_seq`, as CHANGES
// from `from` (≤ after_seq + 1: skipped empty ranges are folded in) to the last log seq
// examined. Answer: ChangesBuilt.
struct BuildChanges {
  uint64_t after_seq = 0;
  uint64_t from = 0;
  std::string generation;
};
// The unit has applied central's log up to seq. Answer: StoreDone.
struct AckChanges {
  uint64_t seq = 0;
};
// The log head and the size of this unit's snapshot. Answer: SnapshotStarted.
struct StartSnapshot {};
// Build and seal chunk `index` of snapshot `snapshot`: the rows of the unit's scope after
// (after_table, after_pk) in snapshot order (store/changeset_builder.h). Answer:
// SnapshotChunkBuilt.
struct BuildSnapshotChunk {
  std::string snapshot;
  uint64_t index = 0;
  std::string after_table;
  std::string after_pk;
};

// ---- store work both roles ask for ----

// This node's per-table digests of the session's unit scope (the unit: its own unit;
// central: the session's unit; central-scope tables in full on both sides), and the
// position it stood at (FORMAT.md DIGESTS). `id` and `for_peer` are the core's
// bookkeeping: an answer to the peer's VERIFY, or our own side of a verify we started.
// Answer: DigestsComputed.
struct ComputeDigests {
  uint64_t id = 0;
  bool for_peer = false;
};

using StoreWork =
    std::variant<FetchPushes, AckPushes, ApplyChanges, Resync, ForceSeed, SaveGeneration,
                 RecordRejections, ApplySnapshotChunk, FinishSnapshot, LoadUnit, ApplyPush,
                 BuildChanges, AckChanges, StartSnapshot, BuildSnapshotChunk, ComputeDigests>;

using SyncAction = std::variant<SendFrame, ArmTimer, CancelTimer, Connect, CloseConnection,
                                LogAdvanced, LogLine, StoreWork, VerifyDone>;

// ---- store results ----

// How a store request that opens and applies an envelope ended.
enum class ApplyOutcome : uint8_t {
  kApplied,    // durable; `rejected` lists refused rows (then a NACK partial is due)
  kCorrupt,    // the envelope did not open: nothing applied
  kMalformed,  // it opened but did not decode, or the replica refuses it whole
  kBusy,       // transient (locked, disk full): nothing applied, retry later
  kInternal,   // unexpected failure: nothing applied
};

struct StoreDone {
  bool ok = true;
  std::string error;  // when !ok: for the log, no values
  // Central: the work appended to central's log (AckChanges whose log GC logged
  // evictions of collected tombstones): fan out.
  bool log_advanced = false;
};
struct PushesReady {
  struct Entry {
    uint64_t seq = 0;
    Bytes sealed;
  };
  std::vector<Entry> entries;
  // More is waiting (in the outbox or the change log) than `limit` allowed: fetch again
  // as soon as the window has room, without waiting for a new local change.
  bool more = false;
  bool ok = true;
  std::string error;
};
struct ChangesApplied {
  ApplyOutcome outcome = ApplyOutcome::kApplied;
  std::vector<RowRejection> rejected;
  std::string error;
};
struct UnitLoaded {
  bool ok = true;
  std::string error;
  uint64_t applied_seq = 0;  // highest push of this unit applied
  uint64_t log_head = 0;
  std::string generation;
  // The unit once said it had built pushes up to `lost_to`, but its HELLO now claims
  // fewer than central applied: pushes (applied_seq, lost_to] never reached central and
  // are gone with the unit's disk. 0: nothing lost.
  uint64_t lost_to = 0;
  // Central's log was trimmed past the unit's pull cursor (or tombstones it may still
  // write against are gone): the unit must re-seed before it syncs.
  bool must_reseed = false;
};
struct PushApplied {
  ApplyOutcome outcome = ApplyOutcome::kApplied;
  std::vector<RowRejection> rejected;
  bool log_advanced = false;  // accepted rows reached central's log: fan out to others
  uint64_t applied_seq = 0;   // the unit's applied cursor after this request
  std::string error;
};
struct ChangesBuilt {
  bool ok = true;
  std::string error;
  uint64_t to = 0;  // last central log seq examined (new fan-out cursor)
  size_t rows = 0;  // 0: nothing for this unit in (after_seq, to]
  // When rows > 0, or (rows == 0) an empty changeset the hub may send to move the unit's
  // cursor past entries meant for others (HubSession: kAdvanceAfter).
  Bytes sealed;
  bool more = false;  // the log holds entries after `to`
  // The log was trimmed past `after_seq` (store/log_gc.h): the unit must re-seed.
  bool must_reseed = false;
};

struct DigestsComputed {
  bool ok = true;
  Errc code = Errc::kInternal;  // when !ok
  std::string error;            // when !ok: for the log and the peer, no values
  VerifyPosition position;      // read after the digests (see daemon/sync_executor.h)
  std::vector<TableDigest> tables;
};

struct SnapshotChunkApplied {
  ApplyOutcome outcome = ApplyOutcome::kApplied;
  std::string error;
  SeedProgress progress;  // after the chunk (durable when applied)
};
struct SnapshotStarted {
  bool ok = true;
  std::string error;
  uint64_t log_head = 0;
  uint64_t rows = 0;
};
struct SnapshotChunkBuilt {
  bool ok = true;
  std::string error;
  uint64_t rows = 0;
  Bytes sealed;            // when rows > 0
  std::string last_table;  // resume after this row
  std::string last_pk;
  bool done = false;  // nothing after it
};

using StoreResult =
    std::variant<StoreDone, PushesReady, ChangesApplied, UnitLoaded, PushApplied, ChangesBuilt,
                 DigestsComputed, SnapshotChunkApplied, SnapshotStarted, SnapshotChunkBuilt>;

}  // namespace unitsync::protocol
