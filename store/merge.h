// Applies a changeset to a replica: column-level last-writer-wins on
// (hlc, origin), final tombstones, conflicts recorded — never silently lost.
//
// Per column, with `in` the incoming version and `cur` the receiver's:
//   in == cur                   duplicate: nothing happens (idempotent).
//   in >  cur                   in wins. If cur > in.prev, the writer of `in`
//                               never saw cur: a conflict (loser: cur).
//   in <  cur                   cur stays. If in > cur.prev, the writer of
//                               cur never saw `in`: a conflict (loser: in).
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
// A changeset applies in one transaction, all or nothing. Foreign keys are
// not checked during a merge (a child may arrive before its parent); CHECK
// and type constraints are, and any violation rejects the whole changeset.
#pragma once

#include <span>

#include "common/error.h"
#include "store/changeset.h"
#include "store/replica.h"

namespace unitsync::store {

struct MergeReport {
  size_t rows_received = 0;
  size_t rows_inserted = 0;
  size_t rows_updated = 0;
  size_t rows_deleted = 0;
  size_t rows_unchanged = 0;  // Duplicates and rows whose every column lost.
  size_t conflicts = 0;       // New conflict records (re-detections not counted).
  // Remote timestamps beyond the clock-skew bound: merged as they are (the
  // data must converge) but not adopted by the local clock.
  size_t far_future_versions = 0;
  uint64_t max_far_future_ms = 0;  // How far ahead the worst of them was.
};

// Decodes and applies. Fails, with nothing applied, with kMalformed (bytes
// do not decode), kRejected (unknown table or column, a local-only column,
// a value breaking a CHECK or type rule — the message names table, column
// and row id, never a value), or a storage error (kDiskFull, kIo, kBusy ...).
Result<MergeReport> ApplyChangeset(Replica& replica, std::span<const uint8_t> bytes);
Result<MergeReport> ApplyChangeset(Replica& replica, const Changeset& changeset);

}  // namespace unitsync::store
