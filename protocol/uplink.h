// The unit's side of sync: one long-lived object per unit daemon that connects to central,
// pushes the outbox through a window, pulls central's fan-out, acknowledges, and
// reconnects with backoff. Sans-I/O: see protocol/sync_types.h for the event/action model.
//
//   Idle ──Start──► Connecting ──OnConnected──► AwaitWelcome ──WELCOME──► Syncing
//     ▲                 │ OnDisconnected / deadline      │                  │
//     └──── Backoff ◄───┴────────────────────────────────┴──────────────────┘
//            (kReconnect timer: base·2^attempt, capped, jittered)
//
// Contract with the driver:
// - The driver performs every queued action (TakeActions) in order: SendFrame writes,
//   Connect opens a connection, CloseConnection closes it (no OnDisconnected follows),
//   store work runs on the replica and is answered with exactly one OnStoreResult.
// - OnDisconnected reports a transport that went away by itself (EOF, reset, TLS error,
//   connect failure); the core then schedules the reconnect.
// - A store result may arrive after the connection it was requested for has closed; the
//   core keeps its durable effect (cursors) and sends nothing for it.
// - A failed FetchPushes, AckPushes or SaveGeneration (the store cannot write: a full
//   disk, an I/O error) is retried by itself on the kRetry timer, base·2^failures capped,
//   until it succeeds; a push central NACKs busy reconnects later each time until one is
//   acknowledged.
// Not thread-safe: call from one thread (the daemon's I/O strand).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "protocol/session_core.h"
#include "protocol/verify_exchange.h"

namespace unitsync::protocol {

// What the unit's replica remembers, loaded by the driver at start.
struct UplinkState {
  uint64_t built_seq = 0;            // highest push seq in (or ever in) the outbox
  uint64_t acked_seq = 0;            // highest push seq central acknowledged
  uint64_t pull_seq = 0;             // central log seq applied here
  std::string generation;            // last central generation seen ("" = never connected)
  std::optional<SeedProgress> seed;  // a re-seed wanted or under way
};

class Uplink {
 public:
  enum class Phase { kIdle, kConnecting, kAwaitWelcome, kSyncing, kBackoff, kStopped };

  Uplink(std::string node_id, UplinkState state, const SyncOptions& options, SyncEnv& env);

  // Begins connecting. REQUIRES: phase() == kIdle.
  void Start();
  // Closes the session (ERROR shutting_down carrying `why` if connected) and stays
  // stopped until Resume().
  void Stop(const std::string& why = "unit stopping");
  // After Stop(): connect again at once (an admin's `unitsyncctl resume`).
  void Resume();
  // While waiting to reconnect: stop waiting and connect now, backoff reset (an admin's
  // `unitsyncctl sync-now`). In any other phase nothing happens.
  void ConnectNow();

  void OnConnected();
  void OnDisconnected(const std::string& reason);
  void OnBytes(ByteView bytes);
  void OnTimer(TimerId id);
  // The change log has new entries (a local write, or a periodic check).
  void OnLocalChange();
  void OnStoreResult(StoreResult result);
  // Asks central for its digests of this unit and compares them with ours (FORMAT.md
  // section 6, "Verify"); ends with exactly one VerifyDone{id}. False, and nothing
  // happens, unless the session is syncing and `id` is usable (VerifyExchange::Start).
  bool StartVerify(uint64_t id);

  std::vector<SyncAction> TakeActions() { return core_.TakeActions(); }

  Phase phase() const { return phase_; }
  const UplinkState& state() const { return state_; }
  uint64_t in_flight() const { return next_send_ - 1 - state_.acked_seq; }
  // Consecutive failed connection attempts (0 after a WELCOME).
  uint32_t attempts() const { return attempts_; }
  size_t verifies_pending() const { return verify_.pending(); }

 private:
  void Dispatch(StoreResult& result);
  void BeginConnect();
  void DropSessionWork();
  void HandleMessage(Message& message);
  void OnWelcome(const Welcome& welcome);
  void OnAck(const Ack& ack);
  // Central acknowledged every push <= seq. False when that is a protocol error (the
  // session is then closed).
  bool Acknowledge(uint64_t seq);
  void OnNack(const Nack& nack);
  void OnChanges(Changes& changes);
  void OnPushesReady(uint64_t connection, PushesReady& ready);
  void OnChangesApplied(uint64_t connection, const ApplyChanges& work, ChangesApplied& result);
  void OnSnapshotBegin(const SnapshotBegin& begin);
  void OnSnapshotChunk(SnapshotChunk& chunk);
  void OnSnapshotEnd(const SnapshotEnd& end);
  void OnChunkApplied(uint64_t connection, const ApplySnapshotChunk& work,
                      SnapshotChunkApplied& result);
  void OnSnapshotFinished(uint64_t connection, const FinishSnapshot& work, const StoreDone& done);
  // A snapshot step failed here: drop what is queued behind it and resume from the
  // durable seed state on a new session.
  void RestartSeed(const std::string& why);
  // ERROR reseed_required: a forced re-seed at the next connection.
  void ForceReseed();
  void FillWindow();
  // Arms kRetry after failed store work: base·2^failures in a row, capped; the delay.
  int64_t RetryLater();
  void ScheduleReconnect();
  void ProtocolError(ErrorCode code, const std::string& message);

  std::string node_id_;
  UplinkState state_;
  SessionCore core_;
  VerifyExchange verify_;
  Phase phase_ = Phase::kIdle;
  uint32_t attempts_ = 0;
  uint64_t connection_ = 0;  // increments per connection attempt; store work remembers it

  // Per connection.
  std::string central_node_;
  uint64_t next_send_ = 1;   // next push seq to send
  bool fetching_ = false;    // a FetchPushes is outstanding or held
  bool local_dirty_ = true;  // the change log may hold unbuilt entries
  bool changes_gap_reported_ = false;
  uint64_t changes_queued_to_ = 0;  // highest CHANGES `to` accepted for apply
  bool seeding_ = false;            // this session's HELLO asked for a snapshot
  bool seed_begun_ = false;         // its SNAPSHOT_BEGIN arrived
  uint64_t chunks_queued_to_ = 0;   // next chunk index expected
  // Across connections.
  uint64_t corrupt_seq_ = 0;       // push NACKed corrupt once (resent by reconnecting)
  bool push_blocked_ = false;      // a push was refused for good: alert, keep pulling
  uint32_t store_failures_ = 0;    // store work failed in a row (kRetry backoff doubles)
  bool retry_ack_ = false;         // an AckPushes failed: again on kRetry
  bool retry_generation_ = false;  // a SaveGeneration failed: again on kRetry
  // A Resync failed: the store still holds the old cursors although state_ has the new
  // ones, so the next WELCOME asks for it again whatever the cursors say.
  bool resync_owed_ = false;
  uint32_t busy_streak_ = 0;  // pushes NACKed busy without an ACK in between
};

}  // namespace unitsync::protocol
