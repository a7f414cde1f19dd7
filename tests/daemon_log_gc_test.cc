// Log and tombstone GC with real unitsyncd processes (issue 5, "Tombstone and log GC"):
// central trims its change log and tombstones as the units acknowledge them; a unit
// offline for longer than the retention comes back to a log that no longer reaches it, is
// told to re-seed, and converges: the rows deleted or moved away meanwhile are gone, the
// work it did offline reaches central. Ends with `unitsyncctl verify` and every
// acknowledged write present.
#include "tests/recovery_fixture.h"

namespace unitsync::testing {
namespace {

int64_t Count(const std::string& db, const std::string& sql) {
  auto r = ValueOrDie(store::Replica::Open(db));
  return std::stoll(Query(r, sql));
}

int64_t Meta(const std::string& db, const std::string& key) {
  return Count(db, "SELECT coalesce((SELECT value FROM _us_meta WHERE key = '" + key + "'), 0)");
}

TEST_F(DaemonRecovery, AUnitOfflinePastTheLogRetentionIsReseededAndConverges) {
  const std::string u1 = "unit-0001";
  const std::string central_db = dir_.File("central.db");
  {
    std::ofstream f(dir_.File("central.toml"), std::ios::app);  // into its [sync] table
    f << "log_retention_s = 2\n";
  }
  StartCentral();
  StartUnits();
  for (const auto& u : units_) AddStudents(u, 0, 10);
  ASSERT_TRUE(Eventually([&] { return Converged(20); }));
  const int64_t u1_pull = [&] {
    auto r = ValueOrDie(store::Replica::Open(dir_.File(u1 + ".db")));
    return std::stoll(Query(
        r, "SELECT coalesce((SELECT received_seq FROM _us_peers WHERE peer = 'central'), 0)"));
  }();

  // unit-0001 goes offline. Central deletes two of its students and moves one to
  // unit-0002; the unit, offline, enrols a new student and edits one that stays.
  ASSERT_EQ(unit_daemons_[0]->Stop(), 0);
  {
    auto c = ValueOrDie(store::Replica::Open(central_db));
    Exec(c, "DELETE FROM student WHERE id IN ('s-unit-0001-1', 's-unit-0001-2')");
    Exec(c, "UPDATE student SET unit_id = 'unit-0002' WHERE id = 's-unit-0001-3'");
  }
  AddStudents(u1, 10, 11);
  {
    auto r = ValueOrDie(store::Replica::Open(dir_.File(u1 + ".db")));
    Exec(r, "UPDATE student SET grade = '2' WHERE id = 's-unit-0001-4'");
  }
  const int64_t log_before = Count(central_db, "SELECT count(*) FROM _us_changes");

  // Past the retention, central keeps writing for unit-0002, which acknowledges: central
  // trims past unit-0001's cursor, which no longer holds it back.
  int edits = 0;
  auto edit_at_central = [&] {
    auto c = ValueOrDie(store::Replica::Open(central_db));
    Exec(c, "UPDATE student SET grade = 'e" + std::to_string(++edits) +
                "' WHERE id = 's-unit-0002-0'");
  };
  ASSERT_TRUE(Eventually([&] {
    edit_at_central();
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    return Meta(central_db, "log_trimmed_upto") > u1_pull;
  })) << "central never trimmed past the silent unit";
  EXPECT_EQ(
      Count(central_db, "SELECT count(*) FROM _us_changes WHERE seq <= " + std::to_string(u1_pull) +
                            " AND pk NOT IN ('s-unit-0001-1', 's-unit-0001-2')"),
      0)
      << "what every unit had was trimmed; only the live tombstones' entries stay";
  EXPECT_LT(Count(central_db, "SELECT count(*) FROM _us_changes"), log_before + edits);

  // unit-0001 returns: told to re-seed, it does, and converges.
  unit_daemons_[0] = std::make_unique<Daemon>(dir_.File(u1 + ".toml"), dir_.File(u1 + ".log"));
  const int students = 20 - 2 + 1;
  ASSERT_TRUE(Eventually([&] { return Converged(students); }));
  EXPECT_NE(ReadFile(dir_.File(u1 + ".log")).find("reseed_forced"), std::string::npos);
  EXPECT_NE(ReadFile(dir_.File("central.log")).find("reseed_required"), std::string::npos);
  {
    auto r = ValueOrDie(store::Replica::Open(dir_.File(u1 + ".db")));
    EXPECT_EQ(Query(r,
                    "SELECT count(*) FROM student WHERE id IN ('s-unit-0001-1', "
                    "'s-unit-0001-2', 's-unit-0001-3')"),
              "0")
        << "deleted and moved away while it was gone";
    EXPECT_EQ(Query(r, "SELECT count(*) FROM _us_conflicts"), "0");
  }
  {
    auto c = ValueOrDie(store::Replica::Open(central_db));
    EXPECT_EQ(Query(c, "SELECT count(*) FROM student WHERE id = 's-unit-0001-10'"), "1")
        << "the student enrolled offline reached central";
    EXPECT_EQ(Query(c, "SELECT grade FROM student WHERE id = 's-unit-0001-4'"), "2");
    EXPECT_EQ(Query(c, "SELECT unit_id FROM student WHERE id = 's-unit-0001-3'"), "unit-0002");
  }
  for (const auto& u : units_) {
    const CliResult v = Ctl({"--config", dir_.File(u + ".toml"), "verify"});
    EXPECT_EQ(v.code, 0) << u << ": " << v.out << v.err;
  }

  // Every unit has the deletes now: once the retention has passed and the units have
  // said so in a HELLO, the tombstones go too.
  ASSERT_EQ(Count(central_db, "SELECT count(*) FROM _us_clock WHERE deleted = 1"), 2);
  std::this_thread::sleep_for(std::chrono::milliseconds(2'100));
  for (auto& d : unit_daemons_) EXPECT_EQ(d->Stop(), 0);
  unit_daemons_.clear();
  StartUnits();  // new HELLOs, with cursors past the deletes
  ASSERT_TRUE(Eventually([&] {
    edit_at_central();
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    return Count(central_db, "SELECT count(*) FROM _us_clock WHERE deleted = 1") == 0;
  })) << "the tombstones stayed";
  ASSERT_TRUE(Eventually([&] { return Converged(students); }));
}

}  // namespace
}  // namespace unitsync::testing
