// The merge fuzzer's world: central and two units as real replica files (on
// /dev/shm when there is one), each with its own manual wall clock, and the
// operations that bring them into states the system can reach — local writes
// through SQL (the capture triggers see them), real pushes and fan-outs built by
// the changeset builder and applied the way the daemon's executors apply them,
// purges through PurgeRow.
//
// Replicas are created once per process and copied for every input, so an input
// costs file copies, not schema creation. Not thread-safe; one world at a time.
#pragma once

#include <array>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include "common/clock.h"
#include "store/fuzz/changeset_gen.h"
#include "store/fuzz/checks.h"
#include "store/merge.h"
#include "store/replica.h"

namespace unitsync::store::fuzz {

class World {
 public:
  World();  // fresh replicas at kT0; aborts if the files cannot be made
  ~World();
  World(const World&) = delete;
  World& operator=(const World&) = delete;

  Replica& node(int n) { return *replicas_[static_cast<size_t>(n)]; }
  ManualWallClock& clock(int n) { return *clocks_[static_cast<size_t>(n)]; }
  const ValuePools& pools() const;
  std::set<RowKey>& markers(int n) { return markers_[static_cast<size_t>(n)]; }

  // A local write at node `n`, read from the input; failures (a constraint, a
  // guard trigger) are the writer's business and change nothing.
  void LocalWrite(FuzzInput& in, int n);
  // Unit `u`'s push as the daemon makes it: built after its outbox, checked (no
  // local-only column or value, no private row), applied at central authorized with
  // the cursor, appended to the outbox and acknowledged. Returns central's report.
  MergeReport Push(int u);
  // Central's fan-out to unit `u` after its cursor, at most `max_rows` rows, checked
  // (only rows in the unit's scope) and applied with the cursor.
  MergeReport Pull(int u, size_t max_rows);
  // PurgeRow at node `n` (refusals such as an unknown row are normal).
  void Purge(int n, const std::string& table, const std::string& pk);

  // Applies `bytes` at node `n` with every single-apply invariant checked: an
  // error, if any, is one a changeset may earn and leaves the file unchanged; a
  // success accounts for every row, moves no version back, keeps every marker,
  // and applying it again changes nothing. nullopt when refused.
  std::optional<MergeReport> CheckedApply(int n, const Blob& bytes, const ApplyOptions& options,
                                          const char* what);

  // A copy of node `n`'s replica (its own file and clock at the same time).
  struct Copy {
    std::unique_ptr<ManualWallClock> clock;
    std::unique_ptr<Replica> replica;
  };
  Copy CopyOf(int n);

  // Stamps every node's local writes and notes its purge markers (cheap: after
  // every step).
  void Track();
  // Track(), then every node agrees with itself (CheckReplica, values scanned too).
  void CheckAll();

 private:
  std::string dir_;
  std::array<std::unique_ptr<ManualWallClock>, kNodes> clocks_;
  std::array<std::unique_ptr<Replica>, kNodes> replicas_;
  std::array<std::set<RowKey>, kNodes> markers_;
  int copies_ = 0;
};

// Stamps node-local writes so that snapshots taken before an apply are what the
// apply starts from (ApplyChangeset stamps first, inside its transaction).
void StampNow(Replica& replica);

}  // namespace unitsync::store::fuzz
