// unitsync_kill: kill -9 at random moments during heavy sync (tests/RELIABILITY.md,
// "kill -9"). Central and --units unit daemons (real unitsyncd processes, real
// certificates, loopback); a writer thread makes steady inserts, updates and deletes at
// every unit and at central through their replica files while they sync; the main
// thread SIGKILLs central or a unit at random moments and restarts it at once. After
// each kill: PRAGMA integrity_check of the killed node's file as the crash left it, and
// every replica's tracked rows against the ledger (nothing went back, vanished or came
// back). At the end: the writer stops, `unitsyncctl verify` at central must report every
// unit identical and settled, and each replica must hold exactly the ledger's last writes
// (tests/faults/ledger.h), with no conflict record and equal digests unit vs central.
//
//   unitsync_kill [--iterations N] [--seed S] [--units U] [--gap-ms MIN,MAX]
//
// --iterations is the number of kills (default 200); the seed (printed; random when not
// given) fixes every choice: which node dies, the gaps between kills, each write. Real
// time and scheduling still differ between runs, so a replay repeats the schedule, not
// the exact interleaving. Exit 0 when every check passed, 1 on a violation, 2 on a usage
// or set-up error.
#include <CLI/CLI.hpp>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "admin-cli/cli_test_util.h"
#include "tests/daemon_util.h"
#include "tests/faults/deployment.h"
#include "tests/faults/ledger.h"

namespace unitsync::faults {
namespace {

using Clock = std::chrono::steady_clock;

struct Options {
  uint64_t iterations = 200;
  uint64_t seed = 0;
  int units = 2;
  std::vector<int> gap_ms = {60, 700};
};

class KillRun {
 public:
  KillRun(const Options& opts, uint64_t seed) : opts_(opts), dep_(opts.units), rng_(seed) {}

  int Run() {
    if (auto st = dep_.Create(); !st) {
      std::fprintf(stderr, "unitsync_kill: set-up failed: %s\n", st.error().ToString().c_str());
      return 2;
    }
    for (const std::string& n : dep_.nodes()) {
      dep_.Start(n);
      ready_ms_.push_back(dep_.MsUntilAnswers(n));
    }
    // The writer's seed is drawn here: rng_ belongs to this thread (TSan found the writer
    // drawing it while KillOne did).
    std::thread writer([this, writer_seed = rng_()] { WriteLoop(writer_seed); });
    const auto start = Clock::now();
    for (uint64_t k = 0; k < opts_.iterations && Clean(); ++k) KillOne();
    const double kill_s = Seconds(start);
    const int64_t pushed_during_kills = dep_.PushesAcked();
    stop_ = true;
    writer.join();
    const auto drain_start = Clock::now();
    const bool drained = Drain();
    const double drain_s = Seconds(drain_start);
    FinalChecks(drained);
    pushes_end_ = dep_.PushesAcked();
    dep_.StopAll();

    std::string ready;
    for (const int64_t ms : ready_ms_) ready += (ready.empty() ? "" : "/") + std::to_string(ms);
    std::printf(
        "unitsync_kill: daemons answered %s ms after start (central/units); %lld pushes "
        "acknowledged during the kills, %lld by the end\n",
        ready.c_str(), static_cast<long long>(pushed_during_kills),
        static_cast<long long>(pushes_end_));
    const auto& c = ledger_.counts();
    std::printf(
        "unitsync_kill: %llu kills (%llu of central, %llu of units) in %.1f s; writes: %llu "
        "inserts, %llu updates, %llu deletes committed (%llu refused, not counted); %llu "
        "integrity checks; %llu replica observations; drain and verify %.1f s\n",
        ULL(kills_central_ + kills_unit_), ULL(kills_central_), ULL(kills_unit_), kill_s,
        ULL(c.inserts), ULL(c.updates), ULL(c.deletes), ULL(c.failed), ULL(integrity_checks_),
        ULL(monotonic_.observations()), drain_s);
    for (const std::string& v : violations_)
      std::printf("unitsync_kill: violation: %s\n", v.c_str());
    if (!violations_.empty()) {
      std::printf(
          "unitsync_kill: FAILED with %zu violation(s); replay: unitsync_kill "
          "--iterations %llu --seed %llu\n",
          violations_.size(), ULL(opts_.iterations), ULL(seed_));
      dep_.PrintLogTails();
      return 1;
    }
    std::printf("unitsync_kill: passed\n");
    return 0;
  }
  uint64_t seed_ = 0;

 private:
  static unsigned long long ULL(uint64_t v) { return static_cast<unsigned long long>(v); }
  static double Seconds(Clock::time_point since) {
    return std::chrono::duration<double>(Clock::now() - since).count();
  }

  // Writes at every node in turn through the node's replica file, as staff's programs do.
  void WriteLoop(uint64_t seed) {
    std::map<std::string, store::Replica> replicas;
    std::mt19937_64 rng(seed);
    for (const std::string& n : dep_.nodes()) {
      auto r = store::Replica::Open(dep_.Db(n));
      if (!r) {
        Violation("writer cannot open " + n + ": " + r.error().ToString());
        return;
      }
      replicas.emplace(n, std::move(*r));
    }
    while (!stop_) {
      const std::string& node = dep_.nodes()[rng() % dep_.nodes().size()];
      {
        std::lock_guard lock(mu_);
        std::vector<std::string> v;
        ledger_.Write(replicas.at(node), node, dep_.units(), rng, v);
        for (auto& s : v) violations_.push_back(std::move(s));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  }

  bool Clean() {
    std::lock_guard lock(mu_);
    return violations_.empty();
  }

  void Violation(std::string what) {
    std::lock_guard lock(mu_);
    violations_.push_back(std::move(what));
  }

  void KillOne() {
    const int gap =
        opts_.gap_ms[0] +
        static_cast<int>(rng_() % static_cast<uint64_t>(opts_.gap_ms[1] - opts_.gap_ms[0] + 1));
    std::this_thread::sleep_for(std::chrono::milliseconds(gap));
    for (const std::string& n : dep_.nodes()) {
      if (dep_.ExitedByItself(n)) Violation(n + " exited by itself: " + dep_.ExitStatus(n));
    }
    // A third of the kills hit central, the rest a unit chosen at random.
    const bool central = rng_() % 3 == 0;
    const std::string node =
        central ? std::string(kCentralNode) : dep_.units()[rng_() % dep_.units().size()];
    dep_.Kill(node);
    ++(central ? kills_central_ : kills_unit_);
    const std::string integrity = IntegrityCheck(dep_.Db(node));
    ++integrity_checks_;
    if (integrity != "ok") Violation(node + ": integrity_check after kill -9: " + integrity);
    dep_.Start(node);
    ObserveAll();
  }

  // Every replica's tracked rows against the ledger and what each showed before.
  void ObserveAll() {
    std::lock_guard lock(mu_);
    for (const std::string& n : dep_.nodes()) {
      auto tokens = ReadTokens(dep_.Reader(n));
      if (!tokens) {
        violations_.push_back(n + ": cannot read: " + tokens.error().ToString());
        continue;
      }
      monotonic_.Observe(ledger_, n, *tokens, violations_);
    }
  }

  // Until central's verify reports every unit identical with nothing in flight, and every
  // replica holds the ledger's last writes (bounded: 120 s).
  bool Drain() {
    const auto until = Clock::now() + std::chrono::seconds(120);
    while (Clock::now() < until) {
      if (dep_.VerifyAllEqual() && FinalViolations().empty()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    return false;
  }

  std::vector<std::string> FinalViolations() {
    std::vector<std::string> out;
    for (const std::string& n : dep_.nodes()) {
      auto tokens = ReadTokens(dep_.Reader(n));
      if (!tokens) {
        out.push_back(n + ": cannot read: " + tokens.error().ToString());
        continue;
      }
      for (auto& v : CheckFinal(ledger_, n, *tokens)) out.push_back(std::move(v));
    }
    return out;
  }

  void FinalChecks(bool drained) {
    std::lock_guard lock(mu_);
    if (!drained) {
      violations_.push_back("did not drain within 120 s: verify at central: " + dep_.LastVerify());
    }
    for (auto& v : FinalViolations()) violations_.push_back(std::move(v));
    for (const std::string& n : dep_.nodes()) {
      auto conflicts = ConflictCount(dep_.Reader(n));
      if (!conflicts || *conflicts != 0) {
        violations_.push_back(n + ": " + (conflicts ? std::to_string(*conflicts) : "?") +
                              " conflict record(s); with one writer per row there are none");
      }
      auto tokens = ReadTokens(dep_.Reader(n));
      if (tokens) monotonic_.Observe(ledger_, n, *tokens, violations_);
    }
    for (const std::string& u : dep_.units()) {
      if (!dep_.DigestsEqual(u)) violations_.push_back(u + ": digests differ from central's");
    }
    for (const std::string& n : dep_.nodes()) {
      const std::string integrity = IntegrityCheck(dep_.Db(n));
      ++integrity_checks_;
      if (integrity != "ok")
        violations_.push_back(n + ": integrity_check at the end: " + integrity);
    }
  }

  Options opts_;
  Deployment dep_;
  std::mt19937_64 rng_;
  std::mutex mu_;  // guards ledger_, monotonic_, violations_
  Ledger ledger_;
  MonotonicCheck monotonic_;
  std::vector<std::string> violations_;
  std::atomic<bool> stop_{false};
  std::vector<int64_t> ready_ms_;
  int64_t pushes_end_ = 0;
  uint64_t kills_central_ = 0, kills_unit_ = 0, integrity_checks_ = 0;
};

}  // namespace
}  // namespace unitsync::faults

int main(int argc, char** argv) {
  unitsync::faults::Options opts;
  CLI::App app("kill -9 central and unit daemons at random moments during sync");
  app.add_option("--iterations", opts.iterations, "kills (default 200)");
  auto* seed = app.add_option("--seed", opts.seed, "replay this seed (default: a random one)");
  app.add_option("--units", opts.units, "unit daemons (default 2)")->check(CLI::Range(2, 8));
  app.add_option("--gap-ms", opts.gap_ms, "MIN,MAX ms between kills (default 60,700)")
      ->expected(2)
      ->delimiter(',');
  CLI11_PARSE(app, argc, argv);
  if (opts.gap_ms[0] < 0 || opts.gap_ms[1] < opts.gap_ms[0]) {
    std::fprintf(stderr, "unitsync_kill: --gap-ms wants MIN,MAX with 0 <= MIN <= MAX\n");
    return 2;
  }
  if (seed->count() == 0) opts.seed = std::random_device{}();
  unitsync::faults::UseBuiltBinaries(argv[0]);
  std::printf("unitsync_kill: seed %llu, %llu kills, %d units\n",
              static_cast<unsigned long long>(opts.seed),
              static_cast<unsigned long long>(opts.iterations), opts.units);
  std::fflush(stdout);
  unitsync::faults::KillRun run(opts, opts.seed);
  run.seed_ = opts.seed;
  return run.Run();
}
