// Hostile peers against a running central while two honest units sync: the protocol fuzz
// corpora (and seeded mutants of them) replayed after a valid mTLS handshake and, a few,
// without one; oversized and truncated frames inside an established session; and a storm
// of thousands of reconnects per second. Central stays the same process, keeps serving
// the honest units, and shows what it refused (log, metrics). (Before a session exists:
// garbage instead of TLS, a 4 GiB length prefix, a stalled half frame, a mute client and a
// slowloris crowd are daemon_refusal_test's.)
//
// Replay: UNITSYNC_FAULT_SEED=<seed> (printed). More inputs: UNITSYNC_FUZZ_MUTANTS=<n per
// seed file> (default 3), UNITSYNC_FUZZ_CORPUS=<dir> adds a grown corpus (the layout of
// build-fuzz/corpus/: frame_decoder/, message_decoder/, envelope_open/).
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <mutex>
#include <thread>

#include "store/changeset_builder.h"
#include "tests/faults/corpus_replay.h"
#include "tests/faults/hostile_fixture.h"

namespace unitsync::testing {
namespace {

using namespace std::chrono_literals;
using protocol::Bytes;
using Clock = std::chrono::steady_clock;

uint64_t SeedFromEnv() {
  if (const char* s = std::getenv("UNITSYNC_FAULT_SEED")) return std::strtoull(s, nullptr, 10);
  return (static_cast<uint64_t>(std::random_device{}()) << 32) | std::random_device{}();
}

// How central answered one input.
enum class Outcome { kAlive, kErrorThenClosed, kClosed, kNoEnd };

struct Tally {
  std::mutex mu;
  std::map<std::string, int> by_outcome;  // guarded by mu
  std::map<int, int> error_codes;         // guarded by mu
  std::vector<std::string> no_end;        // guarded by mu: inputs central never ended
};

// Sends `bytes` on `h`'s connection, then a PING: a PONG says the session survived; an
// end says central closed it (after an ERROR or not). Nothing within 10 s (central's
// read deadline is 3 s) is kNoEnd.
Outcome Observe(HostileUnit& h, const Bytes& bytes, int* error_code) {
  constexpr uint64_t kNonce = 0x5eed;
  h.answer_pings(false);
  if (!h.SendRaw(bytes) || !h.Send(protocol::Ping{kNonce})) {
    // Central may have closed before we finished writing: see how it ended.
  }
  std::optional<protocol::ErrorMessage> err;
  const auto until = Clock::now() + 10s;
  while (Clock::now() < until) {
    auto m = h.Read(std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now()));
    if (!m) {
      if (h.end() == HostileUnit::End::kTimeout) return Outcome::kNoEnd;
      if (err) *error_code = static_cast<int>(err->code);
      return err ? Outcome::kErrorThenClosed : Outcome::kClosed;
    }
    if (auto* p = std::get_if<protocol::Pong>(&*m); p && p->nonce == kNonce) return Outcome::kAlive;
    if (auto* e = std::get_if<protocol::ErrorMessage>(&*m)) err = *e;
  }
  return Outcome::kNoEnd;
}

TEST_F(HostilePeers, FuzzCorporaReplayedAfterAValidHandshake) {
  const uint64_t seed = SeedFromEnv();
  std::printf("hostile: seed=%llu (replay: UNITSYNC_FAULT_SEED=%llu)\n",
              static_cast<unsigned long long>(seed), static_cast<unsigned long long>(seed));
  std::mt19937_64 rng(seed);
  const int mutants =
      std::getenv("UNITSYNC_FUZZ_MUTANTS") ? std::atoi(std::getenv("UNITSYNC_FUZZ_MUTANTS")) : 3;
  const std::vector<std::pair<std::string, CorpusKind>> corpora = {
      {"frame_decoder", CorpusKind::kFrameStream},
      {"message_decoder", CorpusKind::kMessageBody},
      {"envelope_open", CorpusKind::kEnvelope}};
  std::vector<CorpusInput> inputs;
  for (const auto& [name, kind] : corpora) {
    for (const auto& [file, raw] : ReadCorpus(std::string(UNITSYNC_FUZZ_SEEDS) + "/" + name)) {
      inputs.push_back({name + "/" + file, kind, raw});
      for (int i = 0; i < mutants; ++i) {
        inputs.push_back({name + "/" + file + "~m" + std::to_string(i), kind, Mutate(raw, rng)});
      }
    }
    if (const char* grown = std::getenv("UNITSYNC_FUZZ_CORPUS")) {
      for (const auto& [file, raw] : ReadCorpus(std::string(grown) + "/" + name)) {
        inputs.push_back({"grown/" + name + "/" + file, kind, raw});
      }
    }
  }
  ASSERT_GT(inputs.size(), 30u) << "the committed seed corpus is missing: " << UNITSYNC_FUZZ_SEEDS;

  StartHonestWriters();
  const double errors_before = Metric("unitsync_session_errors_total");
  // Each hostile identity replays every kHostiles-th input: a frame stream right after the
  // TLS handshake (it holds its own HELLO or not), a message or an envelope after
  // HELLO / WELCOME (in the established session, where pushes are handled).
  Tally tally;
  std::vector<std::thread> threads;
  for (int t = 0; t < kHostiles; ++t) {
    threads.emplace_back([&, t] {
      HostileUnit h(Bundle(3 + t));
      for (size_t i = static_cast<size_t>(t); i < inputs.size(); i += kHostiles) {
        const CorpusInput& in = inputs[i];
        const bool established = in.kind != CorpusKind::kFrameStream;
        std::optional<protocol::Welcome> w;
        if (established) {
          w = h.Session(port_, 0, 1'000'000'000);  // far ahead: no fan-out to read past
          if (!w) {
            std::lock_guard lock(tally.mu);
            tally.by_outcome["no session: " + h.error()]++;
            continue;
          }
        } else if (!h.Connect(port_)) {
          std::lock_guard lock(tally.mu);
          tally.by_outcome["no TLS: " + h.error()]++;
          continue;
        }
        int code = 0;
        const Outcome o =
            Observe(h, WireBytes(in.kind, in.bytes, w ? w->applied_seq + 1 : 1), &code);
        h.Abort();
        std::lock_guard lock(tally.mu);
        switch (o) {
          case Outcome::kAlive:
            tally.by_outcome["session survived"]++;
            break;
          case Outcome::kErrorThenClosed:
            tally.by_outcome["ERROR, closed"]++;
            tally.error_codes[code]++;
            break;
          case Outcome::kClosed:
            tally.by_outcome["closed"]++;
            break;
          case Outcome::kNoEnd:
            tally.by_outcome["never ended"]++;
            tally.no_end.push_back(in.name);
            break;
        }
      }
    });
  }
  for (auto& t : threads) t.join();

  // A few without any handshake: the frame streams as plain TCP, where TLS is expected.
  int plain_closed = 0, plain = 0;
  {
    HostileUnit h(Bundle());
    for (const auto& in : inputs) {
      if (in.kind != CorpusKind::kFrameStream || in.name.find('~') != std::string::npos ||
          plain == 5) {
        continue;
      }
      ++plain;
      ASSERT_TRUE(h.ConnectPlain(port_));
      h.SendRaw(WireBytes(in.kind, in.bytes, 1));
      if (!h.Read(10s) && h.end() != HostileUnit::End::kTimeout) ++plain_closed;
      h.Abort();
    }
  }

  std::printf("hostile: corpus inputs=%zu (mutants per seed file %d)", inputs.size(), mutants);
  for (const auto& [what, n] : tally.by_outcome) std::printf(" [%s]=%d", what.c_str(), n);
  for (const auto& [code, n] : tally.error_codes) std::printf(" error_code_%d=%d", code, n);
  std::printf(" plain_tcp=%d closed=%d\n", plain, plain_closed);
  EXPECT_TRUE(tally.no_end.empty())
      << "central kept a session open with a broken frame: " << tally.no_end.front();
  EXPECT_GT(tally.by_outcome["ERROR, closed"], 0);
  EXPECT_EQ(plain_closed, plain);
  EXPECT_GT(Metric("unitsync_session_errors_total"), errors_before);
  EXPECT_GE(CentralLogCount("event=malformed_from_unit"), 1u);
  ExpectHonestUnitsKeepSyncing();
  StopHonestWriters();
  ExpectCentralUp();
}

// Inside an established session (after HELLO / WELCOME): length prefixes over the limit,
// zero and 4 GiB; a body shorter than msgpack needs; a prefix promising more than ever
// comes; a PUSH whose envelope is cut; the largest legal frame full of garbage; a frame
// cut off by the end of the connection. Each ends its own session (or is NACKed), never
// central, and what arrived half is never applied.
TEST_F(HostilePeers, OversizedAndTruncatedFramesEndOnlyTheirSession) {
  StartHonestWriters();
  HostileUnit h(Bundle());
  auto w = h.Session(port_, 0, 1'000'000'000);
  ASSERT_TRUE(w) << h.error();
  const uint64_t seq = w->applied_seq + 1;
  const Bytes ping = HostileUnit::Frame(protocol::Ping{1});
  Bytes cut_body(ping.begin() + 4, ping.end() - 1);  // msgpack ends too early
  const Bytes sealed = h.SealPush(store::Changeset{"unit-0003", {}}, seq);
  const Bytes garbage_env(protocol::kDefaultMaxFrame - 29, 0xa5);  // the frame is 4 MiB exactly
  const Bytes promise = {0x00, 0x00, 0x01, 0x00, 0x84, 0xa1};      // 256 bytes announced, 2 sent

  struct Case {
    const char* name;
    Bytes bytes;
    bool session_survives;  // NACKed, not closed
  };
  const std::vector<Case> cases = {
      {"length max_frame + 1", {0x00, 0x40, 0x00, 0x01}, false},
      {"length 0", {0x00, 0x00, 0x00, 0x00}, false},
      {"length 4 GiB - 1", {0xff, 0xff, 0xff, 0xff}, false},
      {"body cut inside msgpack", FrameOf(cut_body), false},
      {"prefix promising more than comes", promise, false},
      {"PUSH with a cut envelope", PushFrameOf(seq, Bytes(sealed.begin(), sealed.begin() + 40)),
       true},
      {"largest legal frame, garbage envelope", PushFrameOf(seq, garbage_env), true},
  };
  ASSERT_EQ(PushFrameOf(seq, garbage_env).size(), protocol::kDefaultMaxFrame + 4);
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    if (!w) w = h.Session(port_, 0, 1'000'000'000);
    ASSERT_TRUE(w) << h.error();
    int code = 0;
    const Outcome o = Observe(h, c.bytes, &code);
    if (c.session_survives) {
      EXPECT_EQ(o, Outcome::kAlive);
    } else {
      EXPECT_TRUE(o == Outcome::kErrorThenClosed || o == Outcome::kClosed)
          << "outcome " << static_cast<int>(o);
    }
    h.Abort();
    w.reset();
  }

  // A valid push cut off by the end of the connection: nothing of it applies; sent whole
  // on the next session, it applies once.
  store::Changeset one{"unit-0003", {}};
  {
    auto r =
        ValueOrDie(store::Replica::Create(dir_.File("cut.db"), store::Role::kUnit, "unit-0003"));
    Exec(r, "INSERT INTO student(id, unit_id, pseudo_id) VALUES ('t-cut', 'unit-0003', 'p')");
    one = ValueOrDie(store::DecodeChangeset(ValueOrDie(store::BuildChangeset(r, {})).bytes));
  }
  const Bytes whole = HostileUnit::Frame(protocol::Push{seq, h.SealPush(one, seq)});
  w = h.Session(port_, 0, 1'000'000'000);
  ASSERT_TRUE(w) << h.error();
  ASSERT_TRUE(h.SendRaw(protocol::ByteView(whole).first(whole.size() / 2)));
  h.CloseNotify();
  auto at_central = [&] {
    auto c = ValueOrDie(store::Replica::Open(dir_.File("central.db")));
    return Query(c, "SELECT count(*) FROM student WHERE id = 't-cut'");
  };
  w = h.Session(port_, 0, 1'000'000'000);
  ASSERT_TRUE(w) << h.error();
  EXPECT_EQ(w->applied_seq, seq - 1) << "half a frame applied nothing";
  EXPECT_EQ(at_central(), "0");
  ASSERT_TRUE(h.SendRaw(whole));
  auto m = h.Read(20s);
  ASSERT_TRUE(m && std::holds_alternative<protocol::Ack>(*m)) << h.error();
  EXPECT_EQ(at_central(), "1");

  EXPECT_GE(CentralLogCount("event=malformed_from_unit unit=unit-0003"), 1u);
  ExpectHonestUnitsKeepSyncing();
  StopHonestWriters();
  ExpectCentralUp();
}

}  // namespace
}  // namespace unitsync::testing
