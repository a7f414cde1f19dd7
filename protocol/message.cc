// Message names and the FORMAT.md range rules shared by the encoder and the decoder.
#include "protocol/message.h"

#include <string>
#include <type_traits>

#include "protocol/limits.h"
#include "protocol/message_codec.h"
#include "protocol/text.h"

namespace unitsync::protocol {
namespace {

class Checker {
 public:
  Checker(std::string_view message, Errc code) : message_(message), code_(code) {}

  Status Id(std::string_view field, std::string_view value) const {
    if (value.empty() || value.size() > kMaxIdBytes || !IsIdText(value)) {
      return Bad(field, "must be 1.." + std::to_string(kMaxIdBytes) + " bytes of [A-Za-z0-9._:-]");
    }
    return {};
  }
  Status OptionalId(std::string_view field, std::string_view value) const {
    return value.empty() ? Status{} : Id(field, value);
  }
  Status Text(std::string_view field, std::string_view value, size_t min, size_t max) const {
    if (value.size() < min || value.size() > max || !IsValidUtf8(value)) {
      return Bad(field,
                 "must be " + std::to_string(min) + ".." + std::to_string(max) + " bytes of UTF-8");
    }
    return {};
  }
  Status Range(std::string_view field, uint64_t value, uint64_t min, uint64_t max) const {
    if (value < min || value > max) {
      return Bad(field, "is outside [" + std::to_string(min) + ", " + std::to_string(max) + "]");
    }
    return {};
  }
  Status Seq(std::string_view field, uint64_t value, uint64_t min = 0) const {
    return Range(field, value, min, kMaxSeq);
  }
  Status Envelope(std::string_view field, const Bytes& value) const {
    if (value.size() < kEnvelopeOverhead) {
      return Bad(field,
                 "is shorter than an envelope (" + std::to_string(kEnvelopeOverhead) + " bytes)");
    }
    return {};
  }
  Status Bad(std::string_view field, std::string_view what) const {
    return Fail(code_, std::string(message_) + " field \"" + std::string(field) + "\" " +
                           std::string(what));
  }

 private:
  std::string_view message_;
  Errc code_;
};

// Runs checks in order and stops at the first failure.
template <typename... Checks>
Status All(Checks&&... checks) {
  Status result;
  ((result ? (result = checks(), 0) : 0), ...);
  return result;
}

Status Check(const Hello& m, const Checker& c) {
  return All([&] { return c.Range("min", m.min_version, 1, 65535); },
             [&] { return c.Range("max", m.max_version, m.min_version, 65535); },
             [&] { return c.Id("node", m.node_id); }, [&] { return c.Seq("push", m.push_seq); },
             [&] { return c.Seq("pull", m.pull_seq); },
             [&] { return c.OptionalId("gen", m.central_generation); },
             [&]() -> Status {
               if (!m.seed) return {};
               const SeedRequest& s = *m.seed;
               return All(
                   [&] { return c.Id("seed[0]", s.snapshot_id); },
                   [&] { return c.Range("seed[1]", s.next_chunk, 0, kMaxSnapshotChunks - 1); },
                   [&] { return c.OptionalId("seed[2]", s.after_table); },
                   [&] { return c.Text("seed[3]", s.after_pk, 0, kMaxTextBytes); },
                   [&]() -> Status {
                     if (s.after_table.empty() && !s.after_pk.empty()) {
                       return c.Bad("seed", "names a row without its table");
                     }
                     return {};
                   });
             });
}

Status Check(const Welcome& m, const Checker& c) {
  return All([&] { return c.Range("ver", m.version, 1, 65535); },
             [&] { return c.Id("node", m.node_id); }, [&] { return c.Id("gen", m.generation); },
             [&] { return c.Seq("applied", m.applied_seq); },
             [&] { return c.Seq("head", m.log_head); });
}

Status Check(const Push& m, const Checker& c) {
  return All([&] { return c.Seq("seq", m.seq, 1); }, [&] { return c.Envelope("env", m.envelope); });
}

Status CheckOf(AckOf of, const Checker& c) {
  return c.Range("of", static_cast<uint64_t>(of), 1, 3);
}

Status Check(const Ack& m, const Checker& c) {
  return All([&] { return CheckOf(m.of, c); }, [&] { return c.Seq("seq", m.seq); });
}

Status Check(const Nack& m, const Checker& c) {
  Status s = All([&] { return CheckOf(m.of, c); }, [&] { return c.Seq("seq", m.seq); },
                 [&] { return c.Range("code", static_cast<uint64_t>(m.code), 1, 6); },
                 [&] { return c.Text("reason", m.reason, 0, kMaxTextBytes); });
  if (!s) return s;
  if (m.rows.size() > kMaxNackRows) {
    return c.Bad("rows", "has more than " + std::to_string(kMaxNackRows) + " entries");
  }
  if (!m.rows.empty() && m.code != NackCode::kPartial) {
    return c.Bad("rows", "must be empty unless code is 3 (partial)");
  }
  for (const RowRejection& row : m.rows) {
    if (s = c.Text("rows[].table", row.table, 1, kMaxIdBytes); !s) return s;
    if (s = c.Text("rows[].id", row.id, 1, kMaxIdBytes); !s) return s;
  }
  return {};
}

Status Check(const Changes& m, const Checker& c) {
  return All([&] { return c.Seq("from", m.from_seq, 1); },
             [&] { return c.Seq("to", m.to_seq, m.from_seq); },
             [&] { return c.Envelope("env", m.envelope); });
}

Status Check(const SnapshotBegin& m, const Checker& c) {
  return All([&] { return c.Id("snap", m.snapshot_id); }, [&] { return c.Seq("head", m.log_head); },
             [&] { return c.Seq("rows", m.rows); });
}

Status Check(const SnapshotChunk& m, const Checker& c) {
  return All([&] { return c.Id("snap", m.snapshot_id); },
             [&] { return c.Range("i", m.index, 0, kMaxSnapshotChunks - 1); },
             [&] { return c.Envelope("env", m.envelope); });
}

Status Check(const SnapshotEnd& m, const Checker& c) {
  return All([&] { return c.Id("snap", m.snapshot_id); },
             [&] { return c.Range("chunks", m.chunk_count, 0, kMaxSnapshotChunks); },
             [&] { return c.Seq("rows", m.rows); });
}

Status Check(const Ping&, const Checker&) { return {}; }
Status Check(const Pong&, const Checker&) { return {}; }

Status Check(const ErrorMessage& m, const Checker& c) {
  return All([&] { return c.Range("code", static_cast<uint64_t>(m.code), 1, 8); },
             [&] { return c.Text("msg", m.message, 0, kMaxTextBytes); });
}

Status Check(const Verify& m, const Checker& c) { return c.Seq("id", m.id, 1); }

Status Check(const Digests& m, const Checker& c) {
  Status s =
      All([&] { return c.Seq("id", m.id, 1); }, [&] { return c.Seq("push", m.position.push); },
          [&] { return c.Seq("pull", m.position.pull); },
          [&] { return c.Seq("head", m.position.head); },
          [&] { return c.Seq("waiting", m.position.waiting); },
          [&] { return c.Text("error", m.error, 0, kMaxTextBytes); });
  if (!s) return s;
  if (m.tables.size() > kMaxDigestTables) {
    return c.Bad("tables", "has more than " + std::to_string(kMaxDigestTables) + " entries");
  }
  if (!m.error.empty() && !m.tables.empty()) {
    return c.Bad("tables", "must be empty when \"error\" is set");
  }
  for (size_t i = 0; i < m.tables.size(); ++i) {
    const TableDigest& t = m.tables[i];
    if (s = c.Id("tables[].table", t.table); !s) return s;
    if (s = c.Seq("tables[].rows", t.rows); !s) return s;
    if (s = c.Seq("tables[].tombstones", t.tombstones); !s) return s;
    if (t.sha256.size() != kSha256Bytes) {
      return c.Bad("tables[].sha256", "must be " + std::to_string(kSha256Bytes) + " bytes");
    }
    for (size_t j = 0; j < i; ++j) {
      if (m.tables[j].table == t.table) return c.Bad("tables", "lists a table twice");
    }
  }
  return {};
}

// TypeOf relies on the variant's order matching the wire type numbers.
template <MessageType type, typename T>
constexpr bool kAt =
    std::is_same_v<std::variant_alternative_t<static_cast<size_t>(type) - 1, Message>, T>;
static_assert(kAt<MessageType::kHello, Hello> && kAt<MessageType::kWelcome, Welcome> &&
              kAt<MessageType::kPush, Push> && kAt<MessageType::kAck, Ack> &&
              kAt<MessageType::kNack, Nack> && kAt<MessageType::kChanges, Changes> &&
              kAt<MessageType::kSnapshotBegin, SnapshotBegin> &&
              kAt<MessageType::kSnapshotChunk, SnapshotChunk> &&
              kAt<MessageType::kSnapshotEnd, SnapshotEnd> && kAt<MessageType::kPing, Ping> &&
              kAt<MessageType::kPong, Pong> && kAt<MessageType::kError, ErrorMessage> &&
              kAt<MessageType::kVerify, Verify> && kAt<MessageType::kDigests, Digests>);

}  // namespace

MessageType TypeOf(const Message& message) { return static_cast<MessageType>(message.index() + 1); }

std::string_view MessageTypeName(MessageType type) {
  switch (type) {
    case MessageType::kHello:
      return "HELLO";
    case MessageType::kWelcome:
      return "WELCOME";
    case MessageType::kPush:
      return "PUSH";
    case MessageType::kAck:
      return "ACK";
    case MessageType::kNack:
      return "NACK";
    case MessageType::kChanges:
      return "CHANGES";
    case MessageType::kSnapshotBegin:
      return "SNAPSHOT_BEGIN";
    case MessageType::kSnapshotChunk:
      return "SNAPSHOT_CHUNK";
    case MessageType::kSnapshotEnd:
      return "SNAPSHOT_END";
    case MessageType::kPing:
      return "PING";
    case MessageType::kPong:
      return "PONG";
    case MessageType::kError:
      return "ERROR";
    case MessageType::kVerify:
      return "VERIFY";
    case MessageType::kDigests:
      return "DIGESTS";
  }
  return "UNKNOWN";
}

Status ValidateMessage(const Message& message, Errc code) {
  const Checker checker(MessageTypeName(TypeOf(message)), code);
  return std::visit([&](const auto& m) { return Check(m, checker); }, message);
}

}  // namespace unitsync::protocol
