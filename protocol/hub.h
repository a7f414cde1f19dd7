// Central's side of one unit's session: answers HELLO, applies the unit's pushes in order
// (duplicates re-acknowledged, never re-applied), and fans central's log out to the unit
// through a window. One object per accepted connection. Sans-I/O: see
// protocol/sync_types.h.
//
//   AwaitHello ──HELLO (node = certificate's unit)──► Loading ──UnitLoaded──► Syncing
//        │ wrong node / version / deadline                                     │
//        └──────────────────────────► Closed ◄─────────────────────────────────┘
//
// The unit id comes from the transport (the TLS client certificate), never from a
// message: a HELLO naming another node is answered with ERROR not_authorized. Row
// authorization itself is store work (ApplyPush); the session forwards the verdict.
//
// Contract with the driver: as for Uplink (protocol/uplink.h), without Connect; the
// driver also forwards every LogAdvanced action to the other units' sessions
// (OnLogAdvanced), and keeps at most one session per unit (a new connection for a unit
// closes the old one). Not thread-safe.
#pragma once

#include <cstdint>
#include <deque>
#include <string>

#include "protocol/session_core.h"
#include "protocol/verify_exchange.h"

namespace unitsync::protocol {

class HubSession {
 public:
  enum class Phase { kAwaitHello, kLoading, kSyncing, kClosed };

  HubSession(std::string central_node, std::string unit_id, const SyncOptions& options,
             SyncEnv& env);

  void OnConnected();
  void OnDisconnected(const std::string& reason);
  void OnBytes(ByteView bytes);
  void OnTimer(TimerId id);
  // Central's log has new entries that may concern this unit.
  void OnLogAdvanced();
  void OnStoreResult(StoreResult result);
  // Central is stopping (or an admin paused this unit): ERROR shutting_down with `why`,
  // close.
  void Stop(const std::string& why = "central stopping");
  // Asks the unit for its digests and compares them with central's copy of the unit
  // (FORMAT.md section 6, "Verify"); ends with exactly one VerifyDone{id}. False, and
  // nothing happens, unless the session is syncing and `id` is usable
  // (VerifyExchange::Start).
  bool StartVerify(uint64_t id);

  std::vector<SyncAction> TakeActions() { return core_.TakeActions(); }

  Phase phase() const { return phase_; }
  const std::string& unit_id() const { return unit_id_; }
  uint64_t applied_seq() const { return applied_; }               // unit pushes applied
  uint64_t fan_acked() const { return fan_acked_; }               // central log seq the unit has
  uint64_t fan_sent_to() const { return fan_sent_to_; }           // last CHANGES `to` sent
  size_t changes_in_flight() const { return in_flight_.size(); }  // CHANGES not yet acked
  // The central log seq up to which the unit has everything meant for it: the fan-out
  // examined the log up to here, sent what qualified, and all of it is acknowledged.
  // (Entries that were not for this unit, such as its own pushes, need no ack.) 0 while
  // anything is in flight or being built.
  uint64_t fan_settled_to() const {
    return in_flight_.empty() && !building_ && !log_dirty_ ? fan_cursor_ : 0;
  }
  size_t verifies_pending() const { return verify_.pending(); }

 private:
  void Dispatch(StoreResult& result);
  void HandleMessage(Message& message);
  void OnHello(const Hello& hello);
  void OnUnitLoaded(UnitLoaded& loaded);
  void OnPush(Push& push);
  void OnPushApplied(const ApplyPush& work, PushApplied& result);
  void OnAck(const Ack& ack);
  void OnNack(const Nack& nack);
  bool AcknowledgeChanges(uint64_t seq);
  void RewindFanOut();
  void BuildNext();
  // Arms kRetry (once) after a failed build, a failed AckChanges or a NACK:
  // backoff_base_ms, doubling per retry without an ACK in between, up to backoff_max_ms.
  void ArmRetry();
  void OnChangesBuilt(uint64_t epoch, const BuildChanges& work, ChangesBuilt& built);
  // Re-seeding (HELLO asked for a snapshot): BEGIN, chunks through the window, END, then
  // the unit's ACK of its new pull cursor hands over to the fan-out.
  void OnSnapshotStarted(SnapshotStarted& started);
  void BuildNextChunk();
  void OnChunkBuilt(SnapshotChunkBuilt& built);
  void OnSnapshotAck(uint64_t index);
  void MaybeEndSnapshot();
  void CloseWith(ErrorCode code, const std::string& message);
  // The session is over (closed by either side): it ends what waits on it.
  void Closed(const std::string& why);

  std::string central_node_;
  std::string unit_id_;
  SessionCore core_;
  VerifyExchange verify_;
  Phase phase_ = Phase::kAwaitHello;

  Hello hello_;
  uint16_t version_ = 0;
  std::string generation_;

  // Pushes.
  uint64_t applied_ = 0;         // highest push seq applied
  uint64_t push_queued_to_ = 0;  // highest push seq handed to the store
  bool push_gap_reported_ = false;

  // Fan-out.
  uint64_t fan_cursor_ = 0;   // central log examined up to here
  uint64_t fan_sent_to_ = 0;  // last CHANGES `to` sent (the next `from` is this + 1)
  // An empty CHANGES moves a unit's cursor past this many entries meant for others.
  static constexpr uint64_t kAdvanceAfter = 512;
  uint64_t fan_acked_ = 0;          // highest `to` the unit acknowledged
  std::deque<uint64_t> in_flight_;  // `to` of CHANGES sent, not yet acknowledged
  uint64_t fan_epoch_ = 1;          // bumped on rewind: older builds are stale
  bool building_ = false;
  bool log_dirty_ = true;
  bool retry_armed_ = false;
  bool retry_ack_ = false;     // an AckChanges failed: again on kRetry
  uint32_t retry_streak_ = 0;  // retries in a row without progress (backoff doubles)
  bool fan_blocked_ = false;   // the unit refused our changes for good

  // Snapshot (re-seed), while `snap_.active`: no fan-out until the unit has it all.
  struct SnapshotState {
    bool active = false;
    SeedRequest request;             // the snapshot id; next chunk and resume key advance as built
    uint64_t head = 0;               // central's log head at BEGIN
    std::deque<uint64_t> in_flight;  // chunk indexes sent, not yet acknowledged
    uint64_t rows_sent = 0;
    bool building = false;
    bool built_all = false;
    bool end_sent = false;
  } snap_;
};

}  // namespace unitsync::protocol
