// Driving one sync state machine event by event in tests: a fake environment, frames
// in, actions out sorted by kind.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "protocol/frame.h"
#include "protocol/message_codec.h"
#include "protocol/sync_types.h"

namespace unitsync::protocol::testing {

class FakeEnv final : public SyncEnv {
 public:
  int64_t MonotonicMs() override { return now; }
  uint64_t Random() override { return next_random++; }
  int64_t now = 0;
  uint64_t next_random = 0;
};

inline Bytes FrameOf(const Message& m) {
  auto f = EncodeMessageFrame(m);
  EXPECT_TRUE(f.has_value());
  return f ? *f : Bytes();
}

// What one batch of actions says, sorted by kind.
struct Out {
  std::vector<Message> sent;
  std::vector<StoreWork> work;
  std::vector<ArmTimer> armed;
  std::vector<std::string> logs;
  std::vector<VerifyDone> verify_done;
  bool closed = false;
  bool connect = false;
  bool log_advanced = false;
};

inline Out Take(std::vector<SyncAction> actions) {
  Out out;
  for (auto& a : actions) {
    if (auto* s = std::get_if<SendFrame>(&a)) {
      FrameDecoder dec;
      ByteView in(s->frame);
      auto body = dec.Next(in);
      EXPECT_TRUE(body && *body);
      auto m = DecodeMessage(**body);
      EXPECT_TRUE(m.has_value());
      if (m) out.sent.push_back(*m);
    } else if (auto* w = std::get_if<StoreWork>(&a)) {
      out.work.push_back(*w);
    } else if (auto* t = std::get_if<ArmTimer>(&a)) {
      out.armed.push_back(*t);
    } else if (auto* l = std::get_if<LogLine>(&a)) {
      out.logs.push_back(l->event);
    } else if (std::holds_alternative<CloseConnection>(a)) {
      out.closed = true;
    } else if (std::holds_alternative<Connect>(a)) {
      out.connect = true;
    } else if (std::holds_alternative<LogAdvanced>(a)) {
      out.log_advanced = true;
    } else if (auto* v = std::get_if<VerifyDone>(&a)) {
      out.verify_done.push_back(std::move(*v));
    }
  }
  return out;
}

template <typename T>
const T* Only(const std::vector<Message>& sent) {
  EXPECT_EQ(sent.size(), 1u);
  return sent.size() == 1 ? std::get_if<T>(&sent[0]) : nullptr;
}

inline std::optional<int64_t> Armed(const Out& out, TimerId id) {
  for (const auto& t : out.armed) {
    if (t.id == id) return t.after_ms;
  }
  return std::nullopt;
}

// Feeds one event to a session (Uplink or HubSession) and takes what it did.
template <typename Session>
Out Feed(Session& session, const Message& m) {
  session.OnBytes(FrameOf(m));
  return Take(session.TakeActions());
}
template <typename Session>
Out Result(Session& session, StoreResult r) {
  session.OnStoreResult(std::move(r));
  return Take(session.TakeActions());
}
template <typename Session>
Out Timer(Session& session, TimerId id) {
  session.OnTimer(id);
  return Take(session.TakeActions());
}

// The code of the ERROR among `out.sent`, if one was sent.
inline std::optional<ErrorCode> ErrorSent(const Out& out) {
  for (const auto& m : out.sent) {
    if (const auto* e = std::get_if<ErrorMessage>(&m)) return e->code;
  }
  return std::nullopt;
}

// Whether `out` asks the store for work of kind W.
template <typename W>
bool Has(const Out& out) {
  return std::any_of(out.work.begin(), out.work.end(),
                     [](const StoreWork& w) { return std::holds_alternative<W>(w); });
}

inline Bytes FakeEnvelope() { return Bytes(40, 0xAB); }

inline bool LoggedEvent(const Out& out, const std::string& event) {
  return std::find(out.logs.begin(), out.logs.end(), event) != out.logs.end();
}

// Digests a store computed: `tables` tables "t0".. with `rows` rows each, hash bytes `fill`.
inline DigestsComputed Computed(VerifyPosition position, size_t tables, uint64_t rows = 1,
                                uint8_t fill = 0x11) {
  DigestsComputed c;
  c.position = position;
  for (size_t i = 0; i < tables; ++i) {
    c.tables.push_back({"t" + std::to_string(i), rows, 0, Bytes(kSha256Bytes, fill)});
  }
  return c;
}

}  // namespace unitsync::protocol::testing
