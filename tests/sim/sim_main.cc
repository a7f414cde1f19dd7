// unitsync_sim: runs the deterministic simulation for a range of seeds and says which
// failed, with the one command that replays each (tests/RELIABILITY.md).
//
//   unitsync_sim --seeds N --first-seed S [--steps K] [--verbose]
//                [--central-writes-before-restore]
//
// Exit status: 0 when every seed passed, 1 when any failed, 2 on a usage error.
#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <string>

#include "tests/sim/scenario.h"

namespace {

using unitsync::sim::SeedResult;

struct Totals {
  size_t seeds = 0, failed = 0;
  unitsync::testing::SyncHarness::Counters net;
  unitsync::sim::ScenarioCounts counts;
  int64_t max_drain_ms = 0;
  int64_t sim_ms = 0;

  void Add(const SeedResult& r) {
    ++seeds;
    failed += r.ok() ? 0 : 1;
    const auto& n = r.network;
    net.connections += n.connections;
    net.frames += n.frames;
    net.drops += n.drops;
    net.duplicates += n.duplicates;
    net.delays += n.delays;
    net.reorders += n.reorders;
    net.blackholed += n.blackholed;
    net.refused_connects += n.refused_connects;
    net.unit_crashes += n.unit_crashes;
    net.central_crashes += n.central_crashes;
    net.crashes_after_commit += n.crashes_after_commit;
    net.store_work_lost += n.store_work_lost;
    const auto& c = r.counts;
    counts.ops += c.ops;
    counts.writes += c.writes;
    counts.deletes += c.deletes;
    counts.moves += c.moves;
    counts.resets += c.resets;
    counts.cuts += c.cuts;
    counts.partitions += c.partitions;
    counts.clock_jumps += c.clock_jumps;
    counts.skewed_seeds += c.skewed_seeds;
    counts.snapshots += c.snapshots;
    counts.restores += c.restores;
    counts.merges += c.merges;
    counts.gc_seeds += c.gc_seeds;
    counts.forced_reseeds += c.forced_reseeds;
    max_drain_ms = std::max(max_drain_ms, r.drain_ms);
    sim_ms += r.sim_ms;
  }
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"unitsync deterministic simulation"};
  uint64_t seeds = 100;
  uint64_t first = 1;
  int steps = 0;
  bool verbose = false;
  bool central_writes_before_restore = false;
  app.add_option("--seeds", seeds, "how many seeds to run")->check(CLI::PositiveNumber);
  app.add_option("--first-seed", first, "the first seed");
  app.add_option("--steps", steps, "workload and fault steps per seed (0: drawn from the seed)");
  app.add_flag("--verbose", verbose, "one line per seed");
  app.add_flag("--central-writes-before-restore", central_writes_before_restore,
               "let central write between a snapshot and its restore (a known limit)");
  CLI11_PARSE(app, argc, argv);

  const auto wall_start = std::chrono::steady_clock::now();
  Totals t;
  unitsync::sim::ReplicaTemplates templates;
  unitsync::sim::ScenarioOptions options;
  options.templates = &templates;
  options.steps = steps;
  options.central_writes_before_restore = central_writes_before_restore;
  for (uint64_t seed = first; seed < first + seeds; ++seed) {
    const SeedResult r = unitsync::sim::RunSeed(seed, options);
    t.Add(r);
    if (verbose) {
      std::printf(
          "sim: seed %llu units=%d ops=%zu writes=%zu merges=%zu connections=%zu "
          "crashes=%zu drain_ms=%lld %s\n",
          static_cast<unsigned long long>(seed), r.units, r.counts.ops, r.counts.writes,
          r.counts.merges, r.network.connections,
          r.network.unit_crashes + r.network.central_crashes, static_cast<long long>(r.drain_ms),
          r.ok() ? "ok" : "FAILED");
    }
    for (const auto& v : r.violations) {
      std::printf(
          "sim: seed %llu failed: %s: %s; replay: scripts/sim --seeds 1 --first-seed %llu\n",
          static_cast<unsigned long long>(seed), v.invariant.c_str(), v.detail.c_str(),
          static_cast<unsigned long long>(seed));
    }
    std::fflush(stdout);
  }
  const double wall_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
  const auto& n = t.net;
  const auto& c = t.counts;
  std::printf(
      "sim: seeds %llu..%llu: %zu passed, %zu failed in %.1f s wall (%.1f min simulated)\n"
      "sim: workload: %zu ops, %zu writes, %zu deletes, %zu moves; %zu changesets merged\n"
      "sim: network: %zu connections, %zu frames; resets %zu (+%zu per-frame), cuts %zu, "
      "partitions %zu (%zu connects refused, %zu frames lost silently), delayed %zu, "
      "duplicated %zu, reordered %zu\n"
      "sim: nodes: unit crashes %zu, central crashes %zu (%zu right after a store commit, "
      "%zu store requests lost), clock jumps %zu, skewed seeds %zu, snapshots %zu, "
      "restores %zu\n"
      "sim: log GC: %zu seeds trimmed central's log, %zu forced re-seeds\n"
      "sim: longest drain after the faults stopped: %lld ms simulated (bound %lld ms)\n",
      static_cast<unsigned long long>(first), static_cast<unsigned long long>(first + seeds - 1),
      t.seeds - t.failed, t.failed, wall_s, static_cast<double>(t.sim_ms) / 60'000.0, c.ops,
      c.writes, c.deletes, c.moves, c.merges, n.connections, n.frames, c.resets, n.drops, c.cuts,
      c.partitions, n.refused_connects, n.blackholed, n.delays, n.duplicates, n.reorders,
      n.unit_crashes, n.central_crashes, n.crashes_after_commit, n.store_work_lost, c.clock_jumps,
      c.skewed_seeds, c.snapshots, c.restores, c.gc_seeds, c.forced_reseeds,
      static_cast<long long>(t.max_drain_ms), static_cast<long long>(unitsync::sim::kDrainBoundMs));
  return t.failed == 0 ? 0 : 1;
}
