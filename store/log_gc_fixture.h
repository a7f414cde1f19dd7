// Test fixture for central's log GC and the forced re-seed (log_gc_test.cc and
// fault_sweep_gc_test.cc): the star of store/star_fixture.h with the daemon's session
// (HELLO, push, pull, acknowledgement) and a forced re-seed from central's snapshot.
#pragma once

#include <string>

#include "store/change_log.h"
#include "store/changeset_builder.h"
#include "store/log_gc.h"
#include "store/merge.h"
#include "store/snapshot_apply.h"
#include "store/star_fixture.h"

namespace unitsync::store::testing {

constexpr int64_t kRetention = 3'600'000;  // an hour

class LogGcTest : public StarTest {
 protected:
  void AddStudent(Replica& r, const std::string& id, const std::string& unit, int priv = 0) {
    Exec(r, "INSERT INTO student(id, unit_id, pseudo_id, grade, protected_identity) VALUES ('" +
                id + "', '" + unit + "', 'p-" + id + "', '7', " + std::to_string(priv) + ")");
  }

  // One session of `unit` as the daemon runs it: HELLO (recorded at central), push, pull,
  // and the acknowledgement of the pull. Returns what RecordHello said.
  bool Session(Replica& unit) {
    const OutboxState out = ValueOrDie(GetOutboxState(unit));
    const int64_t pull = ValueOrDie(GetCursor(unit, "central")).received_seq;
    const bool reseed = ValueOrDie(RecordHello(central_, unit.node_id(), pull, out.built_seq));
    if (reseed) return true;
    BuildRequest req;
    req.after_seq = out.built_log_seq;
    req.max_rows = SIZE_MAX;
    // As the daemon: a push only when there is something to push.
    if (ValueOrDie(BuildChangeset(unit, req)).rows > 0) PushReport(unit);
    Pull(unit, FanOut(unit));
    EXPECT_TRUE(AdvanceAcked(central_, unit.node_id(), last_seq_));
    return false;
  }

  LogGcReport Collect() { return ValueOrDie(CollectLogGarbage(central_, LogGcPolicy{kRetention})); }

  int64_t LogEntries() { return std::stoll(Query(central_, "SELECT count(*) FROM _us_changes")); }
  int64_t Tombstones() {
    return std::stoll(Query(central_, "SELECT count(*) FROM _us_clock WHERE deleted = 1"));
  }

  // A tombstone every unit has: rows "gone" and "kept" synced to both units, then "gone"
  // deleted at central and each unit's next session pulls the delete. Callers wrap it in
  // ASSERT_NO_FATAL_FAILURE.
  void SetUpSyncedTombstone() {
    AddStudent(central_, "gone", "unit-0001");
    AddStudent(central_, "kept", "unit-0001");
    US_ASSERT_OK(StampPendingChangesNow(central_));
    ASSERT_FALSE(Session(u1_));
    ASSERT_FALSE(Session(u2_));
    Exec(central_, "DELETE FROM student WHERE id = 'gone'");
    US_ASSERT_OK(StampPendingChangesNow(central_));
    ASSERT_FALSE(Session(u1_));
    ASSERT_FALSE(Session(u2_));
  }

  // What a forced re-seed of unit-0001 must sort out: rows "deleted", "moved", "same",
  // "edited" and "edited-moved" synced everywhere; then, at the unit offline, a private row
  // "private", a new row "new" and edits of "edited", "edited-moved" and "same", built into
  // an outbox push central never received (the connection died); at central meanwhile
  // "deleted" and "edited" deleted, "moved" and "edited-moved" moved to unit-0002.
  // Callers wrap it in ASSERT_NO_FATAL_FAILURE.
  void SetUpForcedReseedScenario() {
    for (const char* id : {"deleted", "moved", "same", "edited", "edited-moved"}) {
      AddStudent(central_, id, "unit-0001");
    }
    US_ASSERT_OK(StampPendingChangesNow(central_));
    ASSERT_FALSE(Session(u1_));
    ASSERT_FALSE(Session(u2_));
    AddStudent(u1_, "private", "unit-0001", 1);
    AddStudent(u1_, "new", "unit-0001");
    Exec(u1_, "UPDATE student SET grade = '8' WHERE id IN ('edited', 'edited-moved', 'same')");
    US_ASSERT_OK(StampPendingChangesNow(u1_));
    const OutboxState out = ValueOrDie(GetOutboxState(u1_));
    BuildRequest req;
    req.after_seq = out.built_log_seq;
    req.max_rows = SIZE_MAX;
    BuiltChangeset unsent = ValueOrDie(BuildChangeset(u1_, req));
    US_ASSERT_OK(AppendOutbox(u1_, {out.built_seq + 1, unsent.last_seq,
                                    static_cast<int64_t>(unsent.rows), unsent.bytes}));
    Exec(central_, "DELETE FROM student WHERE id IN ('deleted', 'edited')");
    Exec(central_,
         "UPDATE student SET unit_id = 'unit-0002' WHERE id IN ('moved', 'edited-moved')");
    US_ASSERT_OK(StampPendingChangesNow(central_));
  }

  // A forced re-seed of `unit` from central's snapshot, `per_chunk` rows at a time,
  // applied as the unit's executor applies chunks (store::ApplySnapshotChunk).
  void ForcedReseed(Replica& unit, size_t per_chunk) {
    US_ASSERT_OK(RequestSeed(unit, /*forced=*/true));
    const int64_t head = ValueOrDie(GetChangeLogStats(central_, INT64_MAX)).head_seq;
    SeedState seed = ValueOrDie(GetSeedState(unit));
    seed.snapshot = "snap-test";
    seed.head = head;
    SnapshotKey after;
    for (;;) {
      SnapshotChunkRequest req;
      req.unit = unit.node_id();
      req.after = after;
      req.max_rows = per_chunk;
      auto chunk = ValueOrDie(BuildSnapshotChunk(central_, req));
      if (chunk.rows > 0) {
        ++seed.next_chunk;
        ValueOrDie(ApplySnapshotChunk(unit, ValueOrDie(DecodeChangeset(chunk.bytes)), seed));
      }
      after = chunk.last;
      if (chunk.done) break;
    }
    US_ASSERT_OK(FinishSeed(unit, "central", head));
  }
};

}  // namespace unitsync::store::testing
