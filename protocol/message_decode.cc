// Decoding half of protocol/message_codec.h: one strict decoder for every message.
#include <array>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "protocol/message_codec.h"
#include "protocol/message_schema.h"
#include "protocol/msgpack_strict.h"
#include "protocol/text.h"

namespace unitsync::protocol {
namespace {

struct Entry {
  std::string_view key;
  const msgpack::object* value;
};

// A key from the wire, safe to put in an error message.
std::string Describe(std::string_view key) {
  if (key.size() <= 16 && IsIdText(key)) {
    return "\"" + std::string(key) + "\"";
  }
  return "(a " + std::to_string(key.size()) + "-byte key)";
}

// Extracts typed fields; the first failure sticks and later reads return defaults, so a
// decoder reads every field and checks failed() once at the end.
class Reader {
 public:
  Reader(std::string_view message, std::span<const Entry> entries)
      : message_(message), entries_(entries) {}

  uint64_t Uint(std::string_view key, uint64_t max) {
    const msgpack::object* o = Find(key);
    if (o == nullptr) return 0;
    return UintValue(*o, key, max);
  }
  std::string Str(std::string_view key) {
    const msgpack::object* o = Find(key);
    if (o == nullptr) return {};
    if (o->type != msgpack::type::STR) return Bad(key, "must be a msgpack str"), std::string();
    return std::string(o->via.str.ptr, o->via.str.size);
  }
  Bytes Bin(std::string_view key) {
    const msgpack::object* o = Find(key);
    if (o == nullptr) return {};
    if (o->type != msgpack::type::BIN) return Bad(key, "must be a msgpack bin"), Bytes();
    const auto* p = reinterpret_cast<const uint8_t*>(o->via.bin.ptr);
    return Bytes(p, p + o->via.bin.size);
  }
  std::vector<RowRejection> Rows(std::string_view key) {
    std::vector<RowRejection> rows;
    const msgpack::object* o = Find(key);
    if (o == nullptr) return rows;
    if (o->type != msgpack::type::ARRAY) return Bad(key, "must be a msgpack array"), rows;
    rows.reserve(o->via.array.size);  // bounded by the unpack limit on arrays
    for (uint32_t i = 0; i < o->via.array.size && !failed(); ++i) {
      const msgpack::object& row = o->via.array.ptr[i];
      if (row.type != msgpack::type::ARRAY || row.via.array.size != 3 ||
          row.via.array.ptr[0].type != msgpack::type::STR ||
          row.via.array.ptr[1].type != msgpack::type::STR) {
        Bad(key, "entries must be [table str, id str, reason uint]");
        break;
      }
      const msgpack::object* f = row.via.array.ptr;
      RowRejection r;
      r.table.assign(f[0].via.str.ptr, f[0].via.str.size);
      r.id.assign(f[1].via.str.ptr, f[1].via.str.size);
      r.reason = static_cast<uint16_t>(UintValue(f[2], "rows[].reason", 0xFFFF));
      rows.push_back(std::move(r));
    }
    return rows;
  }

  // HELLO "seed": [] or [snap str, next uint, table str, after str].
  std::optional<SeedRequest> Seed(std::string_view key) {
    const msgpack::object* o = Find(key);
    if (o == nullptr) return std::nullopt;
    if (o->type != msgpack::type::ARRAY) return Bad(key, "must be a msgpack array"), std::nullopt;
    if (o->via.array.size == 0) return std::nullopt;
    const msgpack::object* f = o->via.array.ptr;
    if (o->via.array.size != 4 || f[0].type != msgpack::type::STR ||
        f[2].type != msgpack::type::STR || f[3].type != msgpack::type::STR) {
      Bad(key, "must be [] or [snap str, next uint, table str, after str]");
      return std::nullopt;
    }
    SeedRequest seed;
    seed.snapshot_id.assign(f[0].via.str.ptr, f[0].via.str.size);
    seed.next_chunk = UintValue(f[1], "seed[1]", kMaxSnapshotChunks - 1);
    seed.after_table.assign(f[2].via.str.ptr, f[2].via.str.size);
    seed.after_pk.assign(f[3].via.str.ptr, f[3].via.str.size);
    return seed;
  }

  std::vector<TableDigest> Tables(std::string_view key) {
    std::vector<TableDigest> tables;
    const msgpack::object* o = Find(key);
    if (o == nullptr) return tables;
    if (o->type != msgpack::type::ARRAY) return Bad(key, "must be a msgpack array"), tables;
    if (o->via.array.size > kMaxDigestTables) {
      return Bad(key, "has more than " + std::to_string(kMaxDigestTables) + " entries"), tables;
    }
    tables.reserve(o->via.array.size);
    for (uint32_t i = 0; i < o->via.array.size && !failed(); ++i) {
      const msgpack::object& entry = o->via.array.ptr[i];
      if (entry.type != msgpack::type::ARRAY || entry.via.array.size != 4 ||
          entry.via.array.ptr[0].type != msgpack::type::STR ||
          entry.via.array.ptr[3].type != msgpack::type::BIN) {
        Bad(key, "entries must be [table str, rows uint, tombstones uint, sha256 bin]");
        break;
      }
      const msgpack::object* f = entry.via.array.ptr;
      TableDigest t;
      t.table.assign(f[0].via.str.ptr, f[0].via.str.size);
      t.rows = UintValue(f[1], "tables[].rows", kMaxSeq);
      t.tombstones = UintValue(f[2], "tables[].tombstones", kMaxSeq);
      const auto* p = reinterpret_cast<const uint8_t*>(f[3].via.bin.ptr);
      t.sha256.assign(p, p + f[3].via.bin.size);
      tables.push_back(std::move(t));
    }
    return tables;
  }

  bool failed() const { return error_.has_value(); }
  const Error& error() const { return *error_; }

 private:
  const msgpack::object* Find(std::string_view key) {
    if (failed()) return nullptr;
    for (const Entry& e : entries_) {
      if (e.key == key) return e.value;
    }
    Bad(key, "is missing");  // unreachable after the schema check; kept as a guard
    return nullptr;
  }
  uint64_t UintValue(const msgpack::object& o, std::string_view key, uint64_t max) {
    if (failed()) return 0;
    if (o.type == msgpack::type::NEGATIVE_INTEGER) return Bad(key, "must not be negative"), 0;
    if (o.type != msgpack::type::POSITIVE_INTEGER) {
      return Bad(key, "must be an unsigned integer"), 0;
    }
    if (o.via.u64 > max) return Bad(key, "is out of range"), 0;
    return o.via.u64;
  }
  void Bad(std::string_view key, std::string_view what) {
    if (!failed()) {
      error_ =
          Error{Errc::kMalformed,
                std::string(message_) + " field \"" + std::string(key) + "\" " + std::string(what),
                {}};
    }
  }

  std::string_view message_;
  std::span<const Entry> entries_;
  std::optional<Error> error_;
};

void ReadFields(Reader& r, Hello& m) {
  m.min_version = static_cast<uint16_t>(r.Uint("min", 0xFFFF));
  m.max_version = static_cast<uint16_t>(r.Uint("max", 0xFFFF));
  m.node_id = r.Str("node");
  m.push_seq = r.Uint("push", kMaxSeq);
  m.pull_seq = r.Uint("pull", kMaxSeq);
  m.central_generation = r.Str("gen");
  m.seed = r.Seed("seed");
}
void ReadFields(Reader& r, Welcome& m) {
  m.version = static_cast<uint16_t>(r.Uint("ver", 0xFFFF));
  m.node_id = r.Str("node");
  m.generation = r.Str("gen");
  m.applied_seq = r.Uint("applied", kMaxSeq);
  m.log_head = r.Uint("head", kMaxSeq);
}
void ReadFields(Reader& r, Push& m) {
  m.seq = r.Uint("seq", kMaxSeq);
  m.envelope = r.Bin("env");
}
void ReadFields(Reader& r, Ack& m) {
  m.of = static_cast<AckOf>(r.Uint("of", 0xFF));
  m.seq = r.Uint("seq", kMaxSeq);
}
void ReadFields(Reader& r, Nack& m) {
  m.of = static_cast<AckOf>(r.Uint("of", 0xFF));
  m.seq = r.Uint("seq", kMaxSeq);
  m.code = static_cast<NackCode>(r.Uint("code", 0xFF));
  m.reason = r.Str("reason");
  m.rows = r.Rows("rows");
}
void ReadFields(Reader& r, Changes& m) {
  m.from_seq = r.Uint("from", kMaxSeq);
  m.to_seq = r.Uint("to", kMaxSeq);
  m.envelope = r.Bin("env");
}
void ReadFields(Reader& r, SnapshotBegin& m) {
  m.snapshot_id = r.Str("snap");
  m.log_head = r.Uint("head", kMaxSeq);
  m.rows = r.Uint("rows", kMaxSeq);
}
void ReadFields(Reader& r, SnapshotChunk& m) {
  m.snapshot_id = r.Str("snap");
  m.index = r.Uint("i", kMaxSnapshotChunks - 1);
  m.envelope = r.Bin("env");
}
void ReadFields(Reader& r, SnapshotEnd& m) {
  m.snapshot_id = r.Str("snap");
  m.chunk_count = r.Uint("chunks", kMaxSnapshotChunks);
  m.rows = r.Uint("rows", kMaxSeq);
}
void ReadFields(Reader& r, Ping& m) { m.nonce = r.Uint("nonce", UINT64_MAX); }
void ReadFields(Reader& r, Pong& m) { m.nonce = r.Uint("nonce", UINT64_MAX); }
void ReadFields(Reader& r, ErrorMessage& m) {
  m.code = static_cast<ErrorCode>(r.Uint("code", 0xFF));
  m.message = r.Str("msg");
}

void ReadFields(Reader& r, Verify& m) { m.id = r.Uint("id", kMaxSeq); }
void ReadFields(Reader& r, Digests& m) {
  m.id = r.Uint("id", kMaxSeq);
  m.position.push = r.Uint("push", kMaxSeq);
  m.position.pull = r.Uint("pull", kMaxSeq);
  m.position.head = r.Uint("head", kMaxSeq);
  m.position.waiting = r.Uint("waiting", kMaxSeq);
  m.error = r.Str("error");
  m.tables = r.Tables("tables");
}

// Checks the key set against Schema<T> and reads the fields.
template <typename T>
Result<Message> DecodeAs(std::string_view name, std::span<const Entry> entries) {
  constexpr auto& keys = Schema<T>::kKeys;
  for (const Entry& e : entries) {
    if (e.key == "t" || e.key == "v") continue;
    bool known = false;
    for (std::string_view k : keys) known = known || (k == e.key);
    if (!known) {
      return Fail(Errc::kMalformed, std::string(name) + " has unknown key " + Describe(e.key));
    }
  }
  for (std::string_view k : keys) {
    bool present = false;
    for (const Entry& e : entries) present = present || (e.key == k);
    if (!present) {
      return Fail(Errc::kMalformed,
                  std::string(name) + " is missing field \"" + std::string(k) + "\"");
    }
  }
  T message;
  Reader reader(name, entries);
  ReadFields(reader, message);
  if (reader.failed()) return tl::unexpected(reader.error());
  Message result(std::move(message));
  if (Status s = ValidateMessage(result, Errc::kMalformed); !s) {
    return tl::unexpected(s.error());
  }
  return result;
}

}  // namespace

Result<Message> DecodeMessage(ByteView body, size_t max_frame) {
  auto handle = UnpackStrict(body, max_frame);
  if (!handle) return tl::unexpected(handle.error());
  const msgpack::object& root = handle->get();
  if (root.type != msgpack::type::MAP) {
    return Fail(Errc::kMalformed, "message body is not a msgpack map");
  }
  if (root.via.map.size > kMaxMapEntries) {  // the unpacker enforces this; belt and braces
    return Fail(Errc::kMalformed, "message map has too many keys");
  }
  std::array<Entry, kMaxMapEntries> storage;
  const size_t n = root.via.map.size;
  for (size_t i = 0; i < n; ++i) {
    const msgpack::object_kv& kv = root.via.map.ptr[i];
    if (kv.key.type != msgpack::type::STR) {
      return Fail(Errc::kMalformed, "message has a map key that is not a msgpack str");
    }
    const std::string_view key(kv.key.via.str.ptr, kv.key.via.str.size);
    for (size_t j = 0; j < i; ++j) {
      if (storage[j].key == key) {
        return Fail(Errc::kMalformed, "message has duplicate key " + Describe(key));
      }
    }
    storage[i] = Entry{key, &kv.val};
  }
  const std::span<const Entry> entries(storage.data(), n);

  Reader head("message", entries);
  const uint64_t t = head.Uint("t", UINT64_MAX);
  if (head.failed()) return tl::unexpected(head.error());
  if (t < 1 || t > std::variant_size_v<Message>) {
    return Fail(Errc::kMalformed, "unknown message type " + std::to_string(t));
  }
  const auto type = static_cast<MessageType>(t);
  const std::string_view name = MessageTypeName(type);
  Reader version_reader(name, entries);
  const uint64_t v = version_reader.Uint("v", UINT64_MAX);
  if (version_reader.failed()) return tl::unexpected(version_reader.error());
  if (v < kMinProtocolVersion || v > kMaxProtocolVersion) {
    return Fail(Errc::kMalformed,
                std::string(name) + " uses unsupported protocol version " + std::to_string(v));
  }

  switch (type) {
    case MessageType::kHello:
      return DecodeAs<Hello>(name, entries);
    case MessageType::kWelcome:
      return DecodeAs<Welcome>(name, entries);
    case MessageType::kPush:
      return DecodeAs<Push>(name, entries);
    case MessageType::kAck:
      return DecodeAs<Ack>(name, entries);
    case MessageType::kNack:
      return DecodeAs<Nack>(name, entries);
    case MessageType::kChanges:
      return DecodeAs<Changes>(name, entries);
    case MessageType::kSnapshotBegin:
      return DecodeAs<SnapshotBegin>(name, entries);
    case MessageType::kSnapshotChunk:
      return DecodeAs<SnapshotChunk>(name, entries);
    case MessageType::kSnapshotEnd:
      return DecodeAs<SnapshotEnd>(name, entries);
    case MessageType::kPing:
      return DecodeAs<Ping>(name, entries);
    case MessageType::kPong:
      return DecodeAs<Pong>(name, entries);
    case MessageType::kError:
      return DecodeAs<ErrorMessage>(name, entries);
    case MessageType::kVerify:
      return DecodeAs<Verify>(name, entries);
    case MessageType::kDigests:
      return DecodeAs<Digests>(name, entries);
  }
  return Fail(Errc::kMalformed, "unknown message type " + std::to_string(t));
}

}  // namespace unitsync::protocol
