// Protocol hot paths: sealing/opening changesets and encoding/decoding PUSH frames.
// Compare BM_Seal / BM_Open with `openssl speed -evp aes-256-gcm` (scripts/bench does).
#include <benchmark/benchmark.h>

#include <random>

#include "protocol/envelope.h"
#include "protocol/frame.h"
#include "protocol/message_codec.h"

namespace unitsync::protocol {
namespace {

constexpr size_t kPayload = 64 * 1024;
constexpr size_t kPushPayload = 640 * 1024;

Bytes RandomBytes(size_t n) {
  std::mt19937_64 rng(42);
  Bytes b(n);
  for (auto& x : b) x = static_cast<uint8_t>(rng());
  return b;
}

// TEST key (bench only): derived from a fixed all-0x42 secret.
ChangesetKey BenchKey() { return *DeriveChangesetKey(Bytes(kUnitSecretSize, 0x42), 1); }

EnvelopeHeader BenchHeader() {
  return EnvelopeHeader{1, EnvelopeKind::kPush, "unit-0042", "central", 7, 7, ""};
}

void BM_Seal(benchmark::State& state) {
  const ChangesetKey key = BenchKey();
  const Bytes plaintext = RandomBytes(kPayload);
  for (auto _ : state) {
    auto sealed = SealChangeset(key, BenchHeader(), plaintext);
    benchmark::DoNotOptimize(sealed);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * kPayload));
}
BENCHMARK(BM_Seal);

void BM_Open(benchmark::State& state) {
  const ChangesetKey key = BenchKey();
  const Bytes sealed = *SealChangeset(key, BenchHeader(), RandomBytes(kPayload));
  for (auto _ : state) {
    auto opened = OpenChangeset(key, BenchHeader(), sealed);
    if (!opened) state.SkipWithError("open failed");
    benchmark::DoNotOptimize(opened);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * kPayload));
}
BENCHMARK(BM_Open);

// One changeset's round trip: seal at the sender, open at the receiver. Bytes counted
// once per payload (64 KiB per iteration), so this is the end-to-end changeset rate.
void BM_SealOpen(benchmark::State& state) {
  const ChangesetKey key = BenchKey();
  const Bytes plaintext = RandomBytes(kPayload);
  for (auto _ : state) {
    auto sealed = SealChangeset(key, BenchHeader(), plaintext);
    auto opened = OpenChangeset(key, BenchHeader(), *sealed);
    if (!opened) state.SkipWithError("open failed");
    benchmark::DoNotOptimize(opened);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * kPayload));
}
BENCHMARK(BM_SealOpen);

void BM_EncodePushFrame(benchmark::State& state) {
  const Push push{123456, RandomBytes(kPushPayload)};
  const Message message(push);
  for (auto _ : state) {
    auto frame = EncodeMessageFrame(message);
    benchmark::DoNotOptimize(frame);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * kPushPayload));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_EncodePushFrame);

// The session writer's path: one write buffer reused for every frame.
void BM_AppendPushFrame(benchmark::State& state) {
  const Message message(Push{123456, RandomBytes(kPushPayload)});
  Bytes buffer;
  for (auto _ : state) {
    buffer.clear();
    if (!AppendMessageFrame(message, buffer)) state.SkipWithError("encode failed");
    benchmark::DoNotOptimize(buffer.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * kPushPayload));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_AppendPushFrame);

void BM_DecodePushFrame(benchmark::State& state) {
  const Bytes frame = *EncodeMessageFrame(Push{123456, RandomBytes(kPushPayload)});
  for (auto _ : state) {
    FrameDecoder decoder;
    ByteView input(frame);
    auto body = decoder.Next(input);
    auto message = DecodeMessage(**body);
    if (!message) state.SkipWithError("decode failed");
    benchmark::DoNotOptimize(message);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * kPushPayload));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_DecodePushFrame);

void BM_DeriveKey(benchmark::State& state) {
  const Bytes secret(kUnitSecretSize, 0x42);
  uint32_t key_id = 0;
  for (auto _ : state) {
    auto key = DeriveChangesetKey(secret, ++key_id);
    benchmark::DoNotOptimize(key);
  }
}
BENCHMARK(BM_DeriveKey);

}  // namespace
}  // namespace unitsync::protocol

BENCHMARK_MAIN();
