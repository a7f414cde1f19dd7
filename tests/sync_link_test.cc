// The two sync state machines wired together in-process (tests/sync_harness.h): real
// replicas, real executors, real sealing, a fake link with faults. Each test checks what
// an operator would check: the data is identical where it should be, and only there.
#include <gtest/gtest.h>

#include <cstdlib>
#include <random>

#include "store/rejections.h"
#include "store/sync_state.h"
#include "tests/sync_harness.h"

namespace unitsync::testing {
namespace {

using store::testing::Digests;
using store::testing::Exec;
using store::testing::Query;
using store::testing::TempDir;

std::string StudentId(int unit, int n) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "0190a000-0000-7000-8000-%06d%06d", unit, n);
  return buf;
}

void InsertStudent(store::Replica& r, const std::string& unit_id, const std::string& id,
                   int grade) {
  Exec(r, "INSERT INTO student(id, unit_id, pseudo_id, grade) VALUES ('" + id + "', '" + unit_id +
              "', 'p-" + id.substr(id.size() - 6) + "', " + std::to_string(grade) + ")");
}

int64_t Count(store::Replica& r, const std::string& sql) { return std::stoll(Query(r, sql)); }

// Every unit holds exactly its scope of central's data, byte for byte.
void ExpectConverged(SyncHarness& h) {
  for (int i = 0; i < h.unit_count(); ++i) {
    EXPECT_EQ(Digests(h.unit(i), h.unit_id(i)), Digests(h.central(), h.unit_id(i))) << h.unit_id(i);
    EXPECT_EQ(
        Count(h.unit(i), "SELECT count(*) FROM student WHERE unit_id <> '" + h.unit_id(i) + "'"), 0)
        << h.unit_id(i) << " holds rows of another unit";
  }
}

uint64_t SeedFromEnv(uint64_t fallback) {
  const char* s = std::getenv("UNITSYNC_SEED");
  return s ? std::strtoull(s, nullptr, 10) : fallback;
}

TEST(SyncLink, UnitsAndCentralConverge) {
  TempDir dir;
  SyncHarness h(dir, 3, SeedFromEnv(1));
  for (int u = 0; u < 3; ++u) {
    for (int n = 0; n < 20; ++n) InsertStudent(h.unit(u), h.unit_id(u), StudentId(u, n), n % 9 + 1);
  }
  for (int n = 0; n < 5; ++n) {
    Exec(h.central(), "INSERT INTO action_type(id, code, name, level, valid_from) VALUES ('at-" +
                          std::to_string(n) + "', 'C" + std::to_string(n) +
                          "', 'Typ', 'ea', '2026-01-01')");
  }
  h.Start();
  for (int u = 0; u < 3; ++u) h.LocalChange(u);
  h.CentralChange();
  ASSERT_TRUE(h.RunUntilQuiet());

  EXPECT_EQ(Count(h.central(), "SELECT count(*) FROM student"), 60);
  for (int u = 0; u < 3; ++u) {
    EXPECT_EQ(Count(h.unit(u), "SELECT count(*) FROM student"), 20);
    EXPECT_EQ(Count(h.unit(u), "SELECT count(*) FROM action_type"), 5);
  }
  ExpectConverged(h);

  // An update and a delete at one unit reach central, and nobody else.
  Exec(h.unit(0), "UPDATE student SET grade = 9 WHERE id = '" + StudentId(0, 1) + "'");
  Exec(h.unit(0), "DELETE FROM student WHERE id = '" + StudentId(0, 2) + "'");
  h.LocalChange(0);
  ASSERT_TRUE(h.RunUntilQuiet());
  EXPECT_EQ(Query(h.central(), "SELECT grade FROM student WHERE id = '" + StudentId(0, 1) + "'"),
            "9");
  EXPECT_EQ(Count(h.central(), "SELECT count(*) FROM student"), 59);
  ExpectConverged(h);
}

// Random writes everywhere while connections drop and frames are duplicated; after the
// faults stop, everything converges and nothing acknowledged is lost.
class SyncLinkFaults : public ::testing::TestWithParam<uint64_t> {};

TEST_P(SyncLinkFaults, ConvergeUnderDropsDuplicatesAndReconnects) {
  const uint64_t seed = GetParam();
  SCOPED_TRACE("UNITSYNC_SEED=" + std::to_string(seed));
  TempDir dir;
  protocol::SyncOptions options;
  options.window = 3;
  options.backoff_base_ms = 50;
  options.backoff_max_ms = 2'000;
  SyncHarness h(dir, 3, seed, options);
  std::mt19937_64 rng(seed * 7919 + 1);
  h.faults().drop_per_frame = 0.03;
  h.faults().duplicate_per_frame = 0.05;
  h.Start();
  std::vector<int> next(3, 0);
  for (int round = 0; round < 40; ++round) {
    const int u = static_cast<int>(rng() % 3);
    const int op = static_cast<int>(rng() % 10);
    if (op < 6 || next[u] == 0) {
      InsertStudent(h.unit(u), h.unit_id(u), StudentId(u, next[u]++), 1);
    } else if (op < 8) {
      Exec(h.unit(u), "UPDATE student SET grade = " + std::to_string(rng() % 9 + 1) +
                          " WHERE id = '" + StudentId(u, static_cast<int>(rng() % next[u])) + "'");
    } else if (op < 9) {
      Exec(h.unit(u), "DELETE FROM student WHERE id = '" +
                          StudentId(u, static_cast<int>(rng() % next[u])) + "'");
    } else {
      Exec(h.central(),
           "INSERT OR IGNORE INTO action_type(id, code, name, level, valid_from) "
           "VALUES ('at-" +
               std::to_string(round) +
               "', 'K', 'Typ', 'ea', "
               "'2026-01-01')");
      h.CentralChange();
    }
    h.LocalChange(u);
    if (rng() % 8 == 0) h.Drop(static_cast<int>(rng() % 3));
    h.RunFor(static_cast<int64_t>(rng() % 200));
  }
  // The run must have exercised what it claims to.
  EXPECT_GT(h.counters().duplicates, 0u);
  EXPECT_GT(h.counters().connections, 3u) << "no reconnect happened";
  h.faults() = Faults{};
  for (int u = 0; u < 3; ++u) h.LocalChange(u);
  h.CentralChange();
  ASSERT_TRUE(h.RunUntilQuiet()) << "did not settle";
  ExpectConverged(h);
  int64_t live = 0;
  for (int u = 0; u < 3; ++u) live += Count(h.unit(u), "SELECT count(*) FROM student");
  EXPECT_EQ(Count(h.central(), "SELECT count(*) FROM student"), live);
}

std::vector<uint64_t> FaultSeeds() {
  std::vector<uint64_t> seeds;
  const char* n = std::getenv("UNITSYNC_SEEDS");
  const uint64_t count = n ? std::strtoull(n, nullptr, 10) : 8;
  const uint64_t first = SeedFromEnv(1);
  for (uint64_t i = 0; i < count; ++i) seeds.push_back(first + i);
  return seeds;
}

INSTANTIATE_TEST_SUITE_P(Seeds, SyncLinkFaults, ::testing::ValuesIn(FaultSeeds()));

TEST(SyncLink, ForgedRowIsRefusedAndDoesNotBlockLaterChanges) {
  TempDir dir;
  SyncHarness h(dir, 2, SeedFromEnv(3));
  InsertStudent(h.unit(0), h.unit_id(0), StudentId(0, 1), 3);
  // unit-0001 writes a row claiming to be unit-0002's (plain SQL: capture sees it).
  InsertStudent(h.unit(0), h.unit_id(1), StudentId(9, 9), 3);
  h.Start();
  h.LocalChange(0);
  ASSERT_TRUE(h.RunUntilQuiet());

  EXPECT_EQ(Count(h.central(), "SELECT count(*) FROM student WHERE id = '" + StudentId(0, 1) + "'"),
            1);
  EXPECT_EQ(Count(h.central(), "SELECT count(*) FROM student WHERE id = '" + StudentId(9, 9) + "'"),
            0);
  EXPECT_EQ(Count(h.unit(1), "SELECT count(*) FROM student"), 0);
  // The reason reached both the unit and central's operator.
  EXPECT_TRUE(h.Logged(h.unit_id(0), "push_rows_rejected"));
  EXPECT_TRUE(h.Logged("central", "push_rows_rejected"));
  // ...and is kept in both replicas for the admin, without values.
  auto at_central = store::testing::ValueOrDie(store::ListRejections(h.central(), 10));
  ASSERT_EQ(at_central.size(), 1u);
  EXPECT_EQ(at_central[0].peer, h.unit_id(0));
  EXPECT_EQ(at_central[0].direction, store::RejectionDirection::kRefusedHere);
  EXPECT_EQ(at_central[0].pk, StudentId(9, 9));
  EXPECT_EQ(at_central[0].reason, static_cast<uint16_t>(store::RowRejectReason::kForeignUnit));
  auto at_unit = store::testing::ValueOrDie(store::ListRejections(h.unit(0), 10));
  ASSERT_EQ(at_unit.size(), 1u);
  EXPECT_EQ(at_unit[0].peer, "central");
  EXPECT_EQ(at_unit[0].direction, store::RejectionDirection::kRefusedByPeer);
  EXPECT_EQ(at_unit[0].pk, StudentId(9, 9));
  EXPECT_EQ(at_unit[0].seq, at_central[0].seq);

  // The refused changeset was consumed: the next write still flows.
  InsertStudent(h.unit(0), h.unit_id(0), StudentId(0, 2), 4);
  h.LocalChange(0);
  ASSERT_TRUE(h.RunUntilQuiet());
  EXPECT_EQ(Count(h.central(), "SELECT count(*) FROM student WHERE id = '" + StudentId(0, 2) + "'"),
            1);
}

TEST(SyncLink, RowMovedToAnotherUnitIsEvicted) {
  TempDir dir;
  SyncHarness h(dir, 2, SeedFromEnv(4));
  InsertStudent(h.unit(0), h.unit_id(0), StudentId(0, 1), 5);
  InsertStudent(h.unit(0), h.unit_id(0), StudentId(0, 2), 5);
  h.Start();
  h.LocalChange(0);
  ASSERT_TRUE(h.RunUntilQuiet());
  ASSERT_EQ(Count(h.unit(1), "SELECT count(*) FROM student"), 0);

  // The student moves school: only central moves rows.
  Exec(h.central(),
       "UPDATE student SET unit_id = 'unit-0002' WHERE id = '" + StudentId(0, 1) + "'");
  h.CentralChange();
  ASSERT_TRUE(h.RunUntilQuiet());
  EXPECT_EQ(Count(h.unit(0), "SELECT count(*) FROM student WHERE id = '" + StudentId(0, 1) + "'"),
            0);
  EXPECT_EQ(Count(h.unit(1), "SELECT count(*) FROM student WHERE id = '" + StudentId(0, 1) + "'"),
            1);
  EXPECT_EQ(Count(h.unit(0), "SELECT count(*) FROM student"), 1);
  ExpectConverged(h);
}

TEST(SyncLink, CentralRestoredFromAnOldBackupGetsEverythingBack) {
  TempDir dir;
  SyncHarness h(dir, 2, SeedFromEnv(5));
  for (int n = 0; n < 5; ++n) InsertStudent(h.unit(0), h.unit_id(0), StudentId(0, n), 1);
  h.Start();
  h.LocalChange(0);
  ASSERT_TRUE(h.RunUntilQuiet());
  const std::string backup = dir.File("central-backup.db");
  Exec(h.central(), "VACUUM INTO '" + backup + "'");

  // Work continues after the backup, and is acknowledged by central...
  for (int n = 5; n < 10; ++n) InsertStudent(h.unit(0), h.unit_id(0), StudentId(0, n), 2);
  for (int n = 0; n < 3; ++n) InsertStudent(h.unit(1), h.unit_id(1), StudentId(1, n), 2);
  h.LocalChange(0);
  h.LocalChange(1);
  ASSERT_TRUE(h.RunUntilQuiet());
  ASSERT_EQ(Count(h.central(), "SELECT count(*) FROM student"), 13);

  // ...then central's disk dies and it is restored from the old backup, as a new generation.
  h.ReplaceCentral(backup);
  ASSERT_TRUE(store::NewGeneration(h.central()).has_value());
  ASSERT_EQ(Count(h.central(), "SELECT count(*) FROM student"), 5);
  ASSERT_TRUE(h.RunUntilQuiet());
  EXPECT_EQ(Count(h.central(), "SELECT count(*) FROM student"), 13);
  EXPECT_TRUE(h.Logged(h.unit_id(0), "resync"));
  ExpectConverged(h);

  // And sync carries on normally in the new generation.
  InsertStudent(h.unit(1), h.unit_id(1), StudentId(1, 3), 2);
  h.LocalChange(1);
  ASSERT_TRUE(h.RunUntilQuiet());
  EXPECT_EQ(Count(h.central(), "SELECT count(*) FROM student"), 14);
  ExpectConverged(h);
}

// ---- verify (protocol/FORMAT.md section 6) ----

// Writes to a replica the way a buggy tool or a restored file would: past the capture
// triggers (they stay silent while _us_applying holds a row, as during the engine's own
// apply), so the change is in the table but in no change log and no version.
void WriteBehindTheEnginesBack(store::Replica& r, const std::string& sql) {
  Exec(r, "BEGIN IMMEDIATE; INSERT INTO _us_applying(flag) VALUES (1); " + sql +
              "; DELETE FROM _us_applying; COMMIT");
}

std::vector<std::string> DifferingTables(const protocol::VerifyReport& r) {
  std::vector<std::string> out;
  for (const auto& t : r.tables) {
    if (!t.equal) out.push_back(t.table);
  }
  return out;
}

const protocol::TableVerdict* Table(const protocol::VerifyReport& r, const std::string& name) {
  for (const auto& t : r.tables) {
    if (t.table == name) return &t;
  }
  return nullptr;
}

class SyncLinkVerify : public ::testing::Test {
 protected:
  SyncLinkVerify() : h_(dir_, 2, SeedFromEnv(6)) {
    for (int u = 0; u < 2; ++u) {
      for (int n = 0; n < 10; ++n) InsertStudent(h_.unit(u), h_.unit_id(u), StudentId(u, n), 3);
    }
    for (int n = 0; n < 4; ++n) {
      Exec(h_.central(), "INSERT INTO action_type(id, code, name, level, valid_from) VALUES ('at-" +
                             std::to_string(n) + "', 'C" + std::to_string(n) +
                             "', 'Typ', 'ea', '2026-01-01')");
    }
    h_.Start();
    for (int u = 0; u < 2; ++u) h_.LocalChange(u);
    h_.CentralChange();
    EXPECT_TRUE(h_.RunUntilQuiet());
  }

  // Verifies unit i from both sides; both reports must agree on every table.
  protocol::VerifyReport VerifyBothWays(int i) {
    auto from_unit = h_.Verify(i, false);
    auto from_central = h_.Verify(i, true);
    if (!from_unit || !from_central) {
      ADD_FAILURE() << (from_unit ? from_central.error().message : from_unit.error().message);
      return {};
    }
    EXPECT_EQ(from_unit->tables, from_central->tables) << "both sides see the same comparison";
    EXPECT_EQ(from_unit->settled, from_central->settled);
    return *from_central;
  }

  TempDir dir_;
  SyncHarness h_;
};

TEST_F(SyncLinkVerify, AfterConvergenceEveryTableIsEqualFromBothSides) {
  for (int u = 0; u < 2; ++u) {
    SCOPED_TRACE(h_.unit_id(u));
    protocol::VerifyReport r = VerifyBothWays(u);
    EXPECT_EQ(r.unit, h_.unit_id(u));
    EXPECT_EQ(r.tables.size(), h_.central().manifest().tables().size());
    EXPECT_TRUE(r.all_equal()) << r.Summary();
    EXPECT_TRUE(r.settled) << r.in_flight;
    // Unit-scope tables cover the unit's own rows; central-scope tables in full.
    ASSERT_NE(Table(r, "student"), nullptr);
    EXPECT_EQ(Table(r, "student")->unit->rows, 10u);
    ASSERT_NE(Table(r, "action_type"), nullptr);
    EXPECT_EQ(Table(r, "action_type")->unit->rows, 4u);
    EXPECT_EQ(Table(r, "action_type")->central->rows, 4u);
    // The digests are the store's, the same that `unitsyncctl digest` prints.
    for (const auto& d : Digests(h_.central(), h_.unit_id(u))) {
      ASSERT_NE(Table(r, d.table), nullptr);
      EXPECT_EQ(Table(r, d.table)->central->sha256, d.sha256);
    }
  }
  EXPECT_TRUE(h_.Logged("central", "verify_done"));
  EXPECT_TRUE(h_.Logged(h_.unit_id(0), "verify_answered"));
}

TEST_F(SyncLinkVerify, AnUncapturedUpdateAtCentralIsNamedExactly) {
  WriteBehindTheEnginesBack(h_.central(),
                            "UPDATE student SET grade = 9 WHERE id = '" + StudentId(0, 4) + "'");
  ASSERT_TRUE(h_.RunUntilQuiet()) << "nothing was captured, so nothing syncs";
  protocol::VerifyReport r = VerifyBothWays(0);
  EXPECT_EQ(DifferingTables(r), std::vector<std::string>{"student"}) << r.Summary();
  EXPECT_TRUE(r.settled) << "a difference while settled is real: " << r.in_flight;
  EXPECT_EQ(Table(r, "student")->unit->rows, Table(r, "student")->central->rows);
  EXPECT_NE(Table(r, "student")->unit->sha256, Table(r, "student")->central->sha256);
  // The other unit's scope does not hold that row: it stays equal.
  EXPECT_TRUE(VerifyBothWays(1).all_equal());
}

TEST_F(SyncLinkVerify, AnUncapturedDeleteAtAUnitIsNamedExactly) {
  // A row removed with its clock entry: no tombstone, nothing to push.
  WriteBehindTheEnginesBack(h_.unit(1), "DELETE FROM student WHERE id = '" + StudentId(1, 2) +
                                            "'; DELETE FROM _us_clock WHERE pk = '" +
                                            StudentId(1, 2) + "'");
  protocol::VerifyReport r = VerifyBothWays(1);
  EXPECT_EQ(DifferingTables(r), std::vector<std::string>{"student"}) << r.Summary();
  EXPECT_TRUE(r.settled) << r.in_flight;
  EXPECT_EQ(Table(r, "student")->unit->rows, 9u);
  EXPECT_EQ(Table(r, "student")->central->rows, 10u);
  EXPECT_TRUE(VerifyBothWays(0).all_equal());
}

TEST_F(SyncLinkVerify, ADifferenceWhileSyncIsInFlightSaysSo) {
  // A local write the uplink has not been told about yet: not pushed.
  InsertStudent(h_.unit(0), h_.unit_id(0), StudentId(0, 99), 1);
  auto r = h_.Verify(0, true);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(DifferingTables(*r), std::vector<std::string>{"student"});
  EXPECT_FALSE(r->settled);
  EXPECT_EQ(r->unit_position.waiting, 1u);
  EXPECT_NE(r->in_flight.find("1 row written at the unit not yet pushed"), std::string::npos)
      << r->in_flight;
  // Once it has synced, the same verify is clean.
  h_.LocalChange(0);
  ASSERT_TRUE(h_.RunUntilQuiet());
  EXPECT_TRUE(VerifyBothWays(0).all_equal());
}

TEST_F(SyncLinkVerify, DisconnectMidVerifyEndsItWithAnError) {
  const uint64_t id = h_.StartVerify(0, false);
  ASSERT_NE(id, 0u);
  h_.Drop(0);
  auto r = h_.AwaitVerify(0, false, id, 1'000);
  ASSERT_TRUE(r.has_value()) << "the asker is not left hanging";
  ASSERT_FALSE(*r);
  EXPECT_EQ(r->error().code, Errc::kUnavailable);
  // After the reconnect, verify works again.
  ASSERT_TRUE(h_.RunUntilQuiet());
  auto again = h_.Verify(0, false);
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_TRUE(again->all_equal());
}

TEST_F(SyncLinkVerify, SeveralConcurrentVerifiesEachGetTheirOwnAnswer) {
  WriteBehindTheEnginesBack(h_.central(),
                            "UPDATE student SET grade = 8 WHERE id = '" + StudentId(1, 0) + "'");
  const uint64_t a = h_.StartVerify(0, true);
  const uint64_t b = h_.StartVerify(1, true);
  const uint64_t c = h_.StartVerify(1, false);
  const uint64_t d = h_.StartVerify(0, false);
  ASSERT_TRUE(a && b && c && d);
  auto ra = h_.AwaitVerify(0, true, a);
  auto rb = h_.AwaitVerify(1, true, b);
  auto rc = h_.AwaitVerify(1, false, c);
  auto rd = h_.AwaitVerify(0, false, d);
  ASSERT_TRUE(ra && rb && rc && rd);
  ASSERT_TRUE(*ra && *rb && *rc && *rd);
  EXPECT_TRUE((*ra)->all_equal());
  EXPECT_TRUE((*rd)->all_equal());
  EXPECT_EQ(DifferingTables(**rb), std::vector<std::string>{"student"});
  EXPECT_EQ(DifferingTables(**rc), std::vector<std::string>{"student"});
}

}  // namespace
}  // namespace unitsync::testing
