#include "protocol/verify_exchange.h"

#include <algorithm>

namespace unitsync::protocol {

VerifyExchange::VerifyExchange(SessionCore& core, Side side, std::string unit)
    : core_(core), side_(side), unit_(std::move(unit)) {}

bool VerifyExchange::Start(uint64_t id, uint64_t connection) {
  if (id == 0 || id > kMaxSeq || pending_.count(id) || pending_.size() >= kMaxPendingVerifies) {
    return false;
  }
  pending_[id] = Pending{core_.env().MonotonicMs() + core_.options().verify_timeout_ms, connection,
                         std::nullopt};
  core_.Send(Verify{id});
  core_.Log(LogLevel::kInfo, "verify_started", "unit=" + unit_ + " id=" + std::to_string(id));
  ArmDeadline();
  return true;
}

bool VerifyExchange::Handle(Message& message, uint64_t connection) {
  if (const auto* verify = std::get_if<Verify>(&message)) {
    OnVerify(*verify, connection);
    return true;
  }
  if (auto* digests = std::get_if<Digests>(&message)) {
    OnDigests(*digests, connection);
    return true;
  }
  return false;
}

void VerifyExchange::OnVerify(const Verify& verify, uint64_t connection) {
  if (answering_ >= kMaxVerifyAnswers) {
    core_.Log(LogLevel::kWarning, "verify_refused",
              "unit=" + unit_ + " id=" + std::to_string(verify.id) +
                  " in_progress=" + std::to_string(answering_));
    core_.Send(Digests{verify.id,
                       {},
                       std::to_string(answering_) + " verifies already in progress; retry later",
                       {}});
    return;
  }
  ++answering_;
  core_.Request(ComputeDigests{verify.id, true}, connection);
}

void VerifyExchange::OnDigests(Digests& digests, uint64_t connection) {
  auto it = pending_.find(digests.id);
  if (it == pending_.end() || it->second.peer || it->second.connection != connection) {
    // Late (our deadline passed) or repeated: nobody waits for it.
    core_.Log(LogLevel::kWarning, "verify_unknown_answer",
              "unit=" + unit_ + " id=" + std::to_string(digests.id));
    return;
  }
  if (!digests.error.empty()) {
    Finish(digests.id, Fail(Errc::kBusy, std::string(peer_name()) +
                                             " answered without digests: " + digests.error));
    return ArmDeadline();
  }
  it->second.peer = std::move(digests);
  core_.Request(ComputeDigests{it->first, false}, connection);
}

void VerifyExchange::OnComputed(const ComputeDigests& work, uint64_t connection,
                                DigestsComputed& result, bool live) {
  if (!live) return;
  if (work.for_peer) {
    if (answering_ > 0) --answering_;
    return Answer(work.id, result);
  }
  auto it = pending_.find(work.id);
  if (it == pending_.end() || !it->second.peer || it->second.connection != connection) return;
  if (!result.ok) {
    Finish(work.id, Fail(result.code, "could not compute our digests: " + result.error));
    return ArmDeadline();
  }
  const Digests& peer = *it->second.peer;
  VerifyReport report =
      side_ == Side::kUnit
          ? CompareDigests(unit_, result.position, result.tables, peer.position, peer.tables)
          : CompareDigests(unit_, peer.position, peer.tables, result.position, result.tables);
  Finish(work.id, std::move(report));
  ArmDeadline();
}

void VerifyExchange::Answer(uint64_t id, DigestsComputed& result) {
  if (!result.ok) {
    core_.Log(LogLevel::kError, "verify_answer_failed",
              "unit=" + unit_ + " id=" + std::to_string(id) + " error=\"" + result.error + "\"");
    core_.Send(Digests{id, {}, CutText("could not compute digests: " + result.error), {}});
    return;
  }
  const size_t tables = result.tables.size();
  const Digests answer{id, result.position, "", std::move(result.tables)};
  if (Status st = core_.TrySend(answer); !st) {
    // Only a manifest far larger than anything shipped (or a tiny max_frame) gets here.
    core_.Log(
        LogLevel::kError, "verify_answer_failed",
        "unit=" + unit_ + " id=" + std::to_string(id) + " error=\"" + st.error().message + "\"");
    core_.Send(Digests{id,
                       {},
                       "digests of " + std::to_string(tables) +
                           " tables do not fit in one frame; raise sync.max_frame on both nodes",
                       {}});
    return;
  }
  core_.Log(LogLevel::kInfo, "verify_answered",
            "unit=" + unit_ + " id=" + std::to_string(id) + " tables=" + std::to_string(tables));
}

void VerifyExchange::Finish(uint64_t id, Result<VerifyReport> result) {
  pending_.erase(id);
  if (result) {
    std::string differ;
    for (const TableVerdict& t : result->tables) {
      if (!t.equal) differ += (differ.empty() ? "" : ",") + t.table;
    }
    core_.Log(result->all_equal() ? LogLevel::kInfo : LogLevel::kWarning, "verify_done",
              "unit=" + unit_ + " id=" + std::to_string(id) +
                  " tables=" + std::to_string(result->tables.size()) +
                  " differ=" + std::to_string(result->differing()) +
                  (differ.empty() ? "" : " differing=" + differ) +
                  " settled=" + (result->settled ? "1" : "0"));
  } else {
    core_.Log(LogLevel::kWarning, "verify_failed",
              "unit=" + unit_ + " id=" + std::to_string(id) + " error=\"" + result.error().message +
                  "\"");
  }
  core_.Emit(SyncAction(std::in_place_type<VerifyDone>, VerifyDone{id, std::move(result)}));
}

void VerifyExchange::OnTimer() {
  armed_ = false;
  const int64_t now = core_.env().MonotonicMs();
  std::vector<std::pair<uint64_t, bool>> expired;  // id, DIGESTS had arrived
  for (const auto& [id, p] : pending_) {
    if (p.deadline_ms <= now) expired.emplace_back(id, p.peer.has_value());
  }
  const std::string after = std::to_string(core_.options().verify_timeout_ms) + " ms";
  for (const auto& [id, answered] : expired) {
    Finish(id, Fail(Errc::kUnavailable,
                    answered ? "our own digests were not computed within " + after
                             : "no DIGESTS from " + std::string(peer_name()) + " within " + after));
  }
  ArmDeadline();
}

void VerifyExchange::FailAll(Errc code, const std::string& why) {
  answering_ = 0;
  while (!pending_.empty()) Finish(pending_.begin()->first, Fail(code, why));
  ArmDeadline();
}

void VerifyExchange::ArmDeadline() {
  if (pending_.empty()) {
    if (armed_) core_.Cancel(TimerId::kVerify);
    armed_ = false;
    return;
  }
  armed_ = true;
  int64_t earliest = pending_.begin()->second.deadline_ms;
  for (const auto& [id, p] : pending_) earliest = std::min(earliest, p.deadline_ms);
  core_.Arm(TimerId::kVerify, std::max<int64_t>(0, earliest - core_.env().MonotonicMs()));
}

}  // namespace unitsync::protocol
