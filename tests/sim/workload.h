// The simulator's random workload: what staff at the units and the admins at central do
// to the data, as plain SQL on the replicas (the capture triggers see it as they see any
// writer). Every operation that commits is recorded in the Model.
//
// An operation kind is one row of kOps: who may run it and how often; its body is one
// case in workload.cc. A new kind is one more enum value, one more row and one more
// case; the checker needs to learn what it means.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <string_view>

#include "tests/sim/model.h"
#include "tests/sync_harness.h"

namespace unitsync::sim {

enum class OpKind {
  // At a unit, in its own scope.
  kInsertStudent,
  kInsertPrivateStudent,  // protected_identity = 1: never leaves the unit
  kUpdateStudent,
  kDeleteStudent,  // a student without cases
  kInsertCase,
  kUpdateCase,
  kDeleteCase,  // a case without actions
  kInsertAction,
  kUpdateAction,
  kDeleteAction,
  kPurgeAction,  // `unitsyncctl purge` at the unit (an action: nothing refers to one)
  // At central.
  kCentralInsertActionType,  // reference data
  kCentralUpdateActionType,
  kCentralUpdateStudent,  // central's writes in a unit's scope
  kCentralUpdateAction,
  kCentralDeleteAction,
  kCentralMoveStudent,  // a student (with cases and actions) moves to another unit
  kCentralPurgeAction,  // `unitsyncctl purge` at central
};
std::string_view OpKindName(OpKind kind);

struct OpWeight {
  OpKind kind;
  bool at_central;
  int weight;  // 0: never drawn
};
inline constexpr OpWeight kOps[] = {
    {OpKind::kInsertStudent, false, 10},
    {OpKind::kInsertPrivateStudent, false, 2},
    {OpKind::kUpdateStudent, false, 10},
    {OpKind::kDeleteStudent, false, 3},
    {OpKind::kInsertCase, false, 8},
    {OpKind::kUpdateCase, false, 6},
    {OpKind::kDeleteCase, false, 2},
    {OpKind::kInsertAction, false, 8},
    {OpKind::kUpdateAction, false, 10},
    {OpKind::kDeleteAction, false, 4},
    {OpKind::kPurgeAction, false, 1},
    {OpKind::kCentralInsertActionType, true, 3},
    {OpKind::kCentralUpdateActionType, true, 3},
    {OpKind::kCentralUpdateStudent, true, 4},
    {OpKind::kCentralUpdateAction, true, 4},
    {OpKind::kCentralDeleteAction, true, 1},
    {OpKind::kCentralMoveStudent, true, 4},
    {OpKind::kCentralPurgeAction, true, 1},
};

class Workload {
 public:
  Workload(testing::SyncHarness& h, Model& model) : h_(h), model_(model) {}

  // Draws one operation (at central only if `central_may_write`) and runs it at step
  // `step`; tells the node's sync core about the change. False when the drawn operation
  // found nothing to act on (e.g. no row to update yet).
  bool RunOne(std::mt19937_64& rng, int step, bool central_may_write);
  // Runs `kind` at `node` (a unit index, or kCentral for central's operations).
  bool Run(OpKind kind, NodeIndex node, std::mt19937_64& rng, int step);

  size_t ops_run(OpKind kind) const { return counts_[static_cast<size_t>(kind)]; }

 private:
  testing::SyncHarness& h_;
  Model& model_;
  size_t counts_[static_cast<size_t>(OpKind::kCentralPurgeAction) + 1] = {};
};

}  // namespace unitsync::sim
