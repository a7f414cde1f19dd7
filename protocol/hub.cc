#include "protocol/hub.h"

#include <algorithm>

namespace unitsync::protocol {

HubSession::HubSession(std::string central_node, std::string unit_id, const SyncOptions& options,
                       SyncEnv& env)
    : central_node_(std::move(central_node)),
      unit_id_(std::move(unit_id)),
      core_(options, env),
      verify_(core_, VerifyExchange::Side::kCentral, unit_id_) {}

void HubSession::OnConnected() {
  if (phase_ != Phase::kAwaitHello || core_.connected()) return;
  core_.ConnectionUp();
  core_.Arm(TimerId::kHandshake, core_.options().handshake_timeout_ms);
}

void HubSession::OnDisconnected(const std::string& reason) {
  if (phase_ == Phase::kClosed) return;
  core_.Log(LogLevel::kInfo, "unit_disconnected",
            "unit=" + unit_id_ + " reason=\"" + reason + "\"");
  core_.ConnectionDown();
  Closed("the connection to the unit was lost before the verify completed");
}

void HubSession::Stop(const std::string& why) {
  if (phase_ == Phase::kClosed) return;
  CloseWith(ErrorCode::kShuttingDown, why);
}

void HubSession::CloseWith(ErrorCode code, const std::string& message) {
  core_.Log(code == ErrorCode::kShuttingDown ? LogLevel::kInfo : LogLevel::kWarning,
            "session_closed",
            "unit=" + unit_id_ + " code=" + std::to_string(static_cast<int>(code)) + " reason=\"" +
                message + "\"");
  core_.SendErrorAndClose(code, message);
  Closed("the session with the unit was closed: " + message);
}

void HubSession::Closed(const std::string& why) {
  phase_ = Phase::kClosed;
  verify_.FailAll(Errc::kUnavailable, why);
}

bool HubSession::StartVerify(uint64_t id) {
  if (phase_ != Phase::kSyncing) return false;
  return verify_.Start(id, 0);
}

void HubSession::OnTimer(TimerId id) {
  if (phase_ == Phase::kClosed) return;
  switch (id) {
    case TimerId::kHandshake:
      if (phase_ != Phase::kSyncing) CloseWith(ErrorCode::kUnexpectedMessage, "no HELLO in time");
      break;
    case TimerId::kHeartbeat:
      core_.HeartbeatDue();
      break;
    case TimerId::kReadDeadline:
      core_.Log(LogLevel::kWarning, "read_deadline", "unit=" + unit_id_);
      core_.Close("no data from the unit within the read deadline");
      Closed("no data from the unit within the read deadline");
      break;
    case TimerId::kRetry:
      retry_armed_ = false;
      if (retry_ack_ && phase_ == Phase::kSyncing) core_.Request(AckChanges{fan_acked_}, 0);
      retry_ack_ = false;
      BuildNext();
      break;
    case TimerId::kVerify:
      verify_.OnTimer();
      break;
    case TimerId::kReconnect:
      break;
  }
}

void HubSession::OnBytes(ByteView bytes) {
  if (phase_ == Phase::kClosed || !core_.connected()) return;
  core_.Received();
  std::vector<Message> messages;
  auto st = core_.Decode(bytes, messages);
  for (Message& m : messages) {
    if (phase_ == Phase::kClosed) return;
    HandleMessage(m);
  }
  if (!st) {
    core_.Log(LogLevel::kWarning, "malformed_from_unit",
              "unit=" + unit_id_ + " error=\"" + st.error().message + "\"");
    Closed("the unit sent a malformed frame");
  }
}

void HubSession::HandleMessage(Message& message) {
  if (auto* error = std::get_if<ErrorMessage>(&message)) {
    core_.Log(error->code == ErrorCode::kShuttingDown ? LogLevel::kInfo : LogLevel::kWarning,
              "error_from_unit",
              "unit=" + unit_id_ + " code=" + std::to_string(static_cast<int>(error->code)) +
                  " message=\"" + error->message + "\"");
    core_.Close("unit sent ERROR");
    Closed("the unit closed the session with ERROR");
    return;
  }
  if (core_.HandleLiveness(message)) return;
  if (phase_ == Phase::kAwaitHello) {
    if (auto* hello = std::get_if<Hello>(&message)) return OnHello(*hello);
  } else if (phase_ == Phase::kSyncing) {
    if (auto* push = std::get_if<Push>(&message)) return OnPush(*push);
    if (auto* ack = std::get_if<Ack>(&message)) return OnAck(*ack);
    if (auto* nack = std::get_if<Nack>(&message)) return OnNack(*nack);
    if (verify_.Handle(message, 0)) return;
  }
  CloseWith(ErrorCode::kUnexpectedMessage,
            std::string(MessageTypeName(TypeOf(message))) + " not expected now");
}

void HubSession::OnHello(const Hello& hello) {
  if (hello.node_id != unit_id_) {
    // The certificate says who this is; a different claim is refused, not believed.
    return CloseWith(ErrorCode::kNotAuthorized,
                     "HELLO node id does not match the client certificate");
  }
  const uint16_t chosen = std::min(hello.max_version, kMaxProtocolVersion);
  if (chosen < std::max(hello.min_version, kMinProtocolVersion)) {
    return CloseWith(ErrorCode::kUnsupportedVersion, "no common protocol version: central speaks " +
                                                         std::to_string(kMinProtocolVersion) +
                                                         ".." +
                                                         std::to_string(kMaxProtocolVersion));
  }
  hello_ = hello;
  version_ = chosen;
  phase_ = Phase::kLoading;
  core_.Request(LoadUnit{hello.push_seq, hello.pull_seq, true}, 0);
}

void HubSession::OnUnitLoaded(UnitLoaded& loaded) {
  if (phase_ != Phase::kLoading) return;
  if (!loaded.ok) {
    core_.Log(LogLevel::kError, "load_unit_failed",
              "unit=" + unit_id_ + " error=\"" + loaded.error + "\"");
    return CloseWith(ErrorCode::kInternal, "central could not load this unit's state");
  }
  if (loaded.must_reseed && !hello_.seed) {
    // Our log was trimmed past the unit's cursor while it was away (store/log_gc.h): the
    // log cannot bring it up to date; a snapshot can, and the unit asks for one.
    core_.Log(LogLevel::kWarning, "reseed_required",
              "unit=" + unit_id_ + " pull=" + std::to_string(hello_.pull_seq) +
                  " unit_built=" + std::to_string(hello_.push_seq) +
                  " applied=" + std::to_string(loaded.applied_seq));
    return CloseWith(ErrorCode::kReseedRequired, "central's change log no longer reaches pull " +
                                                     std::to_string(hello_.pull_seq) + ": re-seed");
  }
  generation_ = loaded.generation;
  applied_ = push_queued_to_ = loaded.applied_seq;
  // A unit ahead of our log saw a central we no longer are (restored from a backup):
  // fan out again from our head; merge makes the overlap harmless.
  fan_cursor_ = fan_sent_to_ = fan_acked_ = std::min(hello_.pull_seq, loaded.log_head);
  core_.Send(Welcome{version_, central_node_, generation_, applied_, loaded.log_head});
  phase_ = Phase::kSyncing;
  core_.Cancel(TimerId::kHandshake);
  core_.Log(LogLevel::kInfo, "unit_connected",
            "unit=" + unit_id_ + " applied=" + std::to_string(applied_) +
                " unit_built=" + std::to_string(hello_.push_seq) +
                " pull=" + std::to_string(fan_acked_) + " head=" + std::to_string(loaded.log_head) +
                (hello_.central_generation == generation_ ? "" : " generation_changed=1"));
  if (loaded.lost_to > applied_) {
    // The unit had built pushes central never received and no longer has them (a new
    // disk, an old backup): say so, it cannot be hidden or recovered here.
    core_.Log(LogLevel::kWarning, "unit_lost_changes",
              "unit=" + unit_id_ + " lost_pushes=" + std::to_string(loaded.lost_to - applied_) +
                  " from=" + std::to_string(applied_ + 1) +
                  " to=" + std::to_string(loaded.lost_to) +
                  " unit_built_now=" + std::to_string(hello_.push_seq));
  }
  if (hello_.seed) {
    snap_.active = true;
    snap_.request = *hello_.seed;
    core_.Log(LogLevel::kInfo, "reseed_requested",
              "unit=" + unit_id_ + " snapshot=" + snap_.request.snapshot_id +
                  " from_chunk=" + std::to_string(snap_.request.next_chunk));
    core_.Request(StartSnapshot{}, 0);
    return;
  }
  if (fan_acked_ > 0) core_.Request(AckChanges{fan_acked_}, 0);
  log_dirty_ = true;
  BuildNext();
}

void HubSession::OnSnapshotStarted(SnapshotStarted& started) {
  if (phase_ != Phase::kSyncing) return;
  if (!started.ok) {
    core_.Log(LogLevel::kError, "snapshot_failed",
              "unit=" + unit_id_ + " error=\"" + started.error + "\"");
    return CloseWith(ErrorCode::kInternal, "central could not start the snapshot");
  }
  snap_.head = started.log_head;
  core_.Send(SnapshotBegin{snap_.request.snapshot_id, started.log_head, started.rows});
  BuildNextChunk();
}

void HubSession::BuildNextChunk() {
  if (phase_ != Phase::kSyncing || !snap_.active || snap_.building || snap_.built_all) return;
  if (snap_.in_flight.size() >= core_.options().window) return;
  snap_.building = true;
  const SeedRequest& r = snap_.request;
  core_.Request(BuildSnapshotChunk{r.snapshot_id, r.next_chunk, r.after_table, r.after_pk}, 0);
}

void HubSession::OnChunkBuilt(SnapshotChunkBuilt& built) {
  snap_.building = false;
  if (phase_ != Phase::kSyncing) return;
  if (!built.ok) {
    core_.Log(LogLevel::kError, "snapshot_failed",
              "unit=" + unit_id_ + " error=\"" + built.error + "\"");
    return CloseWith(ErrorCode::kInternal, "central could not build a snapshot chunk");
  }
  SeedRequest& r = snap_.request;
  if (built.rows > 0) {
    core_.Send(SnapshotChunk{r.snapshot_id, r.next_chunk, std::move(built.sealed)});
    snap_.in_flight.push_back(r.next_chunk);
    ++r.next_chunk;
    snap_.rows_sent += built.rows;
  }
  r.after_table = std::move(built.last_table);
  r.after_pk = std::move(built.last_pk);
  snap_.built_all = built.done;
  MaybeEndSnapshot();
  BuildNextChunk();
}

void HubSession::OnSnapshotAck(uint64_t index) {
  if (index >= snap_.request.next_chunk) {
    return CloseWith(ErrorCode::kUnexpectedMessage,
                     "ACK for snapshot chunk " + std::to_string(index) + " never sent");
  }
  while (!snap_.in_flight.empty() && snap_.in_flight.front() <= index) {
    snap_.in_flight.pop_front();
  }
  MaybeEndSnapshot();
  BuildNextChunk();
}

void HubSession::MaybeEndSnapshot() {
  if (!snap_.built_all || !snap_.in_flight.empty() || snap_.end_sent) return;
  snap_.end_sent = true;
  core_.Send(SnapshotEnd{snap_.request.snapshot_id, snap_.request.next_chunk, snap_.rows_sent});
  core_.Log(LogLevel::kInfo, "snapshot_sent",
            "unit=" + unit_id_ + " snapshot=" + snap_.request.snapshot_id +
                " chunks=" + std::to_string(snap_.request.next_chunk) +
                " rows=" + std::to_string(snap_.rows_sent) + " head=" + std::to_string(snap_.head));
}

void HubSession::OnPush(Push& push) {
  if (push.seq <= push_queued_to_) {
    // A repeat. Applied ones are acknowledged again, never applied again; one still in
    // the store queue is acknowledged when it is done.
    if (push.seq <= applied_) core_.Send(Ack{AckOf::kPush, push.seq});
    return;
  }
  if (push.seq > push_queued_to_ + 1) {
    if (!push_gap_reported_) {
      push_gap_reported_ = true;
      core_.Send(Nack{AckOf::kPush,
                      push.seq,
                      NackCode::kOutOfOrder,
                      "expected push " + std::to_string(push_queued_to_ + 1),
                      {}});
    }
    return;
  }
  push_gap_reported_ = false;
  push_queued_to_ = push.seq;
  core_.Request(ApplyPush{push.seq, std::move(push.envelope)}, 0);
}

void HubSession::OnPushApplied(const ApplyPush& work, PushApplied& result) {
  if (result.outcome == ApplyOutcome::kApplied) {
    applied_ = std::max({applied_, work.seq, result.applied_seq});
    if (result.log_advanced) core_.Emit(LogAdvanced{});
    if (phase_ != Phase::kSyncing) return;
    if (result.rejected.empty()) {
      core_.Send(Ack{AckOf::kPush, work.seq});
    } else {
      core_.Log(LogLevel::kWarning, "push_rows_rejected",
                "unit=" + unit_id_ + " " + SeqField("seq", work.seq) + " " +
                    RejectionSummary(result.rejected));
      if (result.rejected.size() > kMaxNackRows) result.rejected.resize(kMaxNackRows);
      core_.Send(Nack{AckOf::kPush, work.seq, NackCode::kPartial,
                      std::to_string(result.rejected.size()) + " rows refused",
                      std::move(result.rejected)});
    }
    return;
  }
  core_.Log(result.outcome == ApplyOutcome::kBusy ? LogLevel::kWarning : LogLevel::kError,
            "push_not_applied",
            "unit=" + unit_id_ + " " + SeqField("seq", work.seq) +
                " outcome=" + std::to_string(static_cast<int>(result.outcome)) + " error=\"" +
                result.error + "\"");
  if (phase_ != Phase::kSyncing) return;
  // Nothing applied: pushes queued behind it are dropped (they would be gaps) and the
  // unit starts over from `applied_` (FORMAT.md NACK codes).
  core_.DropHeld(
      [](const SessionCore::Pending& p) { return std::holds_alternative<ApplyPush>(p.work); });
  push_queued_to_ = applied_;
  push_gap_reported_ = true;
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
  core_.Send(Nack{AckOf::kPush, work.seq, code, "push not applied", {}});
}

void HubSession::OnAck(const Ack& ack) {
  if (snap_.active) {
    if (ack.of == AckOf::kSnapshot) return OnSnapshotAck(ack.seq);
    if (ack.of == AckOf::kChanges && snap_.end_sent && ack.seq <= snap_.head) {
      // The unit holds the snapshot and its pull cursor is durable at `seq` (the head of
      // the snapshot's first part): the fan-out continues after it.
      snap_.active = false;
      fan_cursor_ = fan_sent_to_ = fan_acked_ = ack.seq;
      core_.Request(AckChanges{ack.seq}, 0);
      log_dirty_ = true;
      BuildNext();
      return;
    }
    return CloseWith(ErrorCode::kUnexpectedMessage, "ACK not expected during a snapshot");
  }
  if (ack.of != AckOf::kChanges) {
    return CloseWith(ErrorCode::kUnexpectedMessage, "ACK of a push sent to central");
  }
  if (AcknowledgeChanges(ack.seq)) BuildNext();
}

bool HubSession::AcknowledgeChanges(uint64_t seq) {
  if (seq > fan_sent_to_) {
    CloseWith(ErrorCode::kUnexpectedMessage,
              "ACK for changes up to " + std::to_string(seq) + " never sent");
    return false;
  }
  while (!in_flight_.empty() && in_flight_.front() <= seq) in_flight_.pop_front();
  if (seq > fan_acked_) {
    fan_acked_ = seq;
    retry_streak_ = 0;  // the unit applies again
    core_.Request(AckChanges{seq}, 0);
  }
  return true;
}

void HubSession::OnNack(const Nack& nack) {
  if (nack.of != AckOf::kChanges) {
    return CloseWith(ErrorCode::kUnexpectedMessage, "NACK of a push sent to central");
  }
  const std::string fields = "unit=" + unit_id_ + " " + SeqField("to", nack.seq) +
                             " code=" + std::to_string(static_cast<int>(nack.code)) + " reason=\"" +
                             nack.reason + "\"";
  if (nack.code == NackCode::kPartial) {
    core_.Log(LogLevel::kWarning, "changes_rows_rejected_by_unit",
              fields + " " + RejectionSummary(nack.rows));
    if (AcknowledgeChanges(nack.seq)) BuildNext();
    return;
  }
  if (nack.seq > fan_sent_to_) {
    return CloseWith(ErrorCode::kUnexpectedMessage, "NACK for changes never sent");
  }
  if (nack.seq <= fan_acked_) return;  // about a range already acknowledged
  core_.Log(nack.code == NackCode::kMalformed ? LogLevel::kError : LogLevel::kWarning,
            "changes_nacked", fields);
  RewindFanOut();
  switch (nack.code) {
    case NackCode::kMalformed:
      // The unit cannot read what we build (an older schema?): stop and alert.
      fan_blocked_ = true;
      return;
    case NackCode::kOutOfOrder:
      BuildNext();
      return;
    default:
      // corrupt (rebuilt and sealed afresh), busy, internal: after a pause.
      ArmRetry();
      return;
  }
}

void HubSession::RewindFanOut() {
  ++fan_epoch_;
  fan_cursor_ = fan_sent_to_ = fan_acked_;
  in_flight_.clear();
  core_.DropHeld(
      [](const SessionCore::Pending& p) { return std::holds_alternative<BuildChanges>(p.work); });
  building_ = false;  // an outstanding build's answer is stale by its epoch
  log_dirty_ = true;
}

void HubSession::OnLogAdvanced() {
  log_dirty_ = true;
  BuildNext();
}

void HubSession::ArmRetry() {
  if (retry_armed_) return;
  retry_armed_ = true;
  // Doubles per failure in a row (a unit's disk stays full for hours): bounded work.
  const SyncOptions& o = core_.options();
  const uint32_t shift = std::min<uint32_t>(retry_streak_, 30);
  retry_streak_ = std::min<uint32_t>(retry_streak_ + 1, 40);
  core_.Arm(TimerId::kRetry, std::min<int64_t>(o.backoff_max_ms, o.backoff_base_ms << shift));
}

void HubSession::BuildNext() {
  if (phase_ != Phase::kSyncing || snap_.active || building_ || fan_blocked_ || retry_armed_ ||
      !log_dirty_) {
    return;
  }
  if (in_flight_.size() >= core_.options().window) return;
  building_ = true;
  log_dirty_ = false;
  core_.Request(BuildChanges{fan_cursor_, fan_sent_to_ + 1, generation_}, fan_epoch_);
}

void HubSession::OnChangesBuilt(uint64_t epoch, const BuildChanges& work, ChangesBuilt& built) {
  if (epoch != fan_epoch_) {
    BuildNext();  // a rewind happened meanwhile; that answer no longer fits
    return;
  }
  building_ = false;
  if (!built.ok && built.must_reseed) {
    // Trimmed while this session lagged (it was silent past the retention).
    core_.Log(LogLevel::kWarning, "reseed_required",
              "unit=" + unit_id_ + " after=" + std::to_string(work.after_seq));
    return CloseWith(ErrorCode::kReseedRequired, "central's change log no longer reaches " +
                                                     std::to_string(work.after_seq) + ": re-seed");
  }
  if (!built.ok) {
    core_.Log(LogLevel::kError, "build_changes_failed",
              "unit=" + unit_id_ + " error=\"" + built.error + "\"");
    log_dirty_ = true;
    if (phase_ == Phase::kSyncing) ArmRetry();
    return;
  }
  if (phase_ != Phase::kSyncing) return;
  fan_cursor_ = std::max(fan_cursor_, built.to);
  // Entries for other units only: nothing to send, but a unit whose cursor never moves
  // holds central's log GC back and, silent past the retention, would have to re-seed.
  // Every kAdvanceAfter entries it gets an empty CHANGES to acknowledge.
  const bool advance = built.rows == 0 && !built.sealed.empty() && in_flight_.empty() &&
                       built.to >= fan_acked_ + kAdvanceAfter;
  if (built.rows > 0 || advance) {
    core_.Send(Changes{work.from, built.to, std::move(built.sealed)});
    fan_sent_to_ = built.to;
    in_flight_.push_back(built.to);
  }
  if (built.more) log_dirty_ = true;
  BuildNext();
}

void HubSession::OnStoreResult(StoreResult result) {
  Dispatch(result);
  core_.IssueHeld();
}

void HubSession::Dispatch(StoreResult& result) {
  auto done = core_.Completed();
  if (!done) {
    core_.Log(LogLevel::kError, "unexpected_store_result", "unit=" + unit_id_);
    return;
  }
  StoreWork& work = done->work;
  if (auto* loaded = std::get_if<UnitLoaded>(&result)) {
    if (std::holds_alternative<LoadUnit>(work)) return OnUnitLoaded(*loaded);
  } else if (auto* applied = std::get_if<PushApplied>(&result)) {
    if (auto* w = std::get_if<ApplyPush>(&work)) return OnPushApplied(*w, *applied);
  } else if (auto* built = std::get_if<ChangesBuilt>(&result)) {
    if (auto* w = std::get_if<BuildChanges>(&work)) {
      return OnChangesBuilt(done->connection, *w, *built);
    }
  } else if (auto* computed = std::get_if<DigestsComputed>(&result)) {
    if (auto* w = std::get_if<ComputeDigests>(&work)) {
      return verify_.OnComputed(*w, 0, *computed, phase_ == Phase::kSyncing);
    }
  } else if (auto* started = std::get_if<SnapshotStarted>(&result)) {
    if (std::holds_alternative<StartSnapshot>(work)) return OnSnapshotStarted(*started);
  } else if (auto* chunk = std::get_if<SnapshotChunkBuilt>(&result)) {
    if (std::holds_alternative<BuildSnapshotChunk>(work)) return OnChunkBuilt(*chunk);
  } else if (auto* st = std::get_if<StoreDone>(&result)) {
    if (!st->ok) {
      core_.Log(LogLevel::kError, "store_failed",
                "unit=" + unit_id_ + " error=\"" + st->error + "\"");
      // The unit's acknowledged cursor did not stick (a full disk): again later, or it
      // would wait for the unit's next ACK (the log stays untrimmed, the lag too high).
      if (std::holds_alternative<AckChanges>(work) && phase_ == Phase::kSyncing) {
        retry_ack_ = true;
        ArmRetry();
      }
    } else if (st->log_advanced) {
      // The acknowledgement let central's log GC drop tombstones; the evictions it logged
      // for their units go out like any new entry, to this unit and the others.
      log_dirty_ = true;
      BuildNext();
      core_.Emit(LogAdvanced{});
    }
    return;
  }
  core_.Log(LogLevel::kError, "mismatched_store_result", "unit=" + unit_id_);
}

}  // namespace unitsync::protocol
