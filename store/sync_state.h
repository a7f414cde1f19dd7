// Durable sync state beside the data: a unit's outbox of sealed pushes, the
// cursors that must advance in the same transaction as an apply, and
// central's generation id. The protocol core decides *when*; this file keeps
// *what* survives a crash (DESIGN.md "Cursors", "Recovery").
//
// Unit side (engine meta keys in _us_meta):
//   push_built_seq      highest changeset seq built into the outbox
//   push_built_log_seq  change-log seq the newest outbox entry covers
//   push_acked_seq      highest changeset seq central acknowledged
//   push_acked_log_seq  change-log seq covered by that acknowledged entry
//   central_generation  last generation id seen in WELCOME ("" = never)
//   seed_*              a re-seed wanted or in progress (SeedState below)
//   The pull cursor (central log seq applied) is _us_peers[central].received_seq,
//   advanced by ApplyChangeset(... ApplyOptions::advance_received).
//
// Central side:
//   generation          this central's generation id (set at Create)
//   _us_peers[unit].received_seq   highest push seq of that unit applied
//   _us_peers[unit].acked_seq      highest central log seq the unit acknowledged
//   peer_built/<unit>   highest push seq the unit said in a HELLO it had built
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "common/error.h"
#include "store/replica.h"
#include "store/value.h"

namespace unitsync::store {

// The _us_meta keys above (a missing key reads as 0, or "" for ids).
inline constexpr const char* kMetaPushBuiltSeq = "push_built_seq";
inline constexpr const char* kMetaPushBuiltLogSeq = "push_built_log_seq";
inline constexpr const char* kMetaPushAckedSeq = "push_acked_seq";
inline constexpr const char* kMetaPushAckedLogSeq = "push_acked_log_seq";
inline constexpr const char* kMetaCentralGeneration = "central_generation";
inline constexpr const char* kMetaGeneration = "generation";

// One outgoing changeset, sealed once; a resend sends these exact bytes.
struct OutboxEntry {
  int64_t seq = 0;      // push seq (1, 2, ...)
  int64_t log_seq = 0;  // every change-log entry <= it is covered (with the earlier entries)
  int64_t rows = 0;
  Blob sealed;  // opaque to the store (protocol/ seals it)
  bool operator==(const OutboxEntry&) const = default;
};

struct OutboxState {
  int64_t built_seq = 0;
  int64_t built_log_seq = 0;
  int64_t acked_seq = 0;
  int64_t acked_log_seq = 0;
  int64_t pending = 0;  // entries in the outbox (built, not acked)
};

Result<OutboxState> GetOutboxState(Replica& replica);

// Appends the next entry and advances push_built_seq / push_built_log_seq, in
// one transaction. Fails with kInvalidArgument unless entry.seq ==
// built_seq + 1, entry.log_seq >= built_log_seq and entry.rows >= 0; on
// failure nothing changes.
Status AppendOutbox(Replica& replica, const OutboxEntry& entry);

// Entries with seq > after_seq, oldest first, at most `limit`.
Result<std::vector<OutboxEntry>> ListOutbox(Replica& replica, int64_t after_seq, size_t limit);

// Central acknowledged every push <= upto_seq: deletes those entries, sets
// push_acked_seq / push_acked_log_seq (never backwards) and trims the change
// log up to push_acked_log_seq, in one transaction (TrimChangeLog: never an
// unstamped entry, always keeps the newest). An ack <= acked_seq (late or
// repeated) changes nothing. An ack beyond built_seq fails with
// kInvalidArgument (central claims what we never built: a recovery case the
// caller handles with ResetOutbox); a built entry missing from the outbox
// fails with kCorrupt. On failure nothing changes.
Status AckOutbox(Replica& replica, int64_t upto_seq);

// Central lost what it had acknowledged (a new generation), or has applied
// more of our pushes than we remember (we were restored): forget the outbox,
// continue numbering after `central_applied_seq` (built = acked =
// central_applied_seq) and re-queue every row of the unit-scope tables we
// hold (one change-log entry per _us_clock record, tombstones included, op
// 'R', unit = the record's unit, wall_ms = now), so the next builds after
// push_built_log_seq resend our whole state. push_built_log_seq and
// push_acked_log_seq stay as they are. 'R' stamps no new version: the
// resend repeats our writes, and merge makes it idempotent. One
// transaction; kInvalidArgument for a negative central_applied_seq.
Status ResetOutbox(Replica& replica, int64_t central_applied_seq);

// Last central generation seen (empty: never connected) / remember a new one
// (meta central_generation; meant for a unit).
Result<std::string> GetSeenGeneration(Replica& replica);
Status SetSeenGeneration(Replica& replica, const std::string& generation);

// Central: its generation id (a fresh UUIDv7-based id made at Create, "g-" +
// uuid). NewGeneration replaces it (after a restore from backup). Both fail
// with kInvalidArgument on a unit replica; GetGeneration with kCorrupt when
// the id is missing.
Result<std::string> GetGeneration(Replica& replica);
Status NewGeneration(Replica& replica);

// ---- re-seeding a unit (FORMAT.md SNAPSHOT_*) ----

// A unit's re-seed: wanted (a new or emptied replica), then in progress chunk by chunk.
// Kept in _us_meta (seed_wanted, seed_snap, seed_next, seed_table, seed_after,
// seed_head, seed_rows, seed_total, seed_forced) and written in the same transaction as each
// chunk's rows, so an interrupted re-seed resumes after the last chunk applied.
struct SeedState {
  bool wanted = false;
  std::string snapshot;  // "" until the first chunk is applied
  int64_t next_chunk = 0;
  std::string after_table;  // resume after this row ("" = from the start)
  std::string after_pk;
  int64_t head = 0;        // central log head of the snapshot's first BEGIN
  int64_t rows_done = 0;   // rows applied so far
  int64_t rows_total = 0;  // as central last announced it
  // Central trimmed its log past our pull cursor (log_gc.h): the snapshot replaces the
  // log, so rows it does not deliver are evicted at the end (seed_tracking.h) and the
  // pull cursor becomes the snapshot's head.
  bool forced = false;
};

Result<SeedState> GetSeedState(Replica& replica);
// The _us_meta writes that record `state` (ApplyOptions::set_meta of a chunk's apply).
std::vector<std::pair<std::string, std::string>> SeedStateMeta(const SeedState& state);
// Asks for a re-seed at the next connection (`unitsyncctl reseed`, a restored unit, or
// `forced`: central's WELCOME said its log no longer reaches our pull cursor); one under
// way keeps its progress — and becomes forced if asked so, then starting over from its
// first chunk when it was not forced before. kInvalidArgument at central.
Status RequestSeed(Replica& replica, bool forced = false);
// The snapshot is complete, in one transaction: the seed state is cleared and the pull
// cursor at `central` becomes `head` (or stays, when it was lower and not 0:
// protocol::SeededPull). A forced seed first evicts the rows the snapshot did not
// deliver (seed_tracking.h; local work on them is kept as 'evict' conflicts), forgets the
// unsent pushes, and always moves the cursor to `head`.
Status FinishSeed(Replica& replica, const std::string& central, int64_t head);
// True for a replica that has never held or synced anything: no rows, no change-log
// entries, no cursors, no generation seen. Such a unit is seeded by snapshot.
Result<bool> IsPristine(Replica& replica);

// Central: the highest push seq a unit has claimed in HELLO (lost-at-unit reports); 0 when
// none was recorded, kCorrupt when the stored value is not a plain non-negative number.
Result<int64_t> GetPeerBuilt(Replica& replica, const std::string& unit);
Status SetPeerBuilt(Replica& replica, const std::string& unit, int64_t built);

}  // namespace unitsync::store
