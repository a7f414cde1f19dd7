// Applies a changeset to a replica: column-level last-writer-wins on
// (hlc, origin), final tombstones, conflicts recorded — never silently lost.
//
// Per column, with `in` the incoming version and `cur` the receiver's:
//   in == cur                   duplicate: nothing happens (idempotent).
//   in >  cur                   in wins. If cur > in.prev, the writer of `in`
//                               never saw cur: a conflict (loser: cur).
//   in <  cur                   cur stays. If in > cur.prev, the writer of
//                               cur never saw `in`: a conflict (loser: in).
//   (`prev` is the newest version from another node that the writer's chain
//   of writes replaced; two versions from the same origin are never a
//   conflict: one node writes a column sequentially.)
// Rows:
//   tombstone vs live row       delete wins, whatever the timestamps; each
//                               column the deleter had not seen (cur newer
//                               than the deleter's view) is a conflict.
//   update vs tombstone         the row stays deleted; a version newer than
//                               the deleter's view is a conflict.
//   tombstone vs tombstone      the higher tombstone version is kept.
// The result is a join of per-column maxima and an absorbing tombstone, so
// merge is commutative, associative and idempotent: the same set of
// changesets in any order, any number of times, gives the same state.
// (Which replica records a given conflict may differ; the data does not.)
//
// Purges (purge.h): the row, its conflicts, rejections and change-log entries
// are erased without capture and a marker (the clock record, deleted = 2) is
// kept; of two purges the higher version stays. A purged row never comes back:
// an upsert or tombstone for it changes nothing, and at central a unit's is
// refused (kPurged) and answered with a 'P' entry for that unit. Central logs a
// merged purge as 'P' for the row's unit and the units it moved away from. A
// unit erases a row purged after it moved to another unit and keeps no marker of it
// (its scope is its own rows).
//
// Evictions (central fan-out only): the unit drops the row and its clock
// record without capturing it; a row it does not have is a no-op. If the
// row has change-log entries central has not acknowledged (seq >
// push_acked_log_seq, sync_state.h), each column whose version this node
// wrote is kept in _us_conflicts as kind 'evict' (winner: no value, version
// 0 / ""). An eviction is an instruction, not a state: it relies on the
// fan-out being applied in central-log order (the received_seq cursor),
// not on commutativity. Central ignores evictions (rows_unchanged) unless
// it authorizes a unit's push, where they are rejected (kEviction).
//
// A changeset applies in one transaction. It fails as a whole, with nothing
// applied, when it cannot be applied as sent: bytes that do not decode, an
// unknown table or column, a value breaking a CHECK or STRICT type rule
// (kRejected: schema skew between versions — stop rather than half-apply),
// storage errors. Foreign keys are not checked during a merge (a child may
// arrive before its parent). Otherwise each row is applied or refused on its
// own and the rest still applies: a refused row leaves nothing behind (no
// value, clock, change-log entry or conflict) and is listed in
// MergeReport::rejected. Rows are refused, first match wins, when:
//   authorize_unit = U and the table is central scope      kCentralScope
//   the block names a local-only column (any sender)        kLocalOnlyColumn
//   authorize_unit = U and the row is an eviction           kEviction
//   authorize_unit = U, the row is purged here and the
//     incoming row is not a purge                           kPurged
//   authorize_unit = U and a version the row carries (a
//     column's or its tombstone's) is more than
//     kMaxFutureVersionMs ahead of this replica's clock     kFutureVersion
//   authorize_unit = U and the incoming routing value (a
//     tombstone's unit) is not U                            kForeignUnit
//   authorize_unit = U and the stored row (its clock's unit,
//     or the live row's routing value) is not U's           kOwnedElsewhere
// Every received row is counted once: rows_received = inserted + updated +
// deleted + tombstoned + unchanged + evicted + purged + rejected.size().
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/error.h"
#include "store/changeset.h"
#include "store/replica.h"

namespace unitsync::store {

// Why one row of a changeset was not applied. Wire values (protocol NACK
// rows[].reason); the registry is store/FORMAT.md "Row rejection reasons".
enum class RowRejectReason : uint16_t {
  kCentralScope = 1,     // a unit wrote a central-scope table
  kForeignUnit = 2,      // the row's routing value is not the sender's unit
  kOwnedElsewhere = 3,   // the stored row belongs to another unit (only central moves rows)
  kLocalOnlyColumn = 4,  // the table block carries a local-only column
  kConstraint = 5,       // reserved: a schema violation rejects the whole changeset
  kEviction = 6,         // an eviction sent by a unit (only central evicts)
  kPurged = 7,           // the row was purged: an old copy may not bring it back
  kFutureVersion = 8,    // a version too far ahead of central's clock (kMaxFutureVersionMs)
};

// How far ahead of central's wall clock a unit's version may be and still be accepted. A
// version beyond every clock could never be superseded: a new write is stamped one above
// the version it replaces, which wraps at 2^64 - 1 and loses. A year is far beyond any
// clock skew a unit may honestly have (the simulation skews up to ±5 days).
inline constexpr int64_t kMaxFutureVersionMs = 366LL * 24 * 60 * 60 * 1000;

struct RowRejection {
  std::string table;
  std::string pk;
  RowRejectReason reason = RowRejectReason::kConstraint;
  bool operator==(const RowRejection&) const = default;
};

std::string_view RowRejectReasonName(RowRejectReason reason);  // "central_scope", ...

struct ApplyOptions {
  // Central applying a unit's push: authorize every row as written by this
  // unit (DESIGN.md "Write authorization at central"); rows that fail are
  // listed in MergeReport::rejected and the rest applies. Central only.
  std::optional<std::string> authorize_unit;
  // Advance _us_peers[peer].received_seq to max(old, seq) in the same
  // transaction as the apply (a push seq at central, central's log seq at a
  // unit): it moves iff the apply commits, also when rows were rejected.
  struct Cursor {
    std::string peer;
    int64_t seq = 0;
  };
  std::optional<Cursor> advance_received;
  // _us_meta entries written in the same transaction as the apply (a snapshot chunk's
  // resume position: sync_state.h SeedState).
  std::vector<std::pair<std::string, std::string>> set_meta;
  // The end of a forced re-seed (FinishSeed applies the evictions it builds with this):
  // in the same transaction, empties the pending set and forgets the unit's unsent pushes,
  // which may carry writes to rows now evicted (seed_tracking.h EndSeedTracking). The
  // chunks' own bookkeeping is store::ApplySnapshotChunk's.
  bool end_forced_seed = false;
};

struct MergeReport {
  size_t rows_received = 0;
  size_t rows_inserted = 0;
  size_t rows_updated = 0;
  size_t rows_deleted = 0;
  // Tombstones recorded for rows this replica did not hold (deleted before it saw
  // them), or made newer on rows already deleted: state changed, no row removed.
  size_t rows_tombstoned = 0;
  size_t rows_unchanged = 0;  // Duplicates and rows whose every column lost.
  size_t conflicts = 0;       // New conflict records (re-detections not counted).
  // Remote timestamps beyond the clock-skew bound: merged as they are (the
  // data must converge) but not adopted by the local clock.
  size_t far_future_versions = 0;
  uint64_t max_far_future_ms = 0;  // How far ahead the worst of them was.
  size_t rows_evicted = 0;         // Rows dropped because they moved to another unit.
  size_t rows_purged = 0;          // Rows erased (or markers made newer) by a purge.
  // Of rows_received: rows applied without looking up a clock record, because none can
  // exist (a snapshot chunk into a replica that holds nothing of its range:
  // snapshot_apply.h). Not a term of the rows_received sum: each is also counted as
  // inserted, deleted, purged ... as usual.
  size_t rows_fresh = 0;
  std::vector<RowRejection> rejected;  // Rows not applied, in changeset order; never values.
};

// Decodes and applies. Fails, with nothing applied and no cursor moved, with
// kMalformed (bytes do not decode), kRejected (unknown table or column: the
// message names them, never a value), kInvalidArgument (authorize_unit on a
// unit replica or empty; advance_received with no peer), kCorrupt (an
// undecodable clock record), or a storage error (kDiskFull, kIo, kBusy ...).
// Rows rejected one by one are not failures: see MergeReport::rejected.
Result<MergeReport> ApplyChangeset(Replica& replica, std::span<const uint8_t> bytes,
                                   const ApplyOptions& options = {});
Result<MergeReport> ApplyChangeset(Replica& replica, const Changeset& changeset,
                                   const ApplyOptions& options = {});

}  // namespace unitsync::store
