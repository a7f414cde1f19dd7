// Carries out the sync core's store work (protocol/sync_types.h) on a replica: builds,
// seals and spools pushes, opens and applies changesets, moves cursors. The daemon runs
// these on its store thread; the in-process tests and the simulator call them directly,
// so every path the daemon takes is the one the tests take.
//
//   Uplink ─FetchPushes─► UnitExecutor: BuildChangeset ─► SealChangeset ─► AppendOutbox
//   HubSession ─ApplyPush─► CentralExecutor: OpenChangeset ─► ApplyChangeset(authorize,
//                                             advance cursor, one transaction)
//   either ─ComputeDigests─► store::ComputeDigests(unit scope), then the position
//
// ComputeDigests (verify, FORMAT.md DIGESTS): the unit digests its own unit's scope,
// central the session's unit's; central-scope tables are covered in full by both. The
// position is read after the digests, in separate transactions: another program's write
// that lands in between is then counted as `waiting` (not settled) instead of making a
// settled pair of digests differ. `waiting` is the row count of what the next build would
// send (FetchPushes' build after the last built push; the unit's fan-out after what it
// acknowledged), counted up to kVerifyWaitingProbeRows.
//
// Envelopes are opened against the header this node expects from its own context (its
// node id, the frame's seqs, the generation), never against anything the sender claims.
// Every call is synchronous and answers with exactly one StoreResult; failures are
// described in the result (no exceptions, nothing thrown away silently), and reported to
// ExecutorOptions::observer with the error's code (a full disk, an I/O error). Not
// thread-safe: one thread per replica.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "daemon/key_ring.h"
#include "protocol/sync_types.h"
#include "protocol/uplink.h"
#include "store/replica.h"

namespace unitsync::daemon {

// `waiting` in DIGESTS is counted up to this many rows.
inline constexpr size_t kVerifyWaitingProbeRows = 1000;

// Told how each store work ended, on the thread that runs it (the daemon's StorageHealth
// turns disk-full and I/O errors into a condition it reports).
class StoreObserver {
 public:
  virtual ~StoreObserver() = default;
  // `work` failed with `error` (its name: "fetch_pushes", "apply_push", ...). Nothing of
  // the failed transaction was written.
  virtual void Failed(std::string_view work, const Error& error) = 0;
  // A work succeeded and changed rows in the replica (committed).
  virtual void Wrote() = 0;
};

// The name of a store work as logs and status show it ("apply_changes").
std::string_view StoreWorkName(const protocol::StoreWork& work);

struct ExecutorOptions {
  size_t max_frame = protocol::kDefaultMaxFrame;
  // Rows per changeset at most (smaller changesets ack sooner and resend less).
  size_t max_rows = 1000;
  // Optional; must outlive the executor.
  StoreObserver* observer = nullptr;
  // Rows per snapshot chunk at most (central; config max_rows_per_snapshot_chunk).
  // Chunks are also cut at half the frame's plaintext of values (~2 MiB at the default
  // max_frame, ~3,500 support actions); fewer, larger chunks mean fewer commits at the
  // re-seeding unit (bench/RESULTS.md "recovery"). Any size that fits a frame is valid
  // on the wire.
  size_t max_snapshot_rows = 16384;
  // Central: trim the change log and tombstones by the units' acknowledgements
  // (store/log_gc.h), ignoring units silent for longer than this; 0 = never trim.
  int64_t log_retention_ms = 0;
};

class UnitExecutor {
 public:
  // `replica` and `keys` must outlive the executor. `central_node` is central's node id
  // (from config; checked against WELCOME by the daemon).
  UnitExecutor(store::Replica& replica, std::string central_node, const KeyRing& keys,
               ExecutorOptions options = {});

  // The cursors the Uplink starts from, and the re-seed it owes: one under way or asked
  // for (`unitsyncctl reseed`), or a pristine replica (a new unit, a replaced disk),
  // which is seeded by snapshot rather than by replaying central's whole log.
  Result<protocol::UplinkState> LoadState();

  protocol::StoreResult Run(const protocol::StoreWork& work);
  // Replaces ExecutorOptions::observer (set before the first Run).
  void SetObserver(StoreObserver* observer) { options_.observer = observer; }

 private:
  protocol::StoreResult FetchPushes(const protocol::FetchPushes& work);
  protocol::StoreResult ApplyChanges(const protocol::ApplyChanges& work);
  protocol::StoreResult Resync(const protocol::Resync& work);
  protocol::StoreResult ApplySnapshotChunk(const protocol::ApplySnapshotChunk& work);
  protocol::StoreResult ComputeDigests();
  protocol::StoreResult Dispatch(const protocol::StoreWork& work);

  store::Replica& replica_;
  std::string central_node_;
  const KeyRing& keys_;
  ExecutorOptions options_;
  std::optional<Error> failure_;  // the running work's error, for the observer
};

class CentralExecutor {
 public:
  // Works for one unit's session; several executors may share a replica (one thread).
  CentralExecutor(store::Replica& replica, std::string unit_id, const KeyRing& keys,
                  ExecutorOptions options = {});

  protocol::StoreResult Run(const protocol::StoreWork& work);

 private:
  protocol::StoreResult LoadUnit(const protocol::LoadUnit& work);
  protocol::StoreResult AckChanges(const protocol::AckChanges& work);
  protocol::StoreResult ApplyPush(const protocol::ApplyPush& work);
  protocol::StoreResult BuildChanges(const protocol::BuildChanges& work);
  protocol::StoreResult StartSnapshot();
  protocol::StoreResult BuildSnapshotChunk(const protocol::BuildSnapshotChunk& work);
  protocol::StoreResult ComputeDigests();
  protocol::StoreResult Dispatch(const protocol::StoreWork& work);

  store::Replica& replica_;
  std::string unit_id_;
  const KeyRing& keys_;
  ExecutorOptions options_;
  std::optional<Error> failure_;  // the running work's error, for the observer
};

}  // namespace unitsync::daemon
