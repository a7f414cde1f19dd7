#include "protocol/uplink.h"

#include <algorithm>
#include <cstdio>

namespace unitsync::protocol {
namespace {

// Errors after which retrying soon cannot help: back off to the maximum at once.
bool Persistent(ErrorCode code) {
  return code == ErrorCode::kNotAuthorized || code == ErrorCode::kUnsupportedVersion;
}

// Failed attempts after which the backoff delay is at its cap whatever the settings.
constexpr uint32_t kMaxBackoffAttempts = 40;

}  // namespace

std::string RejectionSummary(const std::vector<RowRejection>& rows) {
  std::string out = "rows=" + std::to_string(rows.size());
  const size_t shown = std::min<size_t>(rows.size(), 3);
  for (size_t i = 0; i < shown; ++i) {
    out += " row" + std::to_string(i) + "=" + rows[i].table + "/" + rows[i].id + ":" +
           std::to_string(rows[i].reason);
  }
  return out;
}

Uplink::Uplink(std::string node_id, UplinkState state, const SyncOptions& options, SyncEnv& env)
    : node_id_(std::move(node_id)),
      state_(std::move(state)),
      core_(options, env),
      verify_(core_, VerifyExchange::Side::kUnit, node_id_) {}

void Uplink::Start() {
  if (phase_ != Phase::kIdle) return;
  BeginConnect();
}

void Uplink::Stop(const std::string& why) {
  if (phase_ == Phase::kStopped) return;
  if (core_.connected()) {
    core_.Send(ErrorMessage{ErrorCode::kShuttingDown, why});
    core_.Close("stopping");
  } else if (phase_ == Phase::kConnecting) {
    core_.Emit(CloseConnection{"stopping"});
  }
  core_.Cancel(TimerId::kReconnect);
  core_.Cancel(TimerId::kHandshake);
  verify_.FailAll(Errc::kUnavailable, "the link to central was closed (" + why + ")");
  phase_ = Phase::kStopped;
}

void Uplink::Resume() {
  if (phase_ != Phase::kStopped) return;
  DropSessionWork();
  attempts_ = 0;
  BeginConnect();
}

void Uplink::ConnectNow() {
  if (phase_ != Phase::kBackoff) return;
  core_.Cancel(TimerId::kReconnect);
  attempts_ = 0;
  BeginConnect();
}

void Uplink::DropSessionWork() {
  // Work that only made sense on the old connection is dropped; durable bookkeeping
  // (acks, resync, generation, rejections) still runs.
  core_.DropHeld([](const SessionCore::Pending& p) {
    return std::holds_alternative<FetchPushes>(p.work) ||
           std::holds_alternative<ApplyChanges>(p.work) ||
           std::holds_alternative<ApplySnapshotChunk>(p.work) ||
           std::holds_alternative<FinishSnapshot>(p.work) ||
           std::holds_alternative<ComputeDigests>(p.work);
  });
  fetching_ = false;
}

void Uplink::BeginConnect() {
  phase_ = Phase::kConnecting;
  ++connection_;
  core_.Arm(TimerId::kHandshake, core_.options().handshake_timeout_ms);
  core_.Emit(Connect{});
}

void Uplink::OnConnected() {
  if (phase_ != Phase::kConnecting) return;
  core_.ConnectionUp();
  phase_ = Phase::kAwaitWelcome;
  std::optional<SeedRequest> seed;
  seeding_ = state_.seed.has_value();
  seed_begun_ = false;
  if (seeding_) {
    SeedProgress& p = *state_.seed;
    if (p.snapshot.empty()) {
      char id[24];
      std::snprintf(id, sizeof id, "snap-%016llx",
                    static_cast<unsigned long long>(core_.env().Random()));
      p.snapshot = id;
    }
    // A resume key too long for the wire restarts its table (merge makes repeats
    // harmless).
    seed = SeedRequest{p.snapshot, p.next_chunk, p.after_table,
                       p.after_pk.size() <= kMaxTextBytes ? p.after_pk : std::string()};
    chunks_queued_to_ = p.next_chunk;
  }
  core_.Send(Hello{kMinProtocolVersion, kMaxProtocolVersion, node_id_, state_.built_seq,
                   state_.pull_seq, state_.generation, std::move(seed)});
}

void Uplink::OnDisconnected(const std::string& reason) {
  if (phase_ != Phase::kConnecting && phase_ != Phase::kAwaitWelcome && phase_ != Phase::kSyncing) {
    return;
  }
  core_.Log(LogLevel::kWarning, "disconnected",
            "phase=" + std::to_string(static_cast<int>(phase_)) + " reason=\"" + reason + "\"");
  core_.ConnectionDown();
  ScheduleReconnect();
}

void Uplink::ScheduleReconnect() {
  phase_ = Phase::kBackoff;
  core_.Cancel(TimerId::kHandshake);
  DropSessionWork();
  verify_.FailAll(Errc::kUnavailable,
                  "the connection to central was lost before the verify completed");
  const SyncOptions& o = core_.options();
  const uint32_t shift = std::min<uint32_t>(attempts_, 30);
  const int64_t delay = std::min<int64_t>(o.backoff_max_ms, o.backoff_base_ms << shift);
  const int64_t half = delay / 2;
  const int64_t jittered =
      half + static_cast<int64_t>(core_.env().Random() % static_cast<uint64_t>(half + 1));
  attempts_ = std::min(attempts_ + 1, kMaxBackoffAttempts);
  core_.Arm(TimerId::kReconnect, jittered);
}

void Uplink::ProtocolError(ErrorCode code, const std::string& message) {
  core_.SendErrorAndClose(code, message);
  ScheduleReconnect();
}

void Uplink::OnTimer(TimerId id) {
  switch (id) {
    case TimerId::kReconnect:
      if (phase_ == Phase::kBackoff) BeginConnect();
      break;
    case TimerId::kHandshake:
      if (phase_ == Phase::kConnecting || phase_ == Phase::kAwaitWelcome) {
        core_.Log(LogLevel::kWarning, "handshake_timeout",
                  "after_ms=" + std::to_string(core_.options().handshake_timeout_ms));
        if (core_.connected()) {
          core_.Close("handshake timeout");
        } else {
          core_.Emit(CloseConnection{"connect timeout"});
        }
        ScheduleReconnect();
      }
      break;
    case TimerId::kHeartbeat:
      core_.HeartbeatDue();
      break;
    case TimerId::kReadDeadline:
      if (core_.connected()) {
        core_.Log(LogLevel::kWarning, "read_deadline",
                  "after_ms=" + std::to_string(core_.options().read_deadline_ms));
        core_.Close("no data from central within the read deadline");
        ScheduleReconnect();
      }
      break;
    case TimerId::kRetry:
      // Store work that failed (NACKs are retried by reconnecting, see OnNack). The
      // bookkeeping is re-requested with what is known now; it runs on any connection.
      if (retry_ack_) core_.Request(AckPushes{state_.acked_seq}, connection_);
      if (retry_generation_) core_.Request(SaveGeneration{state_.generation}, connection_);
      retry_ack_ = retry_generation_ = false;
      if (phase_ == Phase::kSyncing) FillWindow();
      break;
    case TimerId::kVerify:
      verify_.OnTimer();
      break;
  }
}

void Uplink::OnBytes(ByteView bytes) {
  if (!core_.connected()) return;
  core_.Received();
  std::vector<Message> messages;
  const uint64_t connection = connection_;
  auto st = core_.Decode(bytes, messages);
  for (Message& m : messages) {
    // Closed by a message, or by Decode itself when a later frame in `bytes` was malformed
    // (then nothing of this read is handled, and the reconnect is planned below).
    if (connection_ != connection || !core_.connected()) break;
    HandleMessage(m);
  }
  if (!st && connection_ == connection && phase_ != Phase::kBackoff) {
    core_.Log(LogLevel::kError, "malformed_from_central", "error=\"" + st.error().message + "\"");
    ScheduleReconnect();
  }
}

void Uplink::HandleMessage(Message& message) {
  if (auto* error = std::get_if<ErrorMessage>(&message)) {
    const bool persistent = Persistent(error->code);
    core_.Log(persistent ? LogLevel::kError : LogLevel::kWarning, "error_from_central",
              "code=" + std::to_string(static_cast<int>(error->code)) + " message=\"" +
                  error->message + "\"");
    core_.Close("central sent ERROR");
    if (persistent) attempts_ = kMaxBackoffAttempts;
    if (error->code == ErrorCode::kReseedRequired) ForceReseed();
    ScheduleReconnect();
    return;
  }
  if (core_.HandleLiveness(message)) return;
  if (phase_ == Phase::kAwaitWelcome) {
    if (auto* welcome = std::get_if<Welcome>(&message)) return OnWelcome(*welcome);
  } else if (phase_ == Phase::kSyncing) {
    if (auto* ack = std::get_if<Ack>(&message)) return OnAck(*ack);
    if (auto* nack = std::get_if<Nack>(&message)) return OnNack(*nack);
    if (auto* changes = std::get_if<Changes>(&message)) {
      if (!seeding_) return OnChanges(*changes);
    } else if (auto* begin = std::get_if<SnapshotBegin>(&message)) {
      return OnSnapshotBegin(*begin);
    } else if (auto* chunk = std::get_if<SnapshotChunk>(&message)) {
      return OnSnapshotChunk(*chunk);
    } else if (auto* end = std::get_if<SnapshotEnd>(&message)) {
      return OnSnapshotEnd(*end);
    } else if (verify_.Handle(message, connection_)) {
      return;
    }
  }
  ProtocolError(ErrorCode::kUnexpectedMessage,
                std::string(MessageTypeName(TypeOf(message))) + " not expected now");
}

void Uplink::OnWelcome(const Welcome& w) {
  if (w.version < kMinProtocolVersion || w.version > kMaxProtocolVersion) {
    return ProtocolError(ErrorCode::kUnsupportedVersion,
                         "WELCOME chose version " + std::to_string(w.version));
  }
  central_node_ = w.node_id;
  const bool new_generation = !state_.generation.empty() && w.generation != state_.generation;
  const bool central_ahead = w.applied_seq > state_.built_seq;
  const bool central_behind = w.applied_seq < state_.acked_seq;
  if (new_generation || central_ahead || central_behind || resync_owed_) {
    // Our cursors no longer describe what central holds: renumber after what it has and
    // resend our whole state; merge makes the repeats harmless.
    const uint64_t pull = (new_generation || central_behind) ? std::min(state_.pull_seq, w.log_head)
                                                             : state_.pull_seq;
    core_.Log(LogLevel::kWarning, "resync",
              std::string("new_generation=") + (new_generation ? "1" : "0") + " central_applied=" +
                  std::to_string(w.applied_seq) + " built=" + std::to_string(state_.built_seq) +
                  " acked=" + std::to_string(state_.acked_seq) + " pull=" + std::to_string(pull));
    core_.Request(Resync{w.applied_seq, pull, w.generation}, connection_);
    state_.built_seq = state_.acked_seq = w.applied_seq;
    state_.pull_seq = pull;
    state_.generation = w.generation;
  } else {
    if (state_.generation != w.generation) {
      core_.Request(SaveGeneration{w.generation}, connection_);
      state_.generation = w.generation;
    }
    if (w.applied_seq > state_.acked_seq) {
      state_.acked_seq = w.applied_seq;
      core_.Request(AckPushes{w.applied_seq}, connection_);
    }
  }
  phase_ = Phase::kSyncing;
  attempts_ = 0;
  core_.Cancel(TimerId::kHandshake);
  core_.Log(LogLevel::kInfo, "connected",
            "central=" + central_node_ + " version=" + std::to_string(w.version) +
                " acked=" + std::to_string(state_.acked_seq) +
                " pull=" + std::to_string(state_.pull_seq) + " head=" + std::to_string(w.log_head));
  next_send_ = state_.acked_seq + 1;
  local_dirty_ = true;  // writes made while disconnected (or re-queued) wait in the log
  changes_queued_to_ = state_.pull_seq;
  changes_gap_reported_ = false;
  FillWindow();
}

void Uplink::OnLocalChange() {
  local_dirty_ = true;
  FillWindow();
}

int64_t Uplink::RetryLater() {
  const SyncOptions& o = core_.options();
  const int64_t delay = std::min<int64_t>(
      o.backoff_max_ms, o.backoff_base_ms << std::min<uint32_t>(store_failures_, 30));
  store_failures_ = std::min(store_failures_ + 1, kMaxBackoffAttempts);
  core_.Arm(TimerId::kRetry, delay);
  return delay;
}

void Uplink::FillWindow() {
  // While a snapshot streams in, pushes wait: a row central learns of only after the
  // snapshot's head has all its later moves and deletes in the log the unit pulls next.
  if (phase_ != Phase::kSyncing || push_blocked_ || fetching_ || seeding_) return;
  const uint64_t window = core_.options().window;
  if (in_flight() >= window) return;
  if (next_send_ > state_.built_seq && !local_dirty_) return;  // nothing to send or build
  fetching_ = true;
  local_dirty_ = false;
  core_.Request(FetchPushes{next_send_ - 1, static_cast<uint32_t>(window - in_flight())},
                connection_);
}

void Uplink::OnPushesReady(uint64_t connection, PushesReady& ready) {
  fetching_ = false;
  if (!ready.ok) {
    // The store could not build (a full disk, an I/O error): nothing was spooled. Try
    // again later, whether or not anything is written meanwhile (a full disk stops the
    // local writers too).
    const int64_t delay = RetryLater();
    core_.Log(LogLevel::kError, "fetch_pushes_failed",
              "error=\"" + ready.error + "\" retry_in_ms=" + std::to_string(delay));
    local_dirty_ = true;
    return;
  }
  store_failures_ = 0;
  for (const auto& e : ready.entries) state_.built_seq = std::max(state_.built_seq, e.seq);
  if (ready.more) local_dirty_ = true;
  if (connection != connection_ || phase_ != Phase::kSyncing) return;
  bool sent = false;
  for (auto& e : ready.entries) {
    if (e.seq != next_send_) continue;  // not the one due (stale answer): skip
    core_.Send(Push{e.seq, std::move(e.sealed)});
    ++next_send_;
    sent = true;
  }
  if (sent || local_dirty_) FillWindow();
}

void Uplink::OnAck(const Ack& ack) {
  if (ack.of != AckOf::kPush) {
    return ProtocolError(ErrorCode::kUnexpectedMessage, "ACK of CHANGES sent to a unit");
  }
  Acknowledge(ack.seq);
}

bool Uplink::Acknowledge(uint64_t seq) {
  if (seq >= next_send_) {
    ProtocolError(ErrorCode::kInternal, "ACK for push " + std::to_string(seq) + " never sent");
    return false;
  }
  if (seq <= state_.acked_seq) return true;  // a repeat
  state_.acked_seq = seq;
  busy_streak_ = 0;
  if (corrupt_seq_ != 0 && corrupt_seq_ <= seq) corrupt_seq_ = 0;
  core_.Request(AckPushes{seq}, connection_);
  FillWindow();
  return true;
}

void Uplink::OnNack(const Nack& nack) {
  if (nack.of != AckOf::kPush) {
    return ProtocolError(ErrorCode::kUnexpectedMessage, "NACK of CHANGES sent to a unit");
  }
  const std::string fields = SeqField("seq", nack.seq) +
                             " code=" + std::to_string(static_cast<int>(nack.code)) + " reason=\"" +
                             nack.reason + "\"";
  switch (nack.code) {
    case NackCode::kPartial:
      // Applied except the listed rows: acknowledged; the rows are kept for the admin.
      core_.Log(LogLevel::kWarning, "push_rows_rejected",
                SeqField("seq", nack.seq) + " " + RejectionSummary(nack.rows));
      if (!Acknowledge(nack.seq)) return;
      core_.Request(RecordRejections{nack.seq, nack.rows}, connection_);
      return;
    case NackCode::kCorrupt:
      // Resend the same sealed bytes once (by reconnecting), then stop and alert.
      if (corrupt_seq_ == nack.seq) {
        core_.Log(LogLevel::kError, "push_blocked", fields + " hint=\"check the unit key\"");
        push_blocked_ = true;
        return;
      }
      corrupt_seq_ = nack.seq;
      break;
    case NackCode::kMalformed:
      core_.Log(LogLevel::kError, "push_blocked",
                fields + " hint=\"central cannot read this changeset; upgrade central\"");
      push_blocked_ = true;
      return;
    case NackCode::kBusy:
      // Central cannot store it now (its disk is full?): each busy NACK in a row waits
      // longer before the reconnect, although WELCOME resets the connection backoff.
      attempts_ = std::max(attempts_, busy_streak_);
      busy_streak_ = std::min(busy_streak_ + 1, kMaxBackoffAttempts);
      break;
    case NackCode::kOutOfOrder:
    case NackCode::kInternal:
      break;
  }
  // Start over from central's cursor on a fresh session, after a backoff.
  core_.Log(LogLevel::kWarning, "push_nacked", fields);
  core_.Close("push refused");
  ScheduleReconnect();
}

void Uplink::OnChanges(Changes& changes) {
  if (changes.to_seq <= changes_queued_to_) {
    // Already applied (or queued): a repeat. Re-acknowledge what is durable.
    if (changes.to_seq <= state_.pull_seq) core_.Send(Ack{AckOf::kChanges, state_.pull_seq});
    return;
  }
  if (changes.from_seq > changes_queued_to_ + 1) {
    // A gap: central rewinds to our acknowledged cursor. Report once per gap.
    if (!changes_gap_reported_) {
      changes_gap_reported_ = true;
      core_.Send(Nack{AckOf::kChanges,
                      changes.to_seq,
                      NackCode::kOutOfOrder,
                      "expected changes after " + std::to_string(changes_queued_to_),
                      {}});
    }
    return;
  }
  changes_gap_reported_ = false;
  changes_queued_to_ = changes.to_seq;
  core_.Request(ApplyChanges{changes.from_seq, changes.to_seq, state_.generation, central_node_,
                             std::move(changes.envelope)},
                connection_);
}

void Uplink::OnChangesApplied(uint64_t connection, const ApplyChanges& work,
                              ChangesApplied& result) {
  const bool current = connection == connection_ && phase_ == Phase::kSyncing;
  if (result.outcome == ApplyOutcome::kApplied) {
    state_.pull_seq = std::max(state_.pull_seq, work.to);
    if (!current) return;
    if (result.rejected.empty()) {
      core_.Send(Ack{AckOf::kChanges, work.to});
    } else {
      core_.Log(LogLevel::kWarning, "changes_rows_rejected",
                SeqField("to", work.to) + " " + RejectionSummary(result.rejected));
      if (result.rejected.size() > kMaxNackRows) result.rejected.resize(kMaxNackRows);
      core_.Send(Nack{AckOf::kChanges, work.to, NackCode::kPartial,
                      "rows refused by the unit's schema", std::move(result.rejected)});
    }
    return;
  }
  // Nothing applied: later ranges queued behind it would be gaps now.
  core_.Log(result.outcome == ApplyOutcome::kBusy ? LogLevel::kWarning : LogLevel::kError,
            "changes_not_applied",
            SeqField("from", work.from) + " " + SeqField("to", work.to) +
                " outcome=" + std::to_string(static_cast<int>(result.outcome)) + " error=\"" +
                result.error + "\"");
  if (!current) return;
  core_.DropHeld(
      [](const SessionCore::Pending& p) { return std::holds_alternative<ApplyChanges>(p.work); });
  changes_queued_to_ = state_.pull_seq;
  NackCode code = NackCode::kInternal;
  switch (result.outcome) {
    case ApplyOutcome::kCorrupt:
      code = NackCode::kCorrupt;
      break;
    case ApplyOutcome::kMalformed:
      code = NackCode::kMalformed;
      break;
    case ApplyOutcome::kBusy:
      code = NackCode::kBusy;
      break;
    default:
      break;
  }
  changes_gap_reported_ = true;  // the NACK below is the report; central rewinds
  core_.Send(Nack{AckOf::kChanges, work.to, code, "changes not applied", {}});
}

void Uplink::OnSnapshotBegin(const SnapshotBegin& begin) {
  if (!seeding_ || seed_begun_ || begin.snapshot_id != state_.seed->snapshot) {
    return ProtocolError(ErrorCode::kUnexpectedMessage, "SNAPSHOT_BEGIN not asked for");
  }
  seed_begun_ = true;
  SeedProgress& p = *state_.seed;
  // The pull cursor after the snapshot is the head its first chunk was read after: a
  // resumed part reads later rows, and the log from the first head covers them all.
  if (p.next_chunk == 0) p.head = begin.log_head;
  p.rows_total = begin.rows;
  core_.Log(LogLevel::kInfo, "reseed_streaming",
            "snapshot=" + p.snapshot + " head=" + std::to_string(p.head) + " rows=" +
                std::to_string(begin.rows) + " from_chunk=" + std::to_string(p.next_chunk) +
                " rows_done=" + std::to_string(p.rows_done));
}

void Uplink::OnSnapshotChunk(SnapshotChunk& chunk) {
  if (!seed_begun_ || chunk.snapshot_id != state_.seed->snapshot ||
      chunk.index != chunks_queued_to_) {
    return ProtocolError(ErrorCode::kUnexpectedMessage,
                         "SNAPSHOT_CHUNK " + std::to_string(chunk.index) + " not expected");
  }
  ++chunks_queued_to_;
  const SeedProgress& p = *state_.seed;
  core_.Request(ApplySnapshotChunk{p.snapshot, chunk.index, p.head, p.rows_total, central_node_,
                                   std::move(chunk.envelope)},
                connection_);
}

void Uplink::OnSnapshotEnd(const SnapshotEnd& end) {
  if (!seed_begun_ || end.snapshot_id != state_.seed->snapshot ||
      end.chunk_count != chunks_queued_to_) {
    return ProtocolError(ErrorCode::kUnexpectedMessage,
                         "SNAPSHOT_END after " + std::to_string(end.chunk_count) + " chunks; " +
                             std::to_string(chunks_queued_to_) + " arrived");
  }
  core_.Request(FinishSnapshot{state_.seed->head}, connection_);
}

void Uplink::OnChunkApplied(uint64_t connection, const ApplySnapshotChunk& work,
                            SnapshotChunkApplied& result) {
  const bool current = connection == connection_ && phase_ == Phase::kSyncing;
  if (result.outcome == ApplyOutcome::kApplied) {
    // A chunk of a snapshot given up meanwhile (ForceReseed) is no progress of this one.
    if (state_.seed && state_.seed->snapshot == work.snapshot) state_.seed = result.progress;
    if (current) core_.Send(Ack{AckOf::kSnapshot, work.index});
    return;
  }
  core_.Log(result.outcome == ApplyOutcome::kBusy ? LogLevel::kWarning : LogLevel::kError,
            "reseed_chunk_not_applied",
            "snapshot=" + work.snapshot + " chunk=" + std::to_string(work.index) +
                " outcome=" + std::to_string(static_cast<int>(result.outcome)) + " error=\"" +
                result.error + "\"");
  if (current) RestartSeed("snapshot chunk not applied");
}

void Uplink::OnSnapshotFinished(uint64_t connection, const FinishSnapshot& work,
                                const StoreDone& done) {
  const bool current = connection == connection_ && phase_ == Phase::kSyncing;
  if (!done.ok) {
    core_.Log(LogLevel::kError, "reseed_finish_failed", "error=\"" + done.error + "\"");
    if (current) RestartSeed("snapshot could not be finished");
    return;
  }
  const uint64_t rows = state_.seed ? state_.seed->rows_done : 0;
  const bool forced = state_.seed && state_.seed->forced;
  state_.seed.reset();
  // A forced seed replaced the log we could not pull (store FinishSeed): continue after
  // the head, with the unsent pushes forgotten (they are rebuilt from the change log).
  state_.pull_seq = forced ? work.head : SeededPull(state_.pull_seq, work.head);
  if (forced) state_.built_seq = state_.acked_seq;
  core_.Log(LogLevel::kInfo, "reseed_done",
            "rows=" + std::to_string(rows) + " pull=" + std::to_string(state_.pull_seq));
  if (!current) return;
  seeding_ = false;
  changes_queued_to_ = state_.pull_seq;
  // The pull cursor is durable: central's fan-out continues after it, and pushes resume.
  core_.Send(Ack{AckOf::kChanges, state_.pull_seq});
  local_dirty_ = true;
  FillWindow();
}

void Uplink::ForceReseed() {
  // Central's log no longer reaches our pull cursor: the next HELLO asks for a snapshot,
  // and the store remembers it is forced. A forced seed under way continues; one that was
  // not forced starts over from its first chunk under a new id, as the store's seed state
  // does (store::RequestSeed): it did not record what the unit held before it began, so
  // resumed it could not tell which rows to evict.
  if (!state_.seed || !state_.seed->forced) state_.seed = SeedProgress{};
  state_.seed->forced = true;
  core_.Request(ForceSeed{}, connection_);
  core_.Log(
      LogLevel::kWarning, "reseed_forced",
      "pull=" + std::to_string(state_.pull_seq) + " built=" + std::to_string(state_.built_seq));
  attempts_ = 0;  // not a failure: reconnect at the base delay
}

void Uplink::RestartSeed(const std::string& why) {
  core_.DropHeld([](const SessionCore::Pending& p) {
    return std::holds_alternative<ApplySnapshotChunk>(p.work) ||
           std::holds_alternative<FinishSnapshot>(p.work);
  });
  core_.Close(why);
  ScheduleReconnect();
}

bool Uplink::StartVerify(uint64_t id) {
  if (phase_ != Phase::kSyncing) return false;
  return verify_.Start(id, connection_);
}

void Uplink::OnStoreResult(StoreResult result) {
  Dispatch(result);
  core_.IssueHeld();
}

void Uplink::Dispatch(StoreResult& result) {
  auto done = core_.Completed();
  if (!done) {
    core_.Log(LogLevel::kError, "unexpected_store_result", "");
    return;
  }
  StoreWork& work = done->work;
  if (auto* ready = std::get_if<PushesReady>(&result)) {
    if (std::holds_alternative<FetchPushes>(work)) return OnPushesReady(done->connection, *ready);
  } else if (auto* applied = std::get_if<ChangesApplied>(&result)) {
    if (auto* w = std::get_if<ApplyChanges>(&work)) {
      return OnChangesApplied(done->connection, *w, *applied);
    }
  } else if (auto* computed = std::get_if<DigestsComputed>(&result)) {
    if (auto* w = std::get_if<ComputeDigests>(&work)) {
      const bool live = done->connection == connection_ && phase_ == Phase::kSyncing;
      return verify_.OnComputed(*w, done->connection, *computed, live);
    }
  } else if (auto* chunk = std::get_if<SnapshotChunkApplied>(&result)) {
    if (auto* w = std::get_if<ApplySnapshotChunk>(&work)) {
      return OnChunkApplied(done->connection, *w, *chunk);
    }
  } else if (auto* st = std::get_if<StoreDone>(&result)) {
    if (auto* w = std::get_if<FinishSnapshot>(&work)) {
      return OnSnapshotFinished(done->connection, *w, *st);
    }
    if (st->ok) {
      if (std::holds_alternative<AckPushes>(work)) store_failures_ = 0;
      if (std::holds_alternative<Resync>(work)) resync_owed_ = false;
      return;
    }
    core_.Log(LogLevel::kError, "store_failed", "error=\"" + st->error + "\"");
    // Durable bookkeeping that did not stick (a full disk): again later, or it would wait
    // for the next push (the outbox stays untrimmed) or the next start (a generation).
    const bool ack = std::holds_alternative<AckPushes>(work);
    const bool generation = std::holds_alternative<SaveGeneration>(work);
    if (ack) retry_ack_ = true;
    if (generation) retry_generation_ = true;
    if (ack || generation) RetryLater();
    if (std::holds_alternative<Resync>(work)) {
      // The resync must be durable before we push again: start over, resyncing again.
      resync_owed_ = true;
      if (core_.connected()) {
        core_.Close("resync failed");
        ScheduleReconnect();
      }
    }
    return;
  }
  core_.Log(LogLevel::kError, "mismatched_store_result", "");
}

}  // namespace unitsync::protocol
