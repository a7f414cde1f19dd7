// The simulator's convergence checker (issue 6). It watches a SyncHarness run and the
// workload's Model and reports every broken invariant by number, naming tables, row ids
// and write ids only — never a value:
//   (1) no acknowledged write lost: each committed write is the final value, or was
//       overwritten by a write made with it in view, or lost to a delete, or is a
//       conflict loser in some replica's _us_conflicts, or central refused it (the
//       writer holds the rejection, or an eviction conflict); every row that was
//       created still exists (live or tombstoned);
//   (2) nothing applied twice: no push merged twice at central within one generation,
//       no CHANGES envelope merged twice at a unit;
//   (3) every unit's scope has the same digests at the unit and at central, and the
//       changesets that were merged, replayed in a shuffled order with repeats into a
//       fresh replica, give central's digests;
//   (4) read-your-writes and monotonic reads at each unit: a column's version never goes
//       back, and a unit's own last write is what it reads until someone else's newer
//       write replaces it;
//   (5) no deleted row comes back (at a unit while running; anywhere at the end);
//   (6) no row outside its unit's scope at any unit, no local-only column or private
//       row at central;
//   (7) (checked by the scenario) every queue drained within the stated bound.
// Rows central refused from a unit are excused from (1), (4) and (5) for that unit: the
// write was never acknowledged, and the refusal is on record for the admin.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "store/changeset.h"
#include "store/hlc.h"
#include "tests/sim/model.h"
#include "tests/sync_harness.h"

namespace unitsync::sim {

struct Violation {
  std::string invariant;  // "(1) acknowledged write lost", ...
  std::string detail;     // ids only
};

class Checker {
 public:
  Checker(testing::SyncHarness& h, const Model& model) : h_(h), model_(model) {}

  // Install as the harness's store observer.
  void OnStoreEvent(const testing::StoreEvent& event);
  // The invariants that must hold at every moment, at every unit: (4), (5), (6).
  void Observe();
  // After every queue has drained: all of them. `scratch` is a file path for the replay
  // replica (a fresh central-role replica there is used, else one is created); `seed`
  // orders the replay.
  void Final(const std::string& scratch, uint64_t seed);

  // Central trims tombstones (store/log_gc.h) in this scenario: a deleted row may end
  // with no record at all at central (and at its units, which get an eviction); that
  // counts as deleted for (1) and (5), and the replay (3) drops such tombstones too.
  void AllowTombstoneGc() { tombstone_gc_ = true; }

  void Report(const std::string& invariant, const std::string& detail);
  const std::vector<Violation>& violations() const { return violations_; }
  size_t merges_recorded() const { return replay_.size(); }

 private:
  struct Seen {
    bool live = false;
    bool deleted = false;
    store::Version version;  // of the tracked column
  };
  // Rows central refused from `node` (either side's record) or evicted from it with
  // unacknowledged work.
  bool Excused(NodeIndex node, const RowKey& row);
  void LoadExcuses();
  void CheckScope(int unit);
  void CheckFinalWrites();
  void CheckReplay(const std::string& scratch, uint64_t seed);

  testing::SyncHarness& h_;
  const Model& model_;
  bool tombstone_gc_ = false;
  std::vector<Violation> violations_;
  std::set<std::string> reported_;  // one report per invariant and detail
  // Exactly-once bookkeeping.
  int64_t changes_before_ = 0;
  std::set<std::string> merged_;
  std::vector<store::Changeset> replay_;
  // Observations per (unit, row).
  std::map<std::pair<int, RowKey>, Seen> seen_;
  std::map<NodeIndex, std::set<RowKey>> excused_;
};

}  // namespace unitsync::sim
