// Erasure with real unitsyncd processes and the real unitsyncctl (issue 5, "Erasure"):
// `unitsyncctl purge` at central while a unit is offline, and at a unit while it runs;
// the offline unit erases the row when it comes back; its stale backup, restored, cannot
// bring the row back. Ends with every unit's digest equal to central's copy and every
// acknowledged write but the purged ones present.
#include <filesystem>

#include "tests/recovery_fixture.h"

namespace unitsync::testing {
namespace {

// What is left of a student on a replica: "rows/marker/log/conflicts" (marker: the
// _us_clock deleted value, 2 for a purge; log: change-log entries other than 'P').
std::string Traces(const std::string& db, const std::string& id) {
  auto r = ValueOrDie(store::Replica::Open(db));
  const std::string key = "tbl = 'student' AND pk = '" + id + "'";
  return Query(r, "SELECT count(*) FROM student WHERE id = '" + id + "'") + "/" +
         Query(r, "SELECT coalesce((SELECT deleted FROM _us_clock WHERE " + key + "), '-')") + "/" +
         Query(r, "SELECT count(*) FROM _us_changes WHERE " + key + " AND op <> 'P'") + "/" +
         Query(r, "SELECT count(*) FROM _us_conflicts WHERE " + key);
}

TEST_F(DaemonRecovery, APurgeReachesAnOfflineUnitAndItsStaleBackupCannotBringTheRowBack) {
  const std::string u1 = "unit-0001";
  const std::string gone_at_central = "s-unit-0001-3";  // purged at central, u1 offline
  const std::string gone_at_unit = "s-unit-0002-4";     // purged by unit-0002 itself
  StartCentral();
  StartUnits();
  for (const auto& u : units_) AddStudents(u, 0, 10);
  ASSERT_TRUE(Eventually([&] { return Converged(20); }));
  // An update at central: the row has history at both ends, and a value that must leave
  // no bytes behind in any replica file.
  const std::string probe = "erasure-probe-7f3a9c";
  {
    auto c = ValueOrDie(store::Replica::Open(dir_.File("central.db")));
    Exec(c, "UPDATE student SET grade = '" + probe + "' WHERE id = '" + gone_at_central + "'");
  }
  ASSERT_TRUE(Eventually([&] {
    auto r = ValueOrDie(store::Replica::Open(dir_.File(u1 + ".db")));
    return Query(r, "SELECT grade FROM student WHERE id = '" + gone_at_central + "'") == probe;
  }));

  // The unit's backup, taken online; then the unit goes offline.
  const CliResult backup =
      Ctl({"--config", dir_.File(u1 + ".toml"), "backup", "--out", dir_.File("u1-old.usbk")});
  ASSERT_EQ(backup.code, 0) << backup.err;
  ASSERT_EQ(unit_daemons_[0]->Stop(), 0);

  // The erasure requests: without --yes nothing happens.
  const std::vector<std::string> purge = {"--config", dir_.File("central.toml"), "purge", "student",
                                          gone_at_central};
  const CliResult unconfirmed = Ctl(purge);
  EXPECT_NE(unconfirmed.code, 0);
  EXPECT_NE(unconfirmed.err.find("--yes"), std::string::npos) << unconfirmed.err;
  std::vector<std::string> confirmed = purge;
  confirmed.push_back("--yes");
  const CliResult purged = Ctl(confirmed);
  ASSERT_EQ(purged.code, 0) << purged.err;
  EXPECT_NE(purged.out.find("purged row " + gone_at_central), std::string::npos) << purged.out;
  const CliResult again = Ctl(confirmed);
  ASSERT_EQ(again.code, 0) << again.err;
  EXPECT_NE(again.out.find("purged before"), std::string::npos) << again.out;
  const CliResult at_unit = Ctl({"--config", dir_.File("unit-0002.toml"), "--json", "purge",
                                 "student", gone_at_unit, "--yes"});
  ASSERT_EQ(at_unit.code, 0) << at_unit.err;
  EXPECT_EQ(nlohmann::json::parse(at_unit.out)["unit"], "unit-0002");

  EXPECT_EQ(Traces(dir_.File("central.db"), gone_at_central), "0/2/0/0");
  ASSERT_TRUE(Eventually([&] {
    return Traces(dir_.File("central.db"), gone_at_unit) == "0/2/0/0";
  })) << "unit-0002's purge reached central";
  EXPECT_EQ(Traces(dir_.File(u1 + ".db"), gone_at_central), "1/0/0/0") << "offline: untouched";

  // The unit comes back and erases the row with its history.
  unit_daemons_[0] = std::make_unique<Daemon>(dir_.File(u1 + ".toml"), dir_.File(u1 + ".log"));
  ASSERT_TRUE(Eventually([&] { return Converged(18); }));
  EXPECT_EQ(Traces(dir_.File(u1 + ".db"), gone_at_central), "0/2/0/0");
  EXPECT_EQ(Traces(dir_.File("unit-0002.db"), gone_at_unit), "0/2/0/0");

  // Its stale backup restored: the row is back on disk until the re-seed brings the marker.
  ASSERT_EQ(unit_daemons_[0]->Stop(), 0);
  const CliResult restored =
      Ctl({"--config", dir_.File(u1 + ".toml"), "restore", dir_.File("u1-old.usbk"), "--force"});
  ASSERT_EQ(restored.code, 0) << restored.err;
  ASSERT_EQ(Traces(dir_.File(u1 + ".db"), gone_at_central).substr(0, 4), "1/0/")
      << "the backup predates the purge";
  unit_daemons_[0] = std::make_unique<Daemon>(dir_.File(u1 + ".toml"), dir_.File(u1 + ".log"));
  ASSERT_TRUE(Eventually([&] {
    return Converged(18) && Traces(dir_.File(u1 + ".db"), gone_at_central) == "0/2/0/0";
  }));
  for (const std::string db : {"central", "unit-0001", "unit-0002"}) {
    auto r = ValueOrDie(store::Replica::Open(dir_.File(db + ".db")));
    EXPECT_EQ(Query(r, "SELECT count(*) FROM student WHERE id IN ('" + gone_at_central + "', '" +
                           gone_at_unit + "')"),
              "0")
        << db;
  }
  // Every other acknowledged write is there, and the admin's check agrees.
  {
    auto r = ValueOrDie(store::Replica::Open(dir_.File(u1 + ".db")));
    EXPECT_EQ(Query(r, "SELECT count(*) FROM student"), "9");
  }
  const CliResult verify = Ctl({"--config", dir_.File("central.toml"), "--json", "verify"});
  EXPECT_EQ(verify.code, 0) << verify.out << verify.err;
  // The history view says what is left: a marker.
  const CliResult history =
      Ctl({"--config", dir_.File("central.toml"), "--json", "history", "student", gone_at_central});
  ASSERT_EQ(history.code, 0) << history.err;
  const auto doc = nlohmann::json::parse(history.out);
  EXPECT_TRUE(doc["purged"].get<bool>());
  EXPECT_TRUE(doc["conflicts"].empty());

  // Stopped, the daemons checkpoint their write-ahead logs: the value is in no file at
  // all — no replica, no free page (secure_delete), no file set aside by the restore, no
  // daemon log. (The sealed backup holds it encrypted until it ages out: the runbook.)
  StopAll();
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir_.File(""))) {
    if (!entry.is_regular_file()) continue;
    ++files;
    EXPECT_EQ(ReadFile(entry.path().string()).find(probe), std::string::npos)
        << entry.path().filename();
  }
  EXPECT_GE(files, 6) << "three replicas and three logs at least";
}

}  // namespace
}  // namespace unitsync::testing
