// Sync benchmarks: what a unit's changes cost between the store and the wire,
// in rows per second, and how many bytes each row takes on the wire.
//
// The corpus is built once: a unit replica file in a temp dir holding N
// support_action rows (bench/support_rows.h, seed 1: the first N rows of
// store_bench's corpus), every change stamped, then
//   - one changeset of all N rows (BuildChangeset, unlimited), and
//   - the same rows in frame-sized pieces, built as the daemon builds them
//     (daemon/sync_executor.cc BuildForFrame: ExecutorOptions::max_rows rows,
//     values bounded by half the plaintext budget of a default 4 MiB frame).
//
//   EncodeChangeset  EncodeChangeset of the decoded N-row Changeset.
//   DecodeChangeset  DecodeChangeset (strict) of its bytes.
//   WireOut          the unit's send path for every piece: SealChangeset
//                    (fresh random nonce) + AppendMessageFrame of the PUSH
//                    into one reused write buffer, as the session writer does.
//   WireIn           central's receive path for those frames, read as one
//                    byte stream: FrameDecoder::Next + DecodeMessage +
//                    EnvelopeKeyId + OpenChangeset (against the header central
//                    expects) + DecodeChangeset.
// Building (SQLite reads) is store_bench's BM_BuildChangeset; spooling the
// sealed bytes and applying the changeset are not part of these figures.
//
// Every benchmark reports rows/s and MB/s over real time (MB/s counts the
// changeset bytes for Encode/Decode, the frame bytes for WireOut/WireIn), and
// the same corpus sizes per row, so every CSV row has every counter:
//   raw_B/row   values and ids as an application sees them (RawSize)
//   cs_B/row    the N-row changeset
//   wire_B/row  the PUSH frames: length prefixes + msgpack bodies (sealed
//               envelopes included); wire_ratio = wire / raw (target <= 1.3)
//
// Usage: sync_bench [--rows=N] [Google Benchmark flags] (scripts/bench runs it).
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "bench/support_db.h"
#include "bench/support_rows.h"
#include "common/clock.h"
#include "daemon/sync_executor.h"  // ExecutorOptions only (header-only; nothing linked).
#include "protocol/envelope.h"
#include "protocol/frame.h"
#include "protocol/message_codec.h"
#include "store/change_log.h"
#include "store/changeset.h"
#include "store/changeset_builder.h"
#include "store/replica.h"

namespace unitsync::bench {
namespace {

using protocol::Bytes;
using protocol::ByteView;

constexpr int64_t kT0 = 1'780'000'000'000;  // As store_bench: 2026-05-28.
constexpr size_t kDefaultRows = 10'000;
constexpr size_t kCases = 250;  // As store_bench.
constexpr size_t kCaptureBatch = 1000;
constexpr const char* kUnit = "unit-0001";
constexpr const char* kCentral = "central";
// The daemon's defaults, so the pieces are the changesets it would send.
constexpr size_t kPieceRows = daemon::ExecutorOptions{}.max_rows;
constexpr size_t kMaxFrame = daemon::ExecutorOptions{}.max_frame;

// TEST key (bench only): derived from a fixed all-0x42 secret, as protocol_bench.
Result<protocol::ChangesetKey> BenchKey() {
  return protocol::DeriveChangesetKey(Bytes(protocol::kUnitSecretSize, 0x42), 1);
}

// The header a PUSH of `seq` is sealed for and opened against (FORMAT.md 3).
protocol::EnvelopeHeader PushHeader(uint64_t seq) {
  protocol::EnvelopeHeader h;
  h.kind = protocol::EnvelopeKind::kPush;
  h.origin = kUnit;
  h.destination = kCentral;
  h.seq_from = h.seq_to = seq;
  return h;
}

// Built once, before any benchmark runs; owned by main(). Read-only after.
struct Corpus {
  size_t rows = 0;
  size_t raw_value_bytes = 0;       // BuiltChangeset::raw_value_bytes of all rows.
  store::Blob changeset;            // All rows, one changeset.
  store::Changeset decoded;         // DecodeChangeset(changeset).
  std::vector<store::Blob> pieces;  // Frame-sized changesets; PUSH seq = index + 1.
  Bytes stream;                     // Their PUSH frames back to back, as central reads them.
  std::optional<protocol::ChangesetKey> key;
};

Result<std::unique_ptr<Corpus>> BuildCorpus(size_t rows) {
  auto c = std::make_unique<Corpus>();
  c->rows = rows;
  const SupportData data = MakeSupportData(rows, kCases, kUnit, kT0, /*seed=*/1);

  TempDir dir;  // Declared before the replica: the file closes before the dir goes.
  ManualWallClock clock(kT0 + 60'000);
  store::ReplicaOptions opts;
  opts.clock = &clock;
  auto replica = store::Replica::Create(dir.File("unit.db"), store::Role::kUnit, kUnit, opts);
  if (!replica) return tl::unexpected(replica.error());
  BENCH_TRY(InsertParents(replica->db(), data));
  BENCH_TRY(store::StampPendingChangesNow(*replica));
  auto stats = store::GetChangeLogStats(*replica, 0);
  if (!stats) return tl::unexpected(stats.error());
  const int64_t actions_after_seq = stats->head_seq;
  BENCH_TRY(InsertActions(replica->db(), data.actions, kCaptureBatch));
  BENCH_TRY(store::StampPendingChangesNow(*replica));

  store::BuildRequest all;
  all.after_seq = actions_after_seq;
  all.max_rows = SIZE_MAX;
  all.max_bytes = SIZE_MAX;
  auto built = store::BuildChangeset(*replica, all);
  if (!built) return tl::unexpected(built.error());
  if (built->rows != rows) return Fail(Errc::kInternal, "the changeset lacks rows");
  c->changeset = std::move(built->bytes);
  c->raw_value_bytes = built->raw_value_bytes;
  auto decoded = store::DecodeChangeset(c->changeset);
  if (!decoded) return tl::unexpected(decoded.error());
  c->decoded = std::move(*decoded);
  if (store::EncodeChangeset(c->decoded) != c->changeset) {
    return Fail(Errc::kInternal, "re-encoding the decoded changeset gives other bytes");
  }

  // As BuildForFrame: the pieces must fit a frame without its halving retry.
  const size_t budget = protocol::MaxPlaintextForFrame(kMaxFrame);
  store::BuildRequest piece;
  piece.after_seq = actions_after_seq;
  piece.max_rows = kPieceRows;
  piece.max_bytes = budget / 2;
  size_t piece_rows = 0;
  for (bool more = true; more;) {
    auto p = store::BuildChangeset(*replica, piece);
    if (!p) return tl::unexpected(p.error());
    if (p->rows == 0) break;
    if (p->bytes.size() > budget) return Fail(Errc::kInternal, "a piece does not fit a frame");
    piece_rows += p->rows;
    c->pieces.push_back(std::move(p->bytes));
    piece.after_seq = p->last_seq;
    more = p->more;
  }
  if (piece_rows != rows) return Fail(Errc::kInternal, "the pieces do not cover every row");

  auto key = BenchKey();
  if (!key) return tl::unexpected(key.error());
  c->key.emplace(std::move(*key));
  for (size_t i = 0; i < c->pieces.size(); ++i) {
    auto sealed = protocol::SealChangeset(*c->key, PushHeader(i + 1), c->pieces[i]);
    if (!sealed) return tl::unexpected(sealed.error());
    BENCH_TRY(protocol::AppendMessageFrame(protocol::Push{i + 1, std::move(*sealed)}, c->stream,
                                           kMaxFrame));
  }
  return c;
}

// The unit's send path: every piece sealed and framed, one frame at a time in
// `buffer` (a session's write buffer). Returns the frame bytes written.
Result<size_t> SendPieces(const Corpus& c, Bytes& buffer) {
  size_t wire_bytes = 0;
  for (size_t i = 0; i < c.pieces.size(); ++i) {
    auto sealed = protocol::SealChangeset(*c.key, PushHeader(i + 1), c.pieces[i]);
    if (!sealed) return tl::unexpected(sealed.error());
    buffer.clear();
    BENCH_TRY(
        protocol::AppendMessageFrame(protocol::Push{i + 1, std::move(*sealed)}, buffer, kMaxFrame));
    benchmark::DoNotOptimize(buffer.data());
    wire_bytes += buffer.size();
  }
  return wire_bytes;
}

// Central's receive path over c.stream. Returns the rows decoded.
Result<size_t> ReceivePieces(const Corpus& c) {
  protocol::FrameDecoder decoder(kMaxFrame);
  ByteView input(c.stream);
  size_t rows = 0;
  for (uint64_t seq = 1; !input.empty(); ++seq) {
    auto body = decoder.Next(input);
    if (!body) return tl::unexpected(body.error());
    if (!*body) return Fail(Errc::kInternal, "the stream ends inside a frame");
    auto message = protocol::DecodeMessage(**body, kMaxFrame);
    if (!message) return tl::unexpected(message.error());
    const auto* push = std::get_if<protocol::Push>(&*message);
    if (push == nullptr || push->seq != seq) return Fail(Errc::kInternal, "not the next PUSH");
    auto key_id = protocol::EnvelopeKeyId(push->envelope);
    if (!key_id) return tl::unexpected(key_id.error());
    if (*key_id != c.key->key_id()) return Fail(Errc::kInternal, "unknown key id");
    auto plaintext = protocol::OpenChangeset(*c.key, PushHeader(seq), push->envelope);
    if (!plaintext) return tl::unexpected(plaintext.error());
    auto changeset = store::DecodeChangeset(*plaintext);
    if (!changeset) return tl::unexpected(changeset.error());
    benchmark::DoNotOptimize(changeset->tables.data());
    rows += changeset->RowCount();
  }
  return rows;
}

void Report(benchmark::State& state, const Corpus& c, size_t bytes_per_iteration) {
  const double rows = static_cast<double>(c.rows);
  const double raw = static_cast<double>(c.raw_value_bytes) / rows;
  const double wire = static_cast<double>(c.stream.size()) / rows;
  state.counters["rows/s"] = benchmark::Counter(rows * static_cast<double>(state.iterations()),
                                                benchmark::Counter::kIsRate);
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(bytes_per_iteration));
  state.counters["raw_B/row"] = raw;
  state.counters["cs_B/row"] = static_cast<double>(c.changeset.size()) / rows;
  state.counters["wire_B/row"] = wire;
  state.counters["wire_ratio"] = wire / raw;
}

void BM_EncodeChangeset(benchmark::State& state, const Corpus& c) {
  for (auto _ : state) {
    store::Blob bytes = store::EncodeChangeset(c.decoded);
    benchmark::DoNotOptimize(bytes.data());
  }
  Report(state, c, c.changeset.size());
}

void BM_DecodeChangeset(benchmark::State& state, const Corpus& c) {
  for (auto _ : state) {
    auto decoded = store::DecodeChangeset(c.changeset);
    if (!decoded) {
      state.SkipWithError(decoded.error().ToString().c_str());
      return;
    }
    benchmark::DoNotOptimize(decoded->tables.data());
  }
  Report(state, c, c.changeset.size());
}

void BM_WireOut(benchmark::State& state, const Corpus& c) {
  Bytes buffer;
  for (auto _ : state) {
    auto wire_bytes = SendPieces(c, buffer);
    if (!wire_bytes || *wire_bytes != c.stream.size()) {
      state.SkipWithError(wire_bytes ? "the frames changed size"
                                     : wire_bytes.error().ToString().c_str());
      return;
    }
  }
  Report(state, c, c.stream.size());
}

void BM_WireIn(benchmark::State& state, const Corpus& c) {
  for (auto _ : state) {
    auto rows = ReceivePieces(c);
    if (!rows || *rows != c.rows) {
      state.SkipWithError(rows ? "rows went missing" : rows.error().ToString().c_str());
      return;
    }
  }
  Report(state, c, c.stream.size());
}

void Register(const Corpus& c) {
  using Fn = void (*)(benchmark::State&, const Corpus&);
  for (auto [name, fn] : {std::pair<const char*, Fn>{"BM_EncodeChangeset", BM_EncodeChangeset},
                          {"BM_DecodeChangeset", BM_DecodeChangeset},
                          {"BM_WireOut", BM_WireOut},
                          {"BM_WireIn", BM_WireIn}}) {
    benchmark::RegisterBenchmark(name, [&c, fn = fn](benchmark::State& s) { fn(s, c); })
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond);
  }
}

}  // namespace
}  // namespace unitsync::bench

int main(int argc, char** argv) {
  size_t rows = unitsync::bench::kDefaultRows;
  std::vector<char*> args;  // Ours taken out before Google Benchmark parses the rest.
  for (int i = 0; i < argc; ++i) {
    const std::string_view a(argv[i]);
    if (a.starts_with("--rows=")) {
      rows = std::stoul(std::string(a.substr(7)));
    } else {
      args.push_back(argv[i]);
    }
  }
  int n = static_cast<int>(args.size());
  benchmark::Initialize(&n, args.data());
  if (benchmark::ReportUnrecognizedArguments(n, args.data())) return 1;
  if (rows == 0) {
    std::fprintf(stderr, "sync_bench: --rows must be at least 1\n");
    return 1;
  }

  const auto start = std::chrono::steady_clock::now();
  auto corpus = unitsync::bench::BuildCorpus(rows);
  if (!corpus) {
    std::fprintf(stderr, "sync_bench: setup failed: %s\n", corpus.error().ToString().c_str());
    return 1;
  }
  const auto& c = **corpus;
  benchmark::AddCustomContext("rows", std::to_string(rows));
  benchmark::AddCustomContext("changeset_bytes", std::to_string(c.changeset.size()));
  benchmark::AddCustomContext("pieces", std::to_string(c.pieces.size()) + " of up to " +
                                            std::to_string(unitsync::bench::kPieceRows) + " rows");
  benchmark::AddCustomContext("wire_bytes", std::to_string(c.stream.size()));
  benchmark::AddCustomContext(
      "setup_s",
      std::to_string(
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count()));
  unitsync::bench::Register(c);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
