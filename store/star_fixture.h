// Test fixture: central and two units (unit-0001, unit-0002) as replicas in one process,
// synced by hand the way the daemon does it — a unit's push built after its outbox,
// applied authorized at central and acknowledged; central's fan-out to a unit after its
// cursor, applied with the cursor in the same transaction.
#pragma once

#include <string>
#include <vector>

#include "store/cursors.h"
#include "store/sync_state.h"
#include "store/test_util.h"

namespace unitsync::store::testing {

class StarTest : public ::testing::Test {
 protected:
  static constexpr int64_t kT0 = 1'780'000'000'000;

  StarTest()
      : clock_(kT0),
        central_(MakeReplica(dir_, "central", Role::kCentral, &clock_)),
        u1_(MakeReplica(dir_, "unit-0001", Role::kUnit, &clock_)),
        u2_(MakeReplica(dir_, "unit-0002", Role::kUnit, &clock_)) {}

  // The unit's push: applied authorized at central (cursor advanced), then acknowledged.
  // Returns central's report.
  MergeReport PushReport(Replica& unit) {
    const OutboxState state = ValueOrDie(GetOutboxState(unit));
    BuildRequest req;
    req.after_seq = state.built_log_seq;
    req.max_rows = SIZE_MAX;
    BuiltChangeset built = ValueOrDie(BuildChangeset(unit, req));
    MergeReport r;
    if (built.rows > 0) {
      ApplyOptions o;
      o.authorize_unit = unit.node_id();
      o.advance_received = ApplyOptions::Cursor{unit.node_id(), state.built_seq + 1};
      r = ValueOrDie(ApplyChangeset(central_, built.bytes, o));
    }
    EXPECT_TRUE(AppendOutbox(unit, {state.built_seq + 1, built.last_seq,
                                    static_cast<int64_t>(built.rows), built.bytes}));
    EXPECT_TRUE(AckOutbox(unit, state.built_seq + 1));
    return r;
  }

  // Central's fan-out to `unit` after its cursor, decoded; remembers where it ends.
  Changeset FanOut(Replica& unit, size_t max_rows = SIZE_MAX) {
    BuildRequest req;
    req.after_seq = ValueOrDie(GetCursor(unit, "central")).received_seq;
    req.max_rows = max_rows;
    req.destination_unit = unit.node_id();
    BuiltChangeset built = ValueOrDie(BuildChangeset(central_, req));
    last_seq_ = built.last_seq;
    if (built.rows == 0) return Changeset{"central", {}};
    return ValueOrDie(DecodeChangeset(built.bytes));
  }

  // Applies a fan-out built by FanOut, moving the unit's cursor with it.
  MergeReport Pull(Replica& unit, const Changeset& cs) {
    ApplyOptions o;
    o.advance_received = ApplyOptions::Cursor{"central", last_seq_};
    return ValueOrDie(ApplyChangeset(unit, EncodeChangeset(cs), o));
  }

  // "table/id:kind" per row of a changeset.
  static std::vector<std::string> Rows(const Changeset& cs) {
    std::vector<std::string> out;
    for (const auto& t : cs.tables) {
      for (const auto& r : t.rows) {
        out.push_back(t.table + "/" + r.pk + ":" +
                      (r.purge       ? "purge"
                       : r.evict     ? "evict"
                       : r.tombstone ? "tombstone"
                                     : "row"));
      }
    }
    return out;
  }

  void ExpectConverged() {
    EXPECT_EQ(Digests(u1_, "unit-0001"), Digests(central_, "unit-0001"));
    EXPECT_EQ(Digests(u2_, "unit-0002"), Digests(central_, "unit-0002"));
  }

  TempDir dir_;
  ManualWallClock clock_;
  Replica central_;
  Replica u1_;
  Replica u2_;
  int64_t last_seq_ = 0;
};

}  // namespace unitsync::store::testing
