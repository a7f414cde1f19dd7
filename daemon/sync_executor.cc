#include "daemon/sync_executor.h"

#include <algorithm>
#include <limits>

#include "store/change_log.h"
#include "store/changeset_builder.h"
#include "store/cursors.h"
#include "store/digest.h"
#include "store/log_gc.h"
#include "store/merge.h"
#include "store/rejections.h"
#include "store/snapshot_apply.h"
#include "store/sync_state.h"
#include "store/write_count.h"

namespace unitsync::daemon {
namespace {

using protocol::ApplyOutcome;
using protocol::StoreDone;
using protocol::StoreResult;

ApplyOutcome OutcomeOf(Errc code) {
  switch (code) {
    case Errc::kCorrupt:
      return ApplyOutcome::kCorrupt;
    case Errc::kMalformed:
    case Errc::kRejected:
      return ApplyOutcome::kMalformed;
    case Errc::kBusy:
    case Errc::kDiskFull:
    case Errc::kIo:
      return ApplyOutcome::kBusy;
    default:
      return ApplyOutcome::kInternal;
  }
}

// The answer to a work that returns nothing; `failure` keeps the error for the observer.
StoreDone Done(std::optional<Error>& failure, const Status& st) {
  if (st) return {};
  failure = st.error();
  return {false, st.error().ToString()};
}

// The wire allows ids of up to 64 bytes in a NACK; the store's are UUIDs (36), but a
// longer one is cut on a character boundary rather than breaking the NACK.
std::string WireId(const std::string& id) {
  if (id.size() <= protocol::kMaxIdBytes) return id;
  size_t n = protocol::kMaxIdBytes;
  while (n > 0 && (static_cast<uint8_t>(id[n]) & 0xC0) == 0x80) --n;
  return id.substr(0, n);
}

std::vector<protocol::RowRejection> ToWire(const std::vector<store::RowRejection>& rows) {
  std::vector<protocol::RowRejection> out;
  out.reserve(std::min(rows.size(), protocol::kMaxNackRows));
  for (const auto& r : rows) {
    if (out.size() == protocol::kMaxNackRows) break;
    out.push_back({r.table, WireId(r.pk), static_cast<uint16_t>(r.reason)});
  }
  return out;
}

// Builds the next changeset so that its sealed form fits one frame: values are bounded by
// half the plaintext budget (encoding adds ~10% plus versions), and a changeset that
// still overflows is rebuilt with fewer rows.
Result<store::BuiltChangeset> BuildForFrame(store::Replica& replica, store::BuildRequest request,
                                            size_t max_frame) {
  const size_t budget = protocol::MaxPlaintextForFrame(max_frame);
  request.max_bytes = budget / 2;
  for (;;) {
    auto built = store::BuildChangeset(replica, request);
    if (!built) return built;
    if (built->bytes.size() <= budget) return built;
    if (built->rows <= 1) {
      return Fail(Errc::kRejected,
                  "a single row does not fit in one frame (" + std::to_string(built->bytes.size()) +
                      " bytes)",
                  "raise max_frame on central and every unit");
    }
    request.max_rows = std::max<size_t>(1, built->rows / 2);
  }
}

protocol::SeedProgress ToProgress(const store::SeedState& s) {
  return {s.snapshot,
          static_cast<uint64_t>(s.next_chunk),
          s.after_table,
          s.after_pk,
          static_cast<uint64_t>(s.head),
          static_cast<uint64_t>(s.rows_done),
          static_cast<uint64_t>(s.rows_total),
          s.forced};
}

protocol::DigestsComputed DigestsFailed(std::optional<Error>& failure, const Error& e) {
  failure = e;
  protocol::DigestsComputed out;
  out.ok = false;
  out.code = e.code;
  out.error = e.ToString();
  return out;
}

// The store's digests of `scope`, as they travel in DIGESTS.
Result<std::vector<protocol::TableDigest>> WireDigests(store::Replica& replica,
                                                       const std::string& unit) {
  auto digests = store::ComputeDigests(replica, store::DigestScope{unit});
  if (!digests) return tl::unexpected(digests.error());
  if (digests->size() > protocol::kMaxDigestTables) {
    return Fail(Errc::kRejected, "the manifest has " + std::to_string(digests->size()) +
                                     " tables; DIGESTS carries at most " +
                                     std::to_string(protocol::kMaxDigestTables));
  }
  std::vector<protocol::TableDigest> out;
  for (const store::TableDigest& d : *digests) {
    auto sha = protocol::BytesOfHex(d.sha256);
    if (!sha || sha->size() != protocol::kSha256Bytes) {
      return Fail(Errc::kInternal, "digest of table " + d.table + " is not a SHA-256");
    }
    out.push_back({d.table, static_cast<uint64_t>(d.rows), static_cast<uint64_t>(d.tombstones),
                   std::move(*sha)});
  }
  return out;
}

// Rows the next build after `after_seq` would carry (to `destination`, or a unit's push),
// up to kVerifyWaitingProbeRows. Builds in memory only: nothing is sealed or spooled.
Result<uint64_t> RowsWaiting(store::Replica& replica, int64_t after_seq,
                             std::optional<std::string> destination) {
  store::BuildRequest request;
  request.after_seq = after_seq;
  request.max_rows = kVerifyWaitingProbeRows;
  request.max_bytes = std::numeric_limits<size_t>::max();
  request.destination_unit = std::move(destination);
  auto built = store::BuildChangeset(replica, request);
  if (!built) return tl::unexpected(built.error());
  return static_cast<uint64_t>(built->rows);
}

// Tells the observer how `work` ended: failed, or succeeded and `wrote` rows (a work that
// found nothing to do, or only read, says nothing about whether the disk takes writes).
void Report(StoreObserver* observer, const protocol::StoreWork& work,
            const std::optional<Error>& failure, bool wrote) {
  if (observer == nullptr) return;
  if (failure) return observer->Failed(StoreWorkName(work), *failure);
  if (wrote) observer->Wrote();
}

}  // namespace

std::string_view StoreWorkName(const protocol::StoreWork& work) {
  static constexpr std::string_view kNames[] = {
      "fetch_pushes",    "ack_pushes",      "apply_changes",        "resync",
      "force_seed",      "save_generation", "record_rejections",    "apply_snapshot_chunk",
      "finish_snapshot", "load_unit",       "apply_push",           "build_changes",
      "ack_changes",     "start_snapshot",  "build_snapshot_chunk", "compute_digests"};
  static_assert(std::size(kNames) == std::variant_size_v<protocol::StoreWork>);
  return kNames[work.index()];
}

// ---- unit ----

UnitExecutor::UnitExecutor(store::Replica& replica, std::string central_node, const KeyRing& keys,
                           ExecutorOptions options)
    : replica_(replica), central_node_(std::move(central_node)), keys_(keys), options_(options) {}

Result<protocol::UplinkState> UnitExecutor::LoadState() {
  auto outbox = store::GetOutboxState(replica_);
  if (!outbox) return tl::unexpected(outbox.error());
  auto cursor = store::GetCursor(replica_, central_node_);
  if (!cursor) return tl::unexpected(cursor.error());
  auto generation = store::GetSeenGeneration(replica_);
  if (!generation) return tl::unexpected(generation.error());
  protocol::UplinkState state;
  state.built_seq = static_cast<uint64_t>(outbox->built_seq);
  state.acked_seq = static_cast<uint64_t>(outbox->acked_seq);
  state.pull_seq = static_cast<uint64_t>(cursor->received_seq);
  state.generation = *generation;
  auto seed = store::GetSeedState(replica_);
  if (!seed) return tl::unexpected(seed.error());
  bool wanted = seed->wanted || !seed->snapshot.empty();
  if (!wanted) {
    auto pristine = store::IsPristine(replica_);
    if (!pristine) return tl::unexpected(pristine.error());
    wanted = *pristine;
  }
  if (wanted) state.seed = ToProgress(*seed);
  return state;
}

StoreResult UnitExecutor::Run(const protocol::StoreWork& work) {
  failure_.reset();
  const int64_t changes = store::RowsChanged(replica_);
  StoreResult result = Dispatch(work);
  Report(options_.observer, work, failure_, store::RowsChanged(replica_) > changes);
  return result;
}

StoreResult UnitExecutor::Dispatch(const protocol::StoreWork& work) {
  return std::visit(
      [&](const auto& w) -> StoreResult {
        using W = std::decay_t<decltype(w)>;
        if constexpr (std::is_same_v<W, protocol::FetchPushes>) {
          return FetchPushes(w);
        } else if constexpr (std::is_same_v<W, protocol::AckPushes>) {
          return Done(failure_, store::AckOutbox(replica_, static_cast<int64_t>(w.seq)));
        } else if constexpr (std::is_same_v<W, protocol::ApplyChanges>) {
          return ApplyChanges(w);
        } else if constexpr (std::is_same_v<W, protocol::Resync>) {
          return Resync(w);
        } else if constexpr (std::is_same_v<W, protocol::SaveGeneration>) {
          return Done(failure_, store::SetSeenGeneration(replica_, w.generation));
        } else if constexpr (std::is_same_v<W, protocol::ForceSeed>) {
          return Done(failure_, store::RequestSeed(replica_, /*forced=*/true));
        } else if constexpr (std::is_same_v<W, protocol::ComputeDigests>) {
          return ComputeDigests();
        } else if constexpr (std::is_same_v<W, protocol::ApplySnapshotChunk>) {
          return ApplySnapshotChunk(w);
        } else if constexpr (std::is_same_v<W, protocol::FinishSnapshot>) {
          return Done(failure_,
                      store::FinishSeed(replica_, central_node_, static_cast<int64_t>(w.head)));
        } else if constexpr (std::is_same_v<W, protocol::RecordRejections>) {
          std::vector<store::RowRejection> rows;
          for (const auto& r : w.rows) {
            rows.push_back({r.table, r.id, static_cast<store::RowRejectReason>(r.reason)});
          }
          return Done(failure_, store::RecordRejections(replica_, central_node_,
                                                        store::RejectionDirection::kRefusedByPeer,
                                                        static_cast<int64_t>(w.seq), rows));
        } else {
          return StoreDone{false, "store work for central sent to a unit"};
        }
      },
      work);
}

StoreResult UnitExecutor::FetchPushes(const protocol::FetchPushes& work) {
  protocol::PushesReady ready;
  auto fail = [&](const Error& e) {
    failure_ = e;
    ready.ok = false;
    ready.error = e.ToString();
    return ready;
  };
  auto state = store::GetOutboxState(replica_);
  if (!state) return fail(state.error());
  auto listed = store::ListOutbox(replica_, static_cast<int64_t>(work.after_seq), work.limit);
  if (!listed) return fail(listed.error());
  for (auto& e : *listed) {
    ready.entries.push_back({static_cast<uint64_t>(e.seq), std::move(e.sealed)});
  }
  // New entries are built only once the caller has everything already spooled.
  const uint64_t reached = work.after_seq + ready.entries.size();
  if (reached < static_cast<uint64_t>(state->built_seq)) {
    ready.more = true;  // spooled entries beyond the limit
    return ready;
  }

  if (ready.entries.size() >= work.limit) {
    // The limit was reached by spooled entries alone: the change log may hold writes
    // no push covers yet, so the caller must fetch again once its window has room
    // (an extra fetch finds nothing and costs one read).
    ready.more = true;
    return ready;
  }
  auto key = keys_.Current(replica_.node_id());
  if (!key) return fail(key.error());
  int64_t built_seq = state->built_seq;
  int64_t log_seq = state->built_log_seq;
  while (ready.entries.size() < work.limit) {
    store::BuildRequest request;
    request.after_seq = log_seq;
    request.max_rows = options_.max_rows;
    auto built = BuildForFrame(replica_, request, options_.max_frame);
    if (!built) return fail(built.error());
    if (built->rows == 0) break;
    const int64_t seq = built_seq + 1;
    protocol::EnvelopeHeader header;
    header.kind = protocol::EnvelopeKind::kPush;
    header.origin = replica_.node_id();
    header.destination = central_node_;
    header.seq_from = header.seq_to = static_cast<uint64_t>(seq);
    auto sealed = protocol::SealChangeset(**key, header, built->bytes);
    if (!sealed) return fail(sealed.error());
    store::OutboxEntry entry{seq, built->last_seq, static_cast<int64_t>(built->rows),
                             std::move(*sealed)};
    if (auto st = store::AppendOutbox(replica_, entry); !st) return fail(st.error());
    ready.entries.push_back({static_cast<uint64_t>(seq), std::move(entry.sealed)});
    built_seq = seq;
    log_seq = built->last_seq;
    ready.more = built->more;
    if (!built->more) break;
  }
  return ready;
}

StoreResult UnitExecutor::ApplyChanges(const protocol::ApplyChanges& work) {
  protocol::ChangesApplied out;
  auto refuse = [&](ApplyOutcome outcome, const Error& e) {
    failure_ = e;
    out.outcome = outcome;
    out.error = e.ToString();
    return out;
  };
  auto key_id = protocol::EnvelopeKeyId(work.envelope);
  if (!key_id) return refuse(ApplyOutcome::kCorrupt, key_id.error());
  auto key = keys_.Find(replica_.node_id(), *key_id);
  if (!key) return refuse(ApplyOutcome::kCorrupt, key.error());
  protocol::EnvelopeHeader expected;
  expected.kind = protocol::EnvelopeKind::kChanges;
  expected.origin = central_node_;
  expected.destination = replica_.node_id();
  expected.seq_from = work.from;
  expected.seq_to = work.to;
  expected.stream = work.generation;
  auto plaintext = protocol::OpenChangeset(**key, expected, work.envelope);
  if (!plaintext) return refuse(OutcomeOf(plaintext.error().code), plaintext.error());
  store::ApplyOptions options;
  options.advance_received =
      store::ApplyOptions::Cursor{central_node_, static_cast<int64_t>(work.to)};
  auto report = store::ApplyChangeset(replica_, *plaintext, options);
  if (!report) return refuse(OutcomeOf(report.error().code), report.error());
  out.rejected = ToWire(report->rejected);
  return out;
}

StoreResult UnitExecutor::ApplySnapshotChunk(const protocol::ApplySnapshotChunk& work) {
  protocol::SnapshotChunkApplied out;
  auto refuse = [&](ApplyOutcome outcome, const Error& e) {
    failure_ = e;
    out.outcome = outcome;
    out.error = e.ToString();
    return out;
  };
  auto state = store::GetSeedState(replica_);
  if (!state) return refuse(OutcomeOf(state.error().code), state.error());
  if ((!state->snapshot.empty() && state->snapshot != work.snapshot) ||
      static_cast<uint64_t>(state->next_chunk) != work.index) {
    return refuse(ApplyOutcome::kInternal,
                  Error{Errc::kInternal,
                        "snapshot chunk " + std::to_string(work.index) + " of " + work.snapshot +
                            " does not follow chunk " + std::to_string(state->next_chunk) + " of " +
                            state->snapshot,
                        ""});
  }
  auto key_id = protocol::EnvelopeKeyId(work.envelope);
  if (!key_id) return refuse(ApplyOutcome::kCorrupt, key_id.error());
  auto key = keys_.Find(replica_.node_id(), *key_id);
  if (!key) return refuse(ApplyOutcome::kCorrupt, key.error());
  protocol::EnvelopeHeader expected;
  expected.kind = protocol::EnvelopeKind::kSnapshot;
  expected.origin = central_node_;
  expected.destination = replica_.node_id();
  expected.seq_from = expected.seq_to = work.index;
  expected.stream = work.snapshot;
  auto plaintext = protocol::OpenChangeset(**key, expected, work.envelope);
  if (!plaintext) return refuse(OutcomeOf(plaintext.error().code), plaintext.error());
  auto changeset = store::DecodeChangeset(*plaintext);
  if (!changeset) return refuse(ApplyOutcome::kMalformed, changeset.error());

  store::SeedState next = *state;
  next.wanted = true;
  next.snapshot = work.snapshot;
  next.next_chunk = static_cast<int64_t>(work.index) + 1;
  next.head = static_cast<int64_t>(work.head);
  next.rows_total = static_cast<int64_t>(work.rows_total);
  next.rows_done += static_cast<int64_t>(changeset->RowCount());
  if (auto last = store::LastKeyOf(*changeset)) {
    next.after_table = last->table;
    next.after_pk = last->pk;
  }
  auto report = store::ApplySnapshotChunk(replica_, *changeset, next);
  if (!report) return refuse(OutcomeOf(report.error().code), report.error());
  out.progress = ToProgress(next);
  return out;
}

StoreResult UnitExecutor::Resync(const protocol::Resync& work) {
  if (auto st = store::ResetOutbox(replica_, static_cast<int64_t>(work.central_applied)); !st) {
    return Done(failure_, st);
  }
  auto cursor = store::GetCursor(replica_, central_node_);
  if (!cursor) return Done(failure_, tl::unexpected(cursor.error()));
  cursor->received_seq = static_cast<int64_t>(work.pull);
  if (auto st = store::ResetCursor(replica_, *cursor); !st) return Done(failure_, st);
  return Done(failure_, store::SetSeenGeneration(replica_, work.generation));
}

StoreResult UnitExecutor::ComputeDigests() {
  auto tables = WireDigests(replica_, replica_.node_id());
  if (!tables) return DigestsFailed(failure_, tables.error());
  auto outbox = store::GetOutboxState(replica_);
  if (!outbox) return DigestsFailed(failure_, outbox.error());
  auto cursor = store::GetCursor(replica_, central_node_);
  if (!cursor) return DigestsFailed(failure_, cursor.error());
  auto log = store::GetChangeLogStats(replica_, std::numeric_limits<int64_t>::max());
  if (!log) return DigestsFailed(failure_, log.error());
  auto waiting = RowsWaiting(replica_, outbox->built_log_seq, std::nullopt);
  if (!waiting) return DigestsFailed(failure_, waiting.error());
  protocol::DigestsComputed out;
  out.position.push = static_cast<uint64_t>(outbox->built_seq);
  out.position.pull = static_cast<uint64_t>(cursor->received_seq);
  out.position.head = static_cast<uint64_t>(log->head_seq);
  out.position.waiting = *waiting;
  out.tables = std::move(*tables);
  return out;
}

// ---- central ----

CentralExecutor::CentralExecutor(store::Replica& replica, std::string unit_id, const KeyRing& keys,
                                 ExecutorOptions options)
    : replica_(replica), unit_id_(std::move(unit_id)), keys_(keys), options_(options) {}

StoreResult CentralExecutor::Run(const protocol::StoreWork& work) {
  failure_.reset();
  const int64_t changes = store::RowsChanged(replica_);
  StoreResult result = Dispatch(work);
  Report(options_.observer, work, failure_, store::RowsChanged(replica_) > changes);
  return result;
}

StoreResult CentralExecutor::Dispatch(const protocol::StoreWork& work) {
  return std::visit(
      [&](const auto& w) -> StoreResult {
        using W = std::decay_t<decltype(w)>;
        if constexpr (std::is_same_v<W, protocol::LoadUnit>) {
          return LoadUnit(w);
        } else if constexpr (std::is_same_v<W, protocol::ApplyPush>) {
          return ApplyPush(w);
        } else if constexpr (std::is_same_v<W, protocol::BuildChanges>) {
          return BuildChanges(w);
        } else if constexpr (std::is_same_v<W, protocol::AckChanges>) {
          return AckChanges(w);
        } else if constexpr (std::is_same_v<W, protocol::StartSnapshot>) {
          return StartSnapshot();
        } else if constexpr (std::is_same_v<W, protocol::BuildSnapshotChunk>) {
          return BuildSnapshotChunk(w);
        } else if constexpr (std::is_same_v<W, protocol::ComputeDigests>) {
          return ComputeDigests();
        } else {
          return StoreDone{false, "store work for a unit sent to central"};
        }
      },
      work);
}

StoreResult CentralExecutor::LoadUnit(const protocol::LoadUnit& work) {
  protocol::UnitLoaded out;
  auto fail = [&](const Error& e) {
    failure_ = e;
    out.ok = false;
    out.error = e.ToString();
    return out;
  };
  auto cursor = store::GetCursor(replica_, unit_id_);
  if (!cursor) return fail(cursor.error());
  auto stats = store::GetChangeLogStats(replica_, std::numeric_limits<int64_t>::max());
  if (!stats) return fail(stats.error());
  auto generation = store::GetGeneration(replica_);
  if (!generation) return fail(generation.error());
  out.applied_seq = static_cast<uint64_t>(cursor->received_seq);
  out.log_head = static_cast<uint64_t>(stats->head_seq);
  out.generation = *generation;
  // What the unit said it had built before, against what it says now: a unit that comes
  // back claiming fewer pushes than central applied lost its outbox, and the pushes it
  // had built beyond what central applied are gone (reported by the hub).
  auto built = store::GetPeerBuilt(replica_, unit_id_);
  if (!built) return fail(built.error());
  const auto said = static_cast<uint64_t>(*built);
  if (work.unit_built < out.applied_seq && said > out.applied_seq) out.lost_to = said;
  if (said != work.unit_built) {
    if (auto st = store::SetPeerBuilt(replica_, unit_id_, static_cast<int64_t>(work.unit_built));
        !st) {
      return fail(st.error());
    }
  }
  if (work.hello) {
    auto reseed = store::RecordHello(replica_, unit_id_, static_cast<int64_t>(work.pull),
                                     static_cast<int64_t>(work.unit_built));
    if (!reseed) return fail(reseed.error());
    out.must_reseed = *reseed;
  }
  return out;
}

StoreResult CentralExecutor::AckChanges(const protocol::AckChanges& work) {
  if (auto st = store::AdvanceAcked(replica_, unit_id_, static_cast<int64_t>(work.seq)); !st) {
    return Done(failure_, st);
  }
  if (options_.log_retention_ms <= 0) return protocol::StoreDone{};
  // Trimming is a pass over what became trimmable; run it a few times per retention
  // period at most, whichever unit's acknowledgement comes along.
  auto gc = store::GetLogGcState(replica_);
  if (!gc) return Done(failure_, tl::unexpected(gc.error()));
  const int64_t interval = std::min<int64_t>(60'000, options_.log_retention_ms / 4);
  if (replica_.NowMs() - gc->last_run_ms < interval) return protocol::StoreDone{};
  auto report = store::CollectLogGarbage(replica_, store::LogGcPolicy{options_.log_retention_ms});
  if (!report) return Done(failure_, tl::unexpected(report.error()));
  protocol::StoreDone done;
  done.log_advanced = report->tombstones_deleted > 0;  // their units' evictions are logged
  return done;
}

StoreResult CentralExecutor::StartSnapshot() {
  protocol::SnapshotStarted out;
  auto fail = [&](const Error& e) {
    failure_ = e;
    return protocol::SnapshotStarted{false, e.ToString(), 0, 0};
  };
  auto stats = store::GetChangeLogStats(replica_, std::numeric_limits<int64_t>::max());
  if (!stats) return fail(stats.error());
  auto rows = store::CountSnapshotRows(replica_, unit_id_);
  if (!rows) return fail(rows.error());
  out.log_head = static_cast<uint64_t>(stats->head_seq);
  out.rows = static_cast<uint64_t>(*rows);
  return out;
}

StoreResult CentralExecutor::BuildSnapshotChunk(const protocol::BuildSnapshotChunk& work) {
  protocol::SnapshotChunkBuilt out;
  auto fail = [&](const Error& e) {
    failure_ = e;
    out.ok = false;
    out.error = e.ToString();
    return out;
  };
  const size_t budget = protocol::MaxPlaintextForFrame(options_.max_frame);
  store::SnapshotChunkRequest request;
  request.unit = unit_id_;
  request.after = {work.after_table, work.after_pk};
  request.max_rows = options_.max_snapshot_rows;
  request.max_bytes = budget / 2;
  Result<store::BuiltSnapshotChunk> built;
  for (;;) {  // as BuildForFrame: fewer rows until the sealed chunk fits one frame
    built = store::BuildSnapshotChunk(replica_, request);
    if (!built) return fail(built.error());
    if (built->bytes.size() <= budget) break;
    if (built->rows <= 1) {
      return fail(Error{Errc::kRejected, "a single row does not fit in one frame",
                        "raise max_frame on central and every unit"});
    }
    request.max_rows = std::max<size_t>(1, built->rows / 2);
  }
  out.rows = built->rows;
  out.last_table = built->last.table;
  out.last_pk = built->last.pk;
  out.done = built->done;
  if (built->rows == 0) return out;
  auto key = keys_.Current(unit_id_);
  if (!key) return fail(key.error());
  protocol::EnvelopeHeader header;
  header.kind = protocol::EnvelopeKind::kSnapshot;
  header.origin = replica_.node_id();
  header.destination = unit_id_;
  header.seq_from = header.seq_to = work.index;
  header.stream = work.snapshot;
  auto sealed = protocol::SealChangeset(**key, header, built->bytes);
  if (!sealed) return fail(sealed.error());
  out.sealed = std::move(*sealed);
  return out;
}

StoreResult CentralExecutor::ApplyPush(const protocol::ApplyPush& work) {
  protocol::PushApplied out;
  auto refuse = [&](ApplyOutcome outcome, const Error& e) {
    failure_ = e;
    out.outcome = outcome;
    out.error = e.ToString();
    return out;
  };
  auto cursor = store::GetCursor(replica_, unit_id_);
  if (!cursor) return refuse(OutcomeOf(cursor.error().code), cursor.error());
  const auto applied = static_cast<uint64_t>(cursor->received_seq);
  out.applied_seq = applied;
  if (work.seq <= applied) return out;  // a repeat: acknowledged, never applied twice
  if (work.seq != applied + 1) {
    return refuse(
        ApplyOutcome::kInternal,
        Error{Errc::kInternal,
              "push " + std::to_string(work.seq) + " after " + std::to_string(applied), ""});
  }
  auto key_id = protocol::EnvelopeKeyId(work.envelope);
  if (!key_id) return refuse(ApplyOutcome::kCorrupt, key_id.error());
  auto key = keys_.Find(unit_id_, *key_id);
  if (!key) return refuse(ApplyOutcome::kCorrupt, key.error());
  protocol::EnvelopeHeader expected;
  expected.kind = protocol::EnvelopeKind::kPush;
  expected.origin = unit_id_;
  expected.destination = replica_.node_id();
  expected.seq_from = expected.seq_to = work.seq;
  auto plaintext = protocol::OpenChangeset(**key, expected, work.envelope);
  if (!plaintext) return refuse(OutcomeOf(plaintext.error().code), plaintext.error());
  store::ApplyOptions options;
  options.authorize_unit = unit_id_;
  options.advance_received = store::ApplyOptions::Cursor{unit_id_, static_cast<int64_t>(work.seq)};
  auto report = store::ApplyChangeset(replica_, *plaintext, options);
  if (!report) return refuse(OutcomeOf(report.error().code), report.error());
  out.applied_seq = work.seq;
  out.rejected = ToWire(report->rejected);
  out.log_advanced = report->rows_inserted + report->rows_updated + report->rows_deleted > 0;
  return out;
}

StoreResult CentralExecutor::BuildChanges(const protocol::BuildChanges& work) {
  protocol::ChangesBuilt out;
  auto fail = [&](const Error& e) {
    failure_ = e;
    out.ok = false;
    out.error = e.ToString();
    return out;
  };
  if (options_.log_retention_ms > 0) {
    auto gc = store::GetLogGcState(replica_);
    if (!gc) return fail(gc.error());
    if (static_cast<int64_t>(work.after_seq) < gc->log_trimmed_upto) {
      // Not a storage failure: the unit lagged past the retention (the hub closes with
      // reseed_required).
      out.ok = false;
      out.must_reseed = true;
      out.error = "the change log was trimmed past " + std::to_string(work.after_seq);
      return out;
    }
  }
  store::BuildRequest request;
  request.after_seq = static_cast<int64_t>(work.after_seq);
  request.max_rows = options_.max_rows;
  request.destination_unit = unit_id_;
  auto built = BuildForFrame(replica_, request, options_.max_frame);
  if (!built) return fail(built.error());
  out.to = static_cast<uint64_t>(built->last_seq);
  out.rows = built->rows;
  out.more = built->more;
  // Nothing for this unit: sealed anyway (an empty changeset) when it covers entries, so
  // the hub can move the unit's cursor (HubSession::kAdvanceAfter).
  if (built->rows == 0 && out.to <= work.after_seq) return out;
  auto key = keys_.Current(unit_id_);
  if (!key) return fail(key.error());
  protocol::EnvelopeHeader header;
  header.kind = protocol::EnvelopeKind::kChanges;
  header.origin = replica_.node_id();
  header.destination = unit_id_;
  header.seq_from = work.from;
  header.seq_to = out.to;
  header.stream = work.generation;
  auto sealed = protocol::SealChangeset(
      **key, header,
      built->rows > 0 ? built->bytes
                      : store::EncodeChangeset(store::Changeset{replica_.node_id(), {}}));
  if (!sealed) return fail(sealed.error());
  out.sealed = std::move(*sealed);
  return out;
}

StoreResult CentralExecutor::ComputeDigests() {
  auto tables = WireDigests(replica_, unit_id_);
  if (!tables) return DigestsFailed(failure_, tables.error());
  auto cursor = store::GetCursor(replica_, unit_id_);
  if (!cursor) return DigestsFailed(failure_, cursor.error());
  auto log = store::GetChangeLogStats(replica_, std::numeric_limits<int64_t>::max());
  if (!log) return DigestsFailed(failure_, log.error());
  auto waiting = RowsWaiting(replica_, cursor->acked_seq, unit_id_);
  if (!waiting) return DigestsFailed(failure_, waiting.error());
  protocol::DigestsComputed out;
  out.position.push = static_cast<uint64_t>(cursor->received_seq);
  out.position.pull = static_cast<uint64_t>(cursor->acked_seq);
  out.position.head = static_cast<uint64_t>(log->head_seq);
  out.position.waiting = *waiting;
  out.tables = std::move(*tables);
  return out;
}

}  // namespace unitsync::daemon
