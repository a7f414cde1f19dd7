// Applying a re-seed snapshot chunk at a unit (FORMAT.md SNAPSHOT_CHUNK; the chunks are
// built by changeset_builder.h BuildSnapshotChunk). A chunk is an ordinary changeset and
// is merged as merge.h describes — same rules, same result — with two differences that
// make a re-seed cheaper, each argued at its definition in snapshot_apply.cc:
//
//  - Fresh blocks. A table block whose row ids are strictly ascending (snapshot order),
//    where _us_clock holds no record of that table with an id between the block's first
//    and last, is merged without looking up each row's clock record (there is none:
//    TableMerger::ApplyFresh). Any other block — a resumed chunk overlapping rows already
//    applied, a unit that wrote locally meanwhile, purge markers, an unsorted or
//    duplicated block from a faulty sender — takes the ordinary per-row merge. The
//    result is the ordinary merge's, row for row (snapshot_apply_test.cc compares them).
//  - The chunk's transaction runs with synchronous = NORMAL (the resume point commits
//    with the rows, so a chunk lost to a power cut is fetched again), a larger page
//    cache and triggers off (every replica trigger is silent during the engine's apply
//    anyway); the connection's settings are put back afterwards.
//
// A forced re-seed (`next.forced`) also keeps its pending set in the chunk's transaction
// (seed_tracking.h).
#pragma once

#include "common/error.h"
#include "store/changeset.h"
#include "store/merge.h"
#include "store/replica.h"
#include "store/sync_state.h"

namespace unitsync::store {

// Applies `chunk` and records `next` (the seed state after it: SeedStateMeta) in one
// transaction. Fails, with nothing applied and the seed state unchanged, as
// ApplyChangeset does (kRejected, kCorrupt, storage errors). One exception: when the
// connection's settings (synchronous = FULL, ...) cannot be put back after the commit,
// the chunk and `next` are committed and that storage error is returned all the same
// (they are tried once more on the way out); applying the chunk again is harmless.
// Unit replicas only
// (kInvalidArgument at central). REQUIRES: the replica's thread.
Result<MergeReport> ApplySnapshotChunk(Replica& replica, const Changeset& chunk,
                                       const SeedState& next);

// The rows of `chunk` merged inside the caller's open write transaction, fresh blocks
// as above; whatever else a chunk's transaction records (the seed state, ...) goes
// beside this call. REQUIRES: a write transaction on replica.db() begun by the caller
// with foreign keys off (a child row may arrive before its parent), the replica's
// thread. On failure the transaction holds partial writes: the caller rolls back and
// restores the clock (Hlc::Restore) as ApplySnapshotChunk does.
Status ApplyChunkRows(Replica& replica, const Changeset& chunk, MergeReport& report);

}  // namespace unitsync::store
