// Random valid messages for property tests (test-only).
#pragma once

#include <random>
#include <string>

#include "protocol/limits.h"
#include "protocol/message.h"

namespace unitsync::protocol::testing {

class RandomMessages {
 public:
  explicit RandomMessages(uint64_t seed) : rng_(seed) {}

  Message Next() {
    switch (Below(14)) {
      case 0: {
        Hello m;
        m.min_version = static_cast<uint16_t>(1 + Below(65535));
        m.max_version = static_cast<uint16_t>(m.min_version + Below(65536 - m.min_version));
        m.node_id = Id();
        m.push_seq = Seq();
        m.pull_seq = Seq();
        m.central_generation = Below(4) == 0 ? "" : Id();
        if (Below(3) == 0) {
          SeedRequest seed{Id(), Below(kMaxSnapshotChunks), "", ""};
          if (Below(2) == 0) {
            seed.after_table = Id();
            seed.after_pk = Text();
          }
          m.seed = std::move(seed);
        }
        return m;
      }
      case 1:
        return Welcome{static_cast<uint16_t>(1 + Below(65535)), Id(), Id(), Seq(), Seq()};
      case 2:
        return Push{1 + Below(kMaxSeq), Envelope()};
      case 3:
        return Ack{Of(), Seq()};
      case 4: {
        Nack m{Of(), Seq(), static_cast<NackCode>(1 + Below(6)), Text(), {}};
        if (m.code == NackCode::kPartial) {
          const size_t n = Below(4) == 0 ? Below(kMaxNackRows + 1) : Below(5);
          for (size_t i = 0; i < n; ++i) {
            m.rows.push_back(RowRejection{Id(), Id(), static_cast<uint16_t>(Below(65536))});
          }
        }
        return m;
      }
      case 5: {
        const uint64_t from = 1 + Below(kMaxSeq);
        return Changes{from, from + Below(kMaxSeq - from + 1), Envelope()};
      }
      case 6:
        return SnapshotBegin{Id(), Seq(), Seq()};
      case 7:
        return SnapshotChunk{Id(), Below(kMaxSnapshotChunks), Envelope()};
      case 8:
        return SnapshotEnd{Id(), Below(kMaxSnapshotChunks + 1), Seq()};
      case 9:
        return Ping{rng_()};
      case 10:
        return Pong{rng_()};
      case 11:
        return ErrorMessage{static_cast<ErrorCode>(1 + Below(8)), Text()};
      case 12:
        return Verify{1 + Below(kMaxSeq)};
      default: {
        Digests m{1 + Below(kMaxSeq), {Seq(), Seq(), Seq(), Seq()}, {}, {}};
        if (Below(5) == 0) {
          m.error = Text();
          if (m.error.empty()) m.error = "x";
          return m;
        }
        const size_t n = Below(4) == 0 ? Below(kMaxDigestTables + 1) : Below(14);
        for (size_t i = 0; i < n; ++i) {
          // "i-" first keeps the names unique, as the decoder requires.
          TableDigest t{std::to_string(i) + "-" + Id().substr(0, 40), Seq(), Seq(),
                        Bytes(kSha256Bytes)};
          for (auto& b : t.sha256) b = static_cast<uint8_t>(rng_());
          m.tables.push_back(std::move(t));
        }
        return m;
      }
    }
  }

 private:
  // Uniform below n, biased toward edges (0, n-1) and small values now and then.
  uint64_t Below(uint64_t n) {
    switch (rng_() % 8) {
      case 0:
        return 0;
      case 1:
        return n - 1;
      case 2:
        return rng_() % std::min<uint64_t>(n, 300);
      default:
        return rng_() % n;
    }
  }
  uint64_t Seq() { return Below(kMaxSeq + 1); }
  AckOf Of() { return static_cast<AckOf>(1 + Below(2)); }
  std::string Id() {
    static constexpr char kAlphabet[] =
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._:-";
    std::string s(1 + Below(kMaxIdBytes), 'x');
    for (char& c : s) c = kAlphabet[rng_() % (sizeof(kAlphabet) - 1)];
    return s;
  }
  std::string Text() {
    static const std::string_view kPieces[] = {"a", "Z", " ", "ö", "€", "😀", "\n", "0"};
    std::string s;
    const size_t target = Below(kMaxTextBytes + 1);
    while (true) {
      std::string_view p = kPieces[rng_() % std::size(kPieces)];
      if (s.size() + p.size() > target) break;
      s += p;
    }
    return s;
  }
  Bytes Envelope() {
    Bytes b(kEnvelopeOverhead + Below(2000));
    for (auto& x : b) x = static_cast<uint8_t>(rng_());
    return b;
  }

  std::mt19937_64 rng_;
};

}  // namespace unitsync::protocol::testing
