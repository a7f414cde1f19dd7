// Encoding half of protocol/message_codec.h.
#include <msgpack.hpp>
#include <string>
#include <string_view>

#include "protocol/message_codec.h"
#include "protocol/message_schema.h"

namespace unitsync::protocol {
namespace {

// msgpack-c output stream that appends to a byte vector.
class VectorStream {
 public:
  explicit VectorStream(Bytes& out) : out_(out) {}
  void write(const char* data, size_t size) {
    const auto* p = reinterpret_cast<const uint8_t*>(data);
    out_.insert(out_.end(), p, p + size);
  }

 private:
  Bytes& out_;
};

using Packer = msgpack::packer<VectorStream>;

void Str(Packer& pk, std::string_view text) {
  pk.pack_str(static_cast<uint32_t>(text.size()));
  pk.pack_str_body(text.data(), static_cast<uint32_t>(text.size()));
}
void Key(Packer& pk, std::string_view key) { Str(pk, key); }
void PutUint(Packer& pk, std::string_view key, uint64_t value) {
  Key(pk, key);
  pk.pack_uint64(value);
}
void PutStr(Packer& pk, std::string_view key, std::string_view value) {
  Key(pk, key);
  pk.pack_str(static_cast<uint32_t>(value.size()));
  pk.pack_str_body(value.data(), static_cast<uint32_t>(value.size()));
}
void PutBin(Packer& pk, std::string_view key, const Bytes& value) {
  Key(pk, key);
  pk.pack_bin(static_cast<uint32_t>(value.size()));
  pk.pack_bin_body(reinterpret_cast<const char*>(value.data()),
                   static_cast<uint32_t>(value.size()));
}

void PutFields(Packer& pk, const Hello& m) {
  PutUint(pk, "min", m.min_version);
  PutUint(pk, "max", m.max_version);
  PutStr(pk, "node", m.node_id);
  PutUint(pk, "push", m.push_seq);
  PutUint(pk, "pull", m.pull_seq);
  PutStr(pk, "gen", m.central_generation);
  Key(pk, "seed");
  if (!m.seed) {
    pk.pack_array(0);
    return;
  }
  pk.pack_array(4);
  Str(pk, m.seed->snapshot_id);
  pk.pack_uint64(m.seed->next_chunk);
  Str(pk, m.seed->after_table);
  Str(pk, m.seed->after_pk);
}
void PutFields(Packer& pk, const Welcome& m) {
  PutUint(pk, "ver", m.version);
  PutStr(pk, "node", m.node_id);
  PutStr(pk, "gen", m.generation);
  PutUint(pk, "applied", m.applied_seq);
  PutUint(pk, "head", m.log_head);
}
void PutFields(Packer& pk, const Push& m) {
  PutUint(pk, "seq", m.seq);
  PutBin(pk, "env", m.envelope);
}
void PutFields(Packer& pk, const Ack& m) {
  PutUint(pk, "of", static_cast<uint64_t>(m.of));
  PutUint(pk, "seq", m.seq);
}
void PutFields(Packer& pk, const Nack& m) {
  PutUint(pk, "of", static_cast<uint64_t>(m.of));
  PutUint(pk, "seq", m.seq);
  PutUint(pk, "code", static_cast<uint64_t>(m.code));
  PutStr(pk, "reason", m.reason);
  Key(pk, "rows");
  pk.pack_array(static_cast<uint32_t>(m.rows.size()));
  for (const RowRejection& row : m.rows) {
    pk.pack_array(3);
    pk.pack_str(static_cast<uint32_t>(row.table.size()));
    pk.pack_str_body(row.table.data(), static_cast<uint32_t>(row.table.size()));
    pk.pack_str(static_cast<uint32_t>(row.id.size()));
    pk.pack_str_body(row.id.data(), static_cast<uint32_t>(row.id.size()));
    pk.pack_uint64(row.reason);
  }
}
void PutFields(Packer& pk, const Changes& m) {
  PutUint(pk, "from", m.from_seq);
  PutUint(pk, "to", m.to_seq);
  PutBin(pk, "env", m.envelope);
}
void PutFields(Packer& pk, const SnapshotBegin& m) {
  PutStr(pk, "snap", m.snapshot_id);
  PutUint(pk, "head", m.log_head);
  PutUint(pk, "rows", m.rows);
}
void PutFields(Packer& pk, const SnapshotChunk& m) {
  PutStr(pk, "snap", m.snapshot_id);
  PutUint(pk, "i", m.index);
  PutBin(pk, "env", m.envelope);
}
void PutFields(Packer& pk, const SnapshotEnd& m) {
  PutStr(pk, "snap", m.snapshot_id);
  PutUint(pk, "chunks", m.chunk_count);
  PutUint(pk, "rows", m.rows);
}
void PutFields(Packer& pk, const Ping& m) { PutUint(pk, "nonce", m.nonce); }
void PutFields(Packer& pk, const Pong& m) { PutUint(pk, "nonce", m.nonce); }
void PutFields(Packer& pk, const ErrorMessage& m) {
  PutUint(pk, "code", static_cast<uint64_t>(m.code));
  PutStr(pk, "msg", m.message);
}

void PutFields(Packer& pk, const Verify& m) { PutUint(pk, "id", m.id); }
void PutFields(Packer& pk, const Digests& m) {
  PutUint(pk, "id", m.id);
  PutUint(pk, "push", m.position.push);
  PutUint(pk, "pull", m.position.pull);
  PutUint(pk, "head", m.position.head);
  PutUint(pk, "waiting", m.position.waiting);
  PutStr(pk, "error", m.error);
  Key(pk, "tables");
  pk.pack_array(static_cast<uint32_t>(m.tables.size()));
  for (const TableDigest& t : m.tables) {
    pk.pack_array(4);
    pk.pack_str(static_cast<uint32_t>(t.table.size()));
    pk.pack_str_body(t.table.data(), static_cast<uint32_t>(t.table.size()));
    pk.pack_uint64(t.rows);
    pk.pack_uint64(t.tombstones);
    pk.pack_bin(static_cast<uint32_t>(t.sha256.size()));
    pk.pack_bin_body(reinterpret_cast<const char*>(t.sha256.data()),
                     static_cast<uint32_t>(t.sha256.size()));
  }
}

size_t EnvelopeSize(const Message& message) {
  if (const auto* m = std::get_if<Push>(&message)) return m->envelope.size();
  if (const auto* m = std::get_if<Changes>(&message)) return m->envelope.size();
  if (const auto* m = std::get_if<SnapshotChunk>(&message)) return m->envelope.size();
  return 0;
}

// Appends the msgpack body of an already validated message to `out`.
void AppendBody(const Message& message, Bytes& out) {
  out.reserve(out.size() + kFrameOverheadForEnvelope + EnvelopeSize(message));
  VectorStream stream(out);
  Packer pk(stream);
  std::visit(
      [&](const auto& m) {
        using T = std::decay_t<decltype(m)>;
        pk.pack_map(static_cast<uint32_t>(2 + Schema<T>::kKeys.size()));
        PutUint(pk, "t", static_cast<uint64_t>(TypeOf(message)));
        PutUint(pk, "v", kMaxProtocolVersion);
        PutFields(pk, m);
      },
      message);
}

}  // namespace

Result<Bytes> EncodeMessage(const Message& message) {
  if (Status s = ValidateMessage(message, Errc::kInvalidArgument); !s) {
    return tl::unexpected(s.error());
  }
  Bytes out;
  AppendBody(message, out);
  return out;
}

Status AppendMessageFrame(const Message& message, Bytes& out, size_t max_frame) {
  if (Status s = ValidateMessage(message, Errc::kInvalidArgument); !s) return s;
  const size_t start = out.size();
  out.resize(start + kFrameHeaderSize);  // length, patched below
  AppendBody(message, out);
  const size_t body_size = out.size() - start - kFrameHeaderSize;
  if (body_size > max_frame) {
    out.resize(start);
    return Fail(Errc::kInvalidArgument, std::string(MessageTypeName(TypeOf(message))) +
                                            " body of " + std::to_string(body_size) +
                                            " bytes exceeds the frame limit of " +
                                            std::to_string(max_frame) + " bytes");
  }
  const auto n = static_cast<uint32_t>(body_size);
  out[start] = static_cast<uint8_t>(n >> 24);
  out[start + 1] = static_cast<uint8_t>(n >> 16);
  out[start + 2] = static_cast<uint8_t>(n >> 8);
  out[start + 3] = static_cast<uint8_t>(n);
  return {};
}

Result<Bytes> EncodeMessageFrame(const Message& message, size_t max_frame) {
  Bytes out;
  if (Status s = AppendMessageFrame(message, out, max_frame); !s) {
    return tl::unexpected(s.error());
  }
  return out;
}

}  // namespace unitsync::protocol
