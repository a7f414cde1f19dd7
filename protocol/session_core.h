// What both roles' session machines share: the action queue, frame decoding with the
// session's limit, sending messages, heartbeats and read deadlines, store requests one at
// a time. Uplink (unit) and HubSession (central) own one each.
#pragma once

#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"
#include "protocol/frame.h"
#include "protocol/limits.h"
#include "protocol/message.h"
#include "protocol/sync_types.h"

namespace unitsync::protocol {

class SessionCore {
 public:
  SessionCore(const SyncOptions& options, SyncEnv& env);

  const SyncOptions& options() const { return options_; }
  SyncEnv& env() { return env_; }

  // Moves the queued actions out, oldest first.
  std::vector<SyncAction> TakeActions();

  // A fresh connection: new frame decoder, heartbeat and read deadline armed.
  void ConnectionUp();
  // Forget per-connection state and cancel the session timers.
  void ConnectionDown();
  bool connected() const { return connected_; }

  // Splits received bytes into decoded messages (appended to `out`). On a framing or
  // decoding error queues ERROR malformed + close and returns the error; the caller
  // stops processing this connection.
  Status Decode(ByteView bytes, std::vector<Message>& out);

  // Encodes and queues one frame; the heartbeat is re-armed (sending proves liveness).
  // A message the codec refuses is a bug here: logged, the session closed.
  void Send(const Message& message);
  // As Send, but a message the codec refuses (e.g. larger than max_frame) is not sent
  // and the error returned; the session stays open.
  Status TrySend(const Message& message);
  // ERROR + close, with a log line.
  void SendErrorAndClose(ErrorCode code, const std::string& message);
  void Close(const std::string& reason);

  // Queues any other action (Connect).
  void Emit(SyncAction action) { actions_.push_back(std::move(action)); }
  // Constructed in place: GCC 12 reports false maybe-uninitialized warnings when a
  // temporary is moved into this nested variant.
  void Arm(TimerId id, int64_t after_ms) {
    actions_.emplace_back(std::in_place_type<ArmTimer>, ArmTimer{id, after_ms});
  }
  void Cancel(TimerId id) {
    actions_.emplace_back(std::in_place_type<CancelTimer>, CancelTimer{id});
  }
  void Log(LogLevel level, std::string event, std::string fields);

  // Any frame received: the peer is alive.
  void Received();
  // Heartbeat timer fired: PING with a random nonce.
  void HeartbeatDue();
  // PING is answered with PONG, PONG needs nothing: true when `message` was one of them.
  bool HandleLiveness(const Message& message);

  // Store requests are serialized: Request issues one if none is outstanding, otherwise
  // holds it until the outstanding one is answered. `connection` tags the request with
  // the connection it was made for, so a late answer is recognised as stale.
  struct Pending {
    StoreWork work;
    uint64_t connection = 0;
  };
  void Request(StoreWork work, uint64_t connection);
  // Takes the answered request (nullopt: a result nobody asked for, a driver bug). Until
  // IssueHeld() new requests queue behind the held ones, so the caller can still drop
  // held work that the answer made stale.
  std::optional<Pending> Completed();
  // Issues the oldest held request, if any. Call once the answer is dispatched.
  void IssueHeld();
  bool busy() const { return outstanding_.has_value(); }
  // Drops held (not yet issued) requests for which `stale` returns true.
  template <typename Pred>
  void DropHeld(Pred stale) {
    std::erase_if(held_, [&](const Pending& p) { return stale(p); });
  }

 private:
  SyncOptions options_;
  SyncEnv& env_;
  std::vector<SyncAction> actions_;
  std::optional<FrameDecoder> decoder_;
  bool connected_ = false;
  std::optional<Pending> outstanding_;
  bool dispatching_ = false;  // between Completed() and IssueHeld()
  std::deque<Pending> held_;
};

// `text` cut to at most `max` bytes on a UTF-8 character boundary (for wire text fields).
std::string CutText(std::string_view text, size_t max = kMaxTextBytes);

// "seq=12", for log fields.
std::string SeqField(const char* key, uint64_t seq);

// "rows=N row0=table/id:reason ..." (first three) for log fields; ids, never values.
std::string RejectionSummary(const std::vector<RowRejection>& rows);

}  // namespace unitsync::protocol
