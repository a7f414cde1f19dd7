// A forced re-seed (central trimmed its log past this unit's pull cursor, log_gc.h):
// the snapshot is the only way the unit learns which rows were deleted or moved away
// while it was gone, so the rows it held that the snapshot does not deliver must go.
//
//   first chunk ─► StartSeedTracking: every row and tombstone held now → _us_seed_pending
//   each chunk  ─► StrikeDelivered: the chunk's rows leave _us_seed_pending
//   SNAPSHOT_END ─► UndeliveredEvictions: what is left, minus the rows central cannot
//                   know yet, becomes evictions applied like central's (merge.h), with
//                   the unit's unacknowledged writes kept as 'evict' conflicts
//
// All three run inside the caller's transaction (the chunk's apply, FinishSeed), so the
// pending set is always consistent with the seed progress it was written with.
#pragma once

#include "common/error.h"
#include "store/changeset.h"
#include "store/replica.h"

namespace unitsync::store::internal {

// Replaces _us_seed_pending with every row and tombstone this replica holds (purge markers
// stay whatever comes: nothing revives them). A tombstone central no longer has was
// collected by its log GC, and goes here too. Creates the table on first use.
Status StartSeedTracking(Replica& replica);

// Removes the changeset's rows from _us_seed_pending (a no-op when it is empty).
Status StrikeDelivered(Replica& replica, const Changeset& changeset);

// The rows still pending, as an eviction changeset, without the rows central cannot have
// had to deliver: private rows (they never leave the unit) and rows with unacknowledged
// local inserts or re-queued resends ('I' / 'R' after push_acked_log_seq: central may not
// have them yet; they are pushed after the snapshot).
Result<Changeset> UndeliveredEvictions(Replica& replica);

// The snapshot is applied: empties _us_seed_pending and rewinds the outbox (below).
Status EndSeedTracking(Replica& replica);

// Forgets the pushes built but not acknowledged (central has not applied them: the
// WELCOME of this session acknowledged everything it had): the outbox is emptied and
// push_built_seq / push_built_log_seq fall back to the acknowledged ones, so the next
// builds read the change log again and carry only what the replica holds now.
Status RewindOutbox(Replica& replica);

}  // namespace unitsync::store::internal
