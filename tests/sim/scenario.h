// One simulated scenario per seed: central and 3-8 units on real replicas, the real sync
// core, a simulated network and clock (tests/sync_harness.h), a random workload
// (workload.h) and random faults; then the faults stop, every queue drains, and the
// convergence checker (checker.h) judges. Everything is a function of the seed: the
// same seed replays the same run, event for event.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "store/test_util.h"
#include "tests/sim/checker.h"
#include "tests/sync_harness.h"

namespace unitsync::sim {

// (7): once faults stop, every queue must drain within this much simulated time.
// Reconnect backoff is capped at 2 s and read deadlines are 3 s in the simulation; the
// bound leaves room for a resync after a restore plus a few backoff rounds.
inline constexpr int64_t kDrainBoundMs = 60'000;

// Fresh replica files made once per process and copied for each seed (creating a
// replica applies the whole schema; copying a file is far cheaper). Not thread-safe.
class ReplicaTemplates {
 public:
  explicit ReplicaTemplates(int max_units = 8);
  // Copies central.db and unit-0001.db .. unit-<units>.db into `dir`.
  void CopyInto(const store::testing::TempDir& dir, int units) const;
  // A fresh central-role replica for the checker's replay.
  const std::string& replay() const { return replay_; }

 private:
  store::testing::TempDir dir_;
  int max_units_;
  std::string replay_;
};

struct ScenarioOptions {
  // Copied instead of creating replicas; null: create them.
  const ReplicaTemplates* templates = nullptr;
  // Workload and fault steps; 0: drawn from the seed (25-50).
  int steps = 0;
  // Let central write between a snapshot and its restore. Off: central's own writes in
  // that window are lost with the restore by design, and units keep the reference data
  // central lost (RELIABILITY.md, "Known limits").
  bool central_writes_before_restore = false;
};

// Faults the scenario injected itself (the harness counts the network's).
struct ScenarioCounts {
  size_t ops = 0;
  size_t writes = 0;
  size_t deletes = 0;
  size_t moves = 0;
  size_t resets = 0;      // connections reset at once
  size_t cuts = 0;        // connections gone silent
  size_t partitions = 0;  // units unreachable for a few steps
  size_t clock_jumps = 0;
  size_t skewed_seeds = 0;  // 1 when this seed's clocks were skewed by days
  size_t snapshots = 0;
  size_t restores = 0;
  size_t merges = 0;          // changesets merged (pushes at central, CHANGES at units)
  size_t gc_seeds = 0;        // 1 when central trimmed its log (a short retention)
  size_t forced_reseeds = 0;  // units told to re-seed because the log no longer reached them
};

struct SeedResult {
  uint64_t seed = 0;
  int units = 0;
  std::vector<Violation> violations;
  testing::SyncHarness::Counters network;
  ScenarioCounts counts;
  int64_t drain_ms = 0;  // simulated time from "faults stop" to every queue drained
  int64_t sim_ms = 0;    // simulated time of the whole run
  bool ok() const { return violations.empty(); }
};

// Runs one seed. Never throws: a harness failure (a replica that will not open) is
// reported as a violation too.
SeedResult RunSeed(uint64_t seed, const ScenarioOptions& options = {});

}  // namespace unitsync::sim
