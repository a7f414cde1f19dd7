// Inputs for replaying the protocol fuzz corpora against a running central
// (hostile_peer_test.cc): the files of each corpus directory, and seeded mutants of them
// (byte flips, cuts, inserts), each turned into the bytes a hostile unit sends.
#pragma once

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "protocol/bytes.h"

namespace unitsync::testing {

enum class CorpusKind {
  kFrameStream,  // frame_decoder: one chunk-size byte, then a raw byte stream (frames)
  kMessageBody,  // message_decoder: a message body (a frame without its length prefix)
  kEnvelope,     // envelope_open: a sealed envelope (sent inside a PUSH)
};

struct CorpusInput {
  std::string name;  // corpus/file or corpus/file~mN
  CorpusKind kind;
  protocol::Bytes bytes;  // what goes on the wire after the handshake
};

inline protocol::Bytes FrameOf(const protocol::Bytes& body) {
  const auto n = static_cast<uint32_t>(body.size());
  protocol::Bytes out = {static_cast<uint8_t>(n >> 24), static_cast<uint8_t>(n >> 16),
                         static_cast<uint8_t>(n >> 8), static_cast<uint8_t>(n)};
  out.insert(out.end(), body.begin(), body.end());
  return out;
}

// {"t":3,"v":1,"seq":seq,"env":<envelope>} as a frame, whatever the envelope holds (the
// encoder would refuse an envelope under 33 bytes; the wire must not trust that).
inline protocol::Bytes PushFrameOf(uint64_t seq, const protocol::Bytes& env) {
  protocol::Bytes b = {0x84, 0xa1, 't', 0x03, 0xa1, 'v', 0x01, 0xa3, 's', 'e', 'q', 0xcf};
  for (int i = 7; i >= 0; --i) b.push_back(static_cast<uint8_t>(seq >> (8 * i)));
  b.insert(b.end(), {0xa3, 'e', 'n', 'v', 0xc6});
  const auto n = static_cast<uint32_t>(env.size());
  for (int i = 3; i >= 0; --i) b.push_back(static_cast<uint8_t>(n >> (8 * i)));
  b.insert(b.end(), env.begin(), env.end());
  return FrameOf(b);
}

// Wire bytes of `raw` from a corpus of `kind`; `push_seq` is the seq an envelope travels
// under.
inline protocol::Bytes WireBytes(CorpusKind kind, const protocol::Bytes& raw, uint64_t push_seq) {
  switch (kind) {
    case CorpusKind::kFrameStream:
      return raw.empty() ? raw : protocol::Bytes(raw.begin() + 1, raw.end());
    case CorpusKind::kMessageBody:
      return FrameOf(raw);
    case CorpusKind::kEnvelope:
      return PushFrameOf(push_seq, raw);
  }
  return raw;
}

// One corpus directory's files, raw, in name order; `limit` 0 means all.
inline std::vector<std::pair<std::string, protocol::Bytes>> ReadCorpus(const std::string& dir) {
  std::vector<std::pair<std::string, protocol::Bytes>> out;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    if (!e.is_regular_file()) continue;
    std::ifstream in(e.path(), std::ios::binary);
    out.emplace_back(e.path().filename().string(),
                     protocol::Bytes(std::istreambuf_iterator<char>(in), {}));
  }
  std::sort(out.begin(), out.end());
  return out;
}

// A mutant of `raw`: one of flip a byte, cut the tail, insert a byte, repeat a slice.
inline protocol::Bytes Mutate(protocol::Bytes raw, std::mt19937_64& rng) {
  auto pick = [&](size_t n) { return std::uniform_int_distribution<size_t>(0, n)(rng); };
  const uint8_t byte = static_cast<uint8_t>(pick(255));
  switch (pick(3)) {
    case 0:
      if (!raw.empty()) raw[pick(raw.size() - 1)] ^= static_cast<uint8_t>(1u << pick(7));
      break;
    case 1:
      raw.resize(pick(raw.size()));
      break;
    case 2:
      raw.insert(raw.begin() + static_cast<std::ptrdiff_t>(pick(raw.size())), byte);
      break;
    default: {
      if (raw.empty()) break;
      const size_t from = pick(raw.size() - 1);
      const size_t len = pick(std::min<size_t>(64, raw.size() - from));
      protocol::Bytes slice(raw.begin() + static_cast<std::ptrdiff_t>(from),
                            raw.begin() + static_cast<std::ptrdiff_t>(from + len));
      raw.insert(raw.begin() + static_cast<std::ptrdiff_t>(pick(raw.size())), slice.begin(),
                 slice.end());
    }
  }
  return raw;
}

}  // namespace unitsync::testing
