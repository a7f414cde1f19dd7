// Sync without a network: the store work of a session, carried out from and into offline
// bundles (recovery/bundle_file.h; FORMAT.md section 7) by the same executors a session
// uses (daemon/sync_executor.h), so a bundle is built, authorized, applied and
// acknowledged exactly as the same changesets would be over TLS.
//
//   unit     ExportPushes: FetchPushes after the acknowledged push seq (spooled pushes
//            as sealed once, then new ones built from the change log) ──► F (kPushes)
//   central  ImportPushes: F verified whole ──► ApplyPush each, in order (authorize,
//            merge, applied cursor: one transaction each; repeats skipped) ──► AckChanges
//            (the unit's pull cursor from F) ──► ExportReply ──► R (kReply)
//            ExportReply: BuildChanges for the unit after its pull cursor ──► R
//   unit     ImportReply: R verified whole ──► what WELCOME would do (AckPushes, or a
//            Resync when central's cursors no longer match ours) ──► ApplyChanges each
//
// Every function runs on the replica's one owning thread and expects no other process to
// stamp or sync it meanwhile (unitsyncctl refuses while unitsyncd runs: the daemon's
// sync core holds the cursors in memory and stamps with its own clock). Errors never hold
// row values. Threading: as the executors (one thread per replica).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "daemon/key_ring.h"
#include "daemon/sync_executor.h"
#include "recovery/bundle_file.h"
#include "store/replica.h"

namespace unitsync::daemon {

// Called before each changeset of a bundle is applied (or skipped): `done` are behind.
using BundleProgress = std::function<void(uint64_t done, uint64_t total)>;

struct ExportedPushes {
  recovery::BundleInfo bundle;
  uint64_t acked_seq = 0;  // the unit's acknowledged push seq (pushes after it are in F)
  uint64_t pull_seq = 0;   // the unit's cursor into central's log (central replies after it)
};

// Unit: writes every push central has not acknowledged to `out_path` (kPushes, origin
// this unit, destination `central_node`), building the change log's unbuilt entries into
// the outbox first, as a session would. A bundle with no push is still written: it
// carries the unit's pull cursor, so central can reply with what the unit lacks.
// Fails with kWrongNode (not a unit replica), kNotFound (no key for this unit),
// kAlreadyExists (`out_path` exists; checked before anything is built), the store's
// errors, WriteBundle's (kDiskFull, kIo); pushes built before a failure stay in the
// outbox and go out later as built (by bundle or session), never sealed again.
Result<ExportedPushes> ExportPushes(store::Replica& unit, const KeyRing& keys,
                                    const std::string& central_node, const std::string& out_path,
                                    int64_t now_ms, ExecutorOptions options = {});

struct ExportedReply {
  recovery::BundleInfo bundle;
  std::string unit;
  uint64_t after_pull = 0;  // CHANGES cover central's log after this seq
  uint64_t rows = 0;        // rows over all CHANGES records
};

// Central: writes `unit`'s CHANGES after central log seq `after_pull` (default: what the
// unit last acknowledged) to `out_path` as a kReply bundle whose manifest holds the
// unit's applied push seq, central's log head and generation. Fails with kWrongNode (not
// central's replica), kNotFound (no key for `unit`), the store's and WriteBundle's errors.
Result<ExportedReply> ExportReply(store::Replica& central, const KeyRing& keys,
                                  const std::string& unit, std::optional<uint64_t> after_pull,
                                  const std::string& out_path, int64_t now_ms,
                                  ExecutorOptions options = {});

struct ImportedPushes {
  std::string unit;
  uint64_t pushes = 0;         // pushes in the bundle
  uint64_t applied = 0;        // applied now
  uint64_t already = 0;        // applied before (skipped: never applied twice)
  uint64_t rows_rejected = 0;  // refused by authorization (kept in central's rejections)
  uint64_t applied_seq = 0;    // the unit's applied push seq afterwards
  ExportedReply reply;
};

// Central: verifies the whole bundle at `path` (ReadBundle: from an enrolled unit, for
// this central, every push opens), applies its pushes in order through
// CentralExecutor::ApplyPush, takes the unit's pull cursor from it as acknowledged, and
// writes the reply to `reply_out` (ExportReply after that cursor). Fails with:
//   ReadBundle's errors (nothing applied);
//   kAlreadyExists  every push in it was applied before: nothing applied, no reply
//                   written (ExportReply makes one, when the first was lost);
//   kRejected       its first push does not follow the unit's applied seq (central was
//                   restored from an older backup): nothing applied, the reply IS
//                   written — it makes the unit resend its state; export again after;
//   kMalformed / kCorrupt / kInternal / kBusy  a push failed to apply: the pushes
//                   before it stay applied (each was durable on its own), none after;
//                   importing the same file again resumes;
//   kAlreadyExists  `reply_out` exists (checked before anything is applied);
//   WriteBundle's errors for the reply (the pushes are applied: ExportReply again).
Result<ImportedPushes> ImportPushes(store::Replica& central, const KeyRing& keys,
                                    const std::string& path, const std::string& reply_out,
                                    int64_t now_ms, ExecutorOptions options = {},
                                    const BundleProgress& progress = {});

struct ImportedReply {
  uint64_t acked_before = 0, acked_after = 0;  // the unit's acknowledged push seq
  uint64_t pull_before = 0, pull_after = 0;    // its cursor into central's log
  uint64_t changes = 0;                        // CHANGES records in the reply
  uint64_t applied = 0;                        // ... applied now
  uint64_t rows_rejected = 0;                  // rows of them this unit's schema refused
  bool resynced = false;   // central's cursors did not match ours: the outbox was re-queued
  std::string generation;  // central's generation, as the reply says
};

// Unit: verifies the whole reply at `path` (ReadBundle: from `central_node`, for this
// unit, every CHANGES record opens), then does what a WELCOME with the reply's cursors
// would: acknowledges pushes up to its applied seq, or — central's generation changed,
// or it applied more or less than we think — re-queues the unit's state (Resync) to be
// exported again; then applies the CHANGES in order that follow the pull cursor.
// Fails, with nothing applied, with ReadBundle's errors; kAlreadyExists when nothing in
// it is new (imported before) or it is older than what the unit knows (same generation
// and a lower applied seq, or an older generation: acting on it would renumber pushes
// central already holds); kRejected when its CHANGES start after the unit's pull cursor
// (a gap: export again). With the executors' errors (kIo, kCorrupt, kMalformed, ...)
// when a record fails to apply: the acknowledgement and the records before it stay.
Result<ImportedReply> ImportReply(store::Replica& unit, const KeyRing& keys,
                                  const std::string& central_node, const std::string& path,
                                  ExecutorOptions options = {},
                                  const BundleProgress& progress = {});

}  // namespace unitsync::daemon
