// The session side of verify (FORMAT.md section 6, "Verify"), shared by Uplink and
// HubSession: VERIFY out and DIGESTS back for the verifies this side starts, and DIGESTS
// for the peer's VERIFYs, with the store work for both.
//
//   requester                                   answerer
//   Start(id) ──VERIFY{id}──────────────────────► ComputeDigests{id, for_peer}
//             ◄─────────DIGESTS{id, position, tables}── DigestsComputed
//   ComputeDigests{id} ─► DigestsComputed ─► CompareDigests ─► VerifyDone{id, report}
//
// Every started verify ends in exactly one VerifyDone: the report, or an error when the
// connection goes (FailAll), the deadline passes (SyncOptions::verify_timeout_ms), the
// peer could not compute its digests, or our store could not. A DIGESTS nobody waits for
// (late, after the deadline; or repeated) is logged and ignored: the session stays up.
// Not thread-safe; lives inside its session object.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "protocol/session_core.h"

namespace unitsync::protocol {

// Verifies one session may have started and not finished; StartVerify refuses more.
inline constexpr size_t kMaxPendingVerifies = 16;
// Peer VERIFYs one session computes at a time; more are answered at once with a DIGESTS
// error, so a peer cannot queue unbounded digest work at the store.
inline constexpr size_t kMaxVerifyAnswers = 4;

class VerifyExchange {
 public:
  enum class Side { kUnit, kCentral };

  // `core` must outlive this object. `unit` is the unit whose scope is compared (the
  // unit's own id at the unit, the session's unit at central).
  VerifyExchange(SessionCore& core, Side side, std::string unit);

  // Sends VERIFY{id} and arms its deadline. False (nothing sent) when `id` is 0 or above
  // kMaxSeq, already pending, or kMaxPendingVerifies are pending.
  // REQUIRES: the session is established (the caller checks its phase).
  bool Start(uint64_t id, uint64_t connection);
  // VERIFY or DIGESTS from the peer on an established session: handled, returns true.
  // Any other message: false, nothing done.
  bool Handle(Message& message, uint64_t connection);
  // The answer to a ComputeDigests this object asked for, made for `connection`. `live`:
  // the session is still established on that connection; otherwise the answer is dropped
  // (FailAll has already ended what was waiting for it).
  void OnComputed(const ComputeDigests& work, uint64_t connection, DigestsComputed& result,
                  bool live);
  // The kVerify timer fired: verifies past their deadline fail.
  void OnTimer();
  // The connection is gone (or the session stops): every pending verify fails with
  // `code` and `why`; answers still being computed for the peer are dropped.
  void FailAll(Errc code, const std::string& why);

  size_t pending() const { return pending_.size(); }

 private:
  struct Pending {
    int64_t deadline_ms = 0;
    uint64_t connection = 0;
    std::optional<Digests> peer;  // set once the peer's DIGESTS arrived
  };

  void OnVerify(const Verify& verify, uint64_t connection);
  void OnDigests(Digests& digests, uint64_t connection);
  void Answer(uint64_t id, DigestsComputed& result);
  // Ends one verify with VerifyDone; the caller re-arms the deadline afterwards.
  void Finish(uint64_t id, Result<VerifyReport> result);
  void ArmDeadline();
  const char* peer_name() const { return side_ == Side::kUnit ? "central" : "the unit"; }

  SessionCore& core_;
  Side side_;
  std::string unit_;
  std::map<uint64_t, Pending> pending_;
  size_t answering_ = 0;  // ComputeDigests for the peer, issued or held
  bool armed_ = false;    // the kVerify timer is armed
};

}  // namespace unitsync::protocol
