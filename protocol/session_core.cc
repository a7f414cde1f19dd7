#include "protocol/session_core.h"

#include "protocol/message_codec.h"

namespace unitsync::protocol {

SessionCore::SessionCore(const SyncOptions& options, SyncEnv& env) : options_(options), env_(env) {}

std::vector<SyncAction> SessionCore::TakeActions() {
  std::vector<SyncAction> out;
  out.swap(actions_);
  return out;
}

void SessionCore::ConnectionUp() {
  connected_ = true;
  decoder_.emplace(options_.max_frame);
  Arm(TimerId::kHeartbeat, options_.ping_interval_ms);
  Arm(TimerId::kReadDeadline, options_.read_deadline_ms);
}

void SessionCore::ConnectionDown() {
  connected_ = false;
  decoder_.reset();
  Cancel(TimerId::kHeartbeat);
  Cancel(TimerId::kReadDeadline);
  Cancel(TimerId::kHandshake);
  Cancel(TimerId::kRetry);
}

Status SessionCore::Decode(ByteView bytes, std::vector<Message>& out) {
  if (!decoder_) return Fail(Errc::kInternal, "bytes received on a closed session");
  while (!bytes.empty()) {
    auto body = decoder_->Next(bytes);
    if (!body) {
      SendErrorAndClose(ErrorCode::kMalformed, body.error().message);
      return tl::unexpected(body.error());
    }
    if (!*body) break;
    auto message = DecodeMessage(**body, options_.max_frame);
    if (!message) {
      SendErrorAndClose(ErrorCode::kMalformed, message.error().message);
      return tl::unexpected(message.error());
    }
    out.push_back(std::move(*message));
  }
  return {};
}

Status SessionCore::TrySend(const Message& message) {
  auto frame = EncodeMessageFrame(message, options_.max_frame);
  if (!frame) return tl::unexpected(frame.error());
  actions_.push_back(SendFrame{std::move(*frame)});
  if (connected_) Arm(TimerId::kHeartbeat, options_.ping_interval_ms);
  return {};
}

void SessionCore::Send(const Message& message) {
  if (Status st = TrySend(message); !st) {
    // Every field we send is checked where it is made; reaching this is a bug.
    Log(LogLevel::kError, "encode_failed",
        "type=" + std::string(MessageTypeName(TypeOf(message))) + " error=\"" + st.error().message +
            "\"");
    Close("internal encoding error");
  }
}

void SessionCore::SendErrorAndClose(ErrorCode code, const std::string& message) {
  // The peer sees the reason too, cut to the text limit.
  Send(ErrorMessage{code, CutText(message)});
  Close(message);
}

void SessionCore::Close(const std::string& reason) {
  actions_.push_back(CloseConnection{reason});
  ConnectionDown();
}

void SessionCore::Log(LogLevel level, std::string event, std::string fields) {
  actions_.push_back(LogLine{level, std::move(event), std::move(fields)});
}

void SessionCore::Received() {
  if (connected_) Arm(TimerId::kReadDeadline, options_.read_deadline_ms);
}

void SessionCore::HeartbeatDue() {
  if (!connected_) return;
  Send(Ping{env_.Random()});
}

bool SessionCore::HandleLiveness(const Message& message) {
  if (const auto* ping = std::get_if<Ping>(&message)) {
    Send(Pong{ping->nonce});
    return true;
  }
  return std::holds_alternative<Pong>(message);
}

void SessionCore::Request(StoreWork work, uint64_t connection) {
  if (outstanding_ || dispatching_) {
    held_.push_back({std::move(work), connection});
    return;
  }
  // The driver gets the work; the core keeps it to dispatch the answer, without the
  // envelope bytes it no longer needs (up to a frame each).
  Pending kept{work, connection};
  std::visit(
      [](auto& w) {
        if constexpr (requires { w.envelope; }) w.envelope = Bytes();
      },
      kept.work);
  actions_.push_back(std::move(work));
  outstanding_ = std::move(kept);
}

std::optional<SessionCore::Pending> SessionCore::Completed() {
  std::optional<Pending> done = std::move(outstanding_);
  outstanding_.reset();
  dispatching_ = true;
  return done;
}

void SessionCore::IssueHeld() {
  dispatching_ = false;
  if (outstanding_ || held_.empty()) return;
  Pending next = std::move(held_.front());
  held_.pop_front();
  Request(std::move(next.work), next.connection);
}

std::string CutText(std::string_view text, size_t max) {
  if (text.size() <= max) return std::string(text);
  // Back off to the start of the character that straddles the cut.
  size_t n = max;
  while (n > 0 && (static_cast<uint8_t>(text[n]) & 0xC0) == 0x80) --n;
  return std::string(text.substr(0, n));
}

std::string SeqField(const char* key, uint64_t seq) {
  return std::string(key) + "=" + std::to_string(seq);
}

}  // namespace unitsync::protocol
