// Recovery paths with real unitsyncd processes, real certificates and the real
// unitsyncctl (DESIGN.md "Recovery"): backups taken while syncing, central restored from
// an older backup and filled in again by the units, scheduled backups with retention.
// Each scenario ends with the units' digests equal to central's copy of them and every
// acknowledged write present.
#include <filesystem>
#include <fstream>

#include "store/backup.h"
#include "store/sync_state.h"
#include "tests/recovery_fixture.h"

namespace unitsync::testing {
namespace {

// Central's disk is restored from a backup taken before an hour of writes. Units notice
// the new generation on reconnect and resend what central lost: their own rows, and the
// rows central itself had written for them after the backup. No unit loses anything.
TEST_F(DaemonRecovery, CentralRestoredFromAnOlderBackupIsFilledInByTheUnits) {
  StartCentral();
  StartUnits();
  for (const auto& u : units_) AddStudents(u, 0, 20);
  ASSERT_TRUE(Eventually([&] { return Converged(40); }));

  // Online: central keeps running (and syncing) while the backup is taken.
  const CliResult backup = Ctl({"--config", dir_.File("central.toml"), "--json", "backup", "--out",
                                dir_.File("central-old.usbk")});
  ASSERT_EQ(backup.code, 0) << backup.err;
  EXPECT_EQ(nlohmann::json::parse(backup.out)["node"], "central");

  // "An hour" of writes after the backup: new rows at both units, updates of rows the
  // backup holds, and a row central writes into unit-0001's scope.
  for (const auto& u : units_) AddStudents(u, 20, 50);
  {
    auto r = ValueOrDie(store::Replica::Open(dir_.File("unit-0002.db")));
    Exec(r, "UPDATE student SET grade = '9' WHERE id = 's-unit-0002-3'");
    auto c = ValueOrDie(store::Replica::Open(dir_.File("central.db")));
    Exec(c, "INSERT INTO student(id, unit_id, pseudo_id) VALUES ('s-central-1', 'unit-0001', 'q')");
  }
  ASSERT_TRUE(Eventually([&] { return Converged(101); }));

  // The restore is refused while central runs, and over a replica without --force.
  const std::vector<std::string> restore = {"--config", dir_.File("central.toml"), "restore",
                                            dir_.File("central-old.usbk")};
  const CliResult live = Ctl(restore);
  EXPECT_EQ(live.code, 4) << live.err;
  EXPECT_NE(live.err.find("running"), std::string::npos) << live.err;
  EXPECT_EQ(central_->Stop(), 0);
  central_.reset();
  const CliResult no_force = Ctl(restore);
  EXPECT_EQ(no_force.code, 4) << no_force.err;
  std::vector<std::string> forced = restore;
  forced.push_back("--force");
  const CliResult restored = Ctl(forced);
  ASSERT_EQ(restored.code, 0) << restored.err;
  EXPECT_NE(restored.out.find("new generation"), std::string::npos) << restored.out;
  {
    auto c = ValueOrDie(store::Replica::Open(dir_.File("central.db")));
    ASSERT_EQ(Query(c, "SELECT count(*) FROM student"), "40") << "central went back in time";
  }

  StartCentral();
  ASSERT_TRUE(Eventually([&] { return Converged(101); })) << "the units filled central in";
  auto c = ValueOrDie(store::Replica::Open(dir_.File("central.db")));
  EXPECT_EQ(Query(c, "SELECT grade FROM student WHERE id = 's-unit-0002-3'"), "9");
  EXPECT_EQ(Query(c, "SELECT count(*) FROM student WHERE id = 's-central-1'"), "1")
      << "central's own write after the backup came back from the unit that had it";
  for (const auto& u : units_) {
    auto r = ValueOrDie(store::Replica::Open(dir_.File(u + ".db")));
    EXPECT_EQ(Query(r, "SELECT count(*) FROM student WHERE unit_id = '" + u + "'"),
              u == "unit-0001" ? "51" : "50")
        << u << " discarded nothing";
  }
  // The admin's check: verify from central over every unit.
  const CliResult verify = Ctl({"--config", dir_.File("central.toml"), "--json", "verify"});
  EXPECT_EQ(verify.code, 0) << verify.out << verify.err;
}

// A write the daemon has captured but not yet versioned when `unitsyncctl backup` runs:
// the CLI asks the running daemon to stamp it (one clock per replica) before pinning its
// snapshot, so the restored replica carries the very version the live one synced, not a
// second, different stamp of the same write.
TEST_F(DaemonRecovery, BackupCarriesTheLiveVersionsOfWritesNotYetStamped) {
  StartCentral();  // no unit connects, so nothing makes central stamp on its own
  ASSERT_TRUE(Answers(dir_.File("central.toml"))) << "so the backup must ask it to stamp";
  {
    auto c = ValueOrDie(store::Replica::Open(dir_.File("central.db")));
    Exec(c, "INSERT INTO student(id, unit_id, pseudo_id) VALUES ('s-central-1', 'unit-0001', 'q')");
    ASSERT_TRUE(ValueOrDie(store::HasUnstampedChanges(c.db()))) << "precondition";
  }
  const CliResult backup =
      Ctl({"--config", dir_.File("central.toml"), "backup", "--out", dir_.File("central.usbk")});
  ASSERT_EQ(backup.code, 0) << backup.err;
  std::vector<store::TableDigest> live;
  {
    auto c = ValueOrDie(store::Replica::Open(dir_.File("central.db")));
    EXPECT_FALSE(ValueOrDie(store::HasUnstampedChanges(c.db()))) << "the daemon stamped";
    live = Digests(c);
  }
  EXPECT_EQ(central_->Stop(), 0);
  central_.reset();
  const CliResult restored =
      Ctl({"--config", dir_.File("central.toml"), "restore", dir_.File("central.usbk"), "--force"});
  ASSERT_EQ(restored.code, 0) << restored.err;
  auto c = ValueOrDie(store::Replica::Open(dir_.File("central.db")));
  EXPECT_FALSE(ValueOrDie(store::HasUnstampedChanges(c.db())));
  EXPECT_EQ(Digests(c), live) << "same rows with the same versions";
}

// A unit's disk is lost. On the new disk `unitsyncctl reseed` creates an empty replica,
// the daemon streams the unit's whole scope from central as a snapshot (its own rows,
// rows central wrote for it, reference data, a tombstone), killed -9 halfway it resumes
// from the chunks it applied, and then it syncs as usual. Nothing of unit-0002 arrives.
TEST_F(DaemonRecovery, UnitDiskLostIsReseededFromCentralAndResumesAfterAKill) {
  const std::string u = "unit-0001";
  // Small chunks at central, so the snapshot has many and the kill lands inside it.
  std::string central_cfg = ReadFile(dir_.File("central.toml"));
  central_cfg.replace(central_cfg.find("[sync]\n"), 7,
                      "[sync]\nmax_rows_per_snapshot_chunk = 50\n");
  WriteFile(dir_.File("central.toml"), central_cfg);
  StartCentral();
  StartUnits();
  constexpr int kRows = 3000;
  AddStudents(u, 0, kRows);
  AddStudents("unit-0002", 0, 10);
  {
    auto c = ValueOrDie(store::Replica::Open(dir_.File("central.db")));
    Exec(c, "INSERT INTO student(id, unit_id, pseudo_id) VALUES ('s-central-1', '" + u + "', 'q')");
    Exec(c, "INSERT INTO unit(id, node_id, name) VALUES ('u1', '" + u + "', 'North')");
  }
  ASSERT_TRUE(Eventually([&] { return Converged(kRows + 11); }, std::chrono::seconds(120)));
  {
    auto r = ValueOrDie(store::Replica::Open(dir_.File(u + ".db")));
    Exec(r, "DELETE FROM student WHERE id = 's-" + u + "-7'");
  }
  ASSERT_TRUE(Eventually([&] { return Converged(kRows + 10); }));
  std::vector<store::TableDigest> before;
  {
    auto c = ValueOrDie(store::Replica::Open(dir_.File("central.db")));
    before = Digests(c, u);
  }

  // The disk dies: the replica and everything beside it are gone.
  for (auto& d : unit_daemons_) EXPECT_EQ(d->Stop(), 0);
  unit_daemons_.clear();
  for (const char* suffix : {"", "-wal", "-shm"})
    std::filesystem::remove(dir_.File(u + ".db") + suffix);
  const CliResult prepared = Ctl({"--config", dir_.File(u + ".toml"), "reseed"});
  ASSERT_EQ(prepared.code, 0) << prepared.err;
  EXPECT_NE(prepared.out.find("new empty replica"), std::string::npos) << prepared.out;

  auto daemon = std::make_unique<Daemon>(dir_.File(u + ".toml"), dir_.File(u + ".log"));
  auto chunks_applied = [&]() -> int64_t {
    auto r = ValueOrDie(store::Replica::Open(dir_.File(u + ".db")));
    return ValueOrDie(store::GetSeedState(r)).next_chunk;
  };
  ASSERT_TRUE(Eventually([&] { return chunks_applied() >= 5; })) << "streaming";
  ASSERT_EQ(::kill(daemon->pid(), SIGKILL), 0);
  daemon->Stop();
  const int64_t kept = chunks_applied();
  ASSERT_GT(kept, 0);
  auto status = Ctl({"--config", dir_.File(u + ".toml"), "--json", "status"});
  ASSERT_EQ(status.code, 0) << status.err;
  EXPECT_EQ(nlohmann::json::parse(status.out)["seed"]["chunks_applied"], kept) << status.out;

  unit_daemons_.push_back(std::make_unique<Daemon>(dir_.File(u + ".toml"), dir_.File(u + ".log")));
  ASSERT_TRUE(Answers(dir_.File(u + ".toml")));
  const CliResult follow = Ctl({"--config", dir_.File(u + ".toml"), "reseed"});
  if (follow.code == 0) {
    EXPECT_NE(follow.out.find("re-seed complete"), std::string::npos) << follow.out;
  } else {
    // The resumed part can be done before `reseed` starts to follow it: then no re-seed
    // is under way and `reseed` refuses a replica that holds data (exit 4).
    EXPECT_EQ(follow.code, 4) << follow.err;
    const CliResult now = Ctl({"--config", dir_.File(u + ".toml"), "--json", "status"});
    ASSERT_EQ(now.code, 0) << now.err;
    EXPECT_FALSE(nlohmann::json::parse(now.out).contains("seed")) << now.out;
  }
  EXPECT_NE(ReadFile(dir_.File(u + ".log")).find("from_chunk=" + std::to_string(kept)),
            std::string::npos)
      << "resumed after the chunks it had applied, not from the start";

  auto r = ValueOrDie(store::Replica::Open(dir_.File(u + ".db")));
  EXPECT_EQ(Digests(r, u), before) << "the unit holds exactly its scope again";
  EXPECT_EQ(Query(r, "SELECT count(*) FROM student WHERE unit_id = 'unit-0002'"), "0");
  EXPECT_EQ(Query(r, "SELECT count(*) FROM unit"), "1") << "reference data came along";
  // Then it syncs as usual, both ways.
  AddStudents(u, kRows, kRows + 5);
  {
    auto c = ValueOrDie(store::Replica::Open(dir_.File("central.db")));
    Exec(c, "UPDATE student SET grade = '3' WHERE id = 's-" + u + "-1'");
  }
  ASSERT_TRUE(Eventually([&] { return Converged(kRows + 15); }));
  const CliResult verify = Ctl({"--config", dir_.File("central.toml"), "--json", "verify"});
  EXPECT_EQ(verify.code, 0) << verify.out << verify.err;
}

// A unit's replica file is damaged on disk. The daemon's start-up check finds it, keeps
// the file aside (never deletes it), starts from an empty replica that re-seeds from
// central, and says so in its log and in status; the unit ends up with its whole scope.
TEST_F(DaemonRecovery, ACorruptUnitReplicaIsQuarantinedAndReseeded) {
  const std::string u = "unit-0001";
  StartCentral();
  StartUnits();
  AddStudents(u, 0, 400);
  ASSERT_TRUE(Eventually([&] { return Converged(400); }));
  for (auto& d : unit_daemons_) EXPECT_EQ(d->Stop(), 0);
  unit_daemons_.clear();
  const std::string db = dir_.File(u + ".db");
  {
    auto r = ValueOrDie(store::Replica::Open(db));
    Exec(r, "PRAGMA wal_checkpoint(TRUNCATE)");
  }
  {  // scribble over b-tree pages, not the header
    std::fstream f(db, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(0, std::ios::end);
    const auto size = static_cast<long>(f.tellg());
    ASSERT_GT(size, 8 * 4096);
    for (long off = 2 * 4096; off < size - 4096; off += 4096) {
      f.seekp(off + 100);
      f.write("\xff\xfe\xfd\xfc\xfb\xfa\xf9\xf8", 8);
    }
  }
  ASSERT_FALSE(store::QuickCheck(db)) << "precondition: the damage is detectable";

  StartUnits();
  ASSERT_TRUE(Answers(dir_.File(u + ".toml")));
  const std::string log = ReadFile(dir_.File(u + ".log"));
  EXPECT_NE(log.find("event=replica_quarantined"), std::string::npos) << log;
  const CliResult status = Ctl({"--config", dir_.File(u + ".toml"), "--json", "status"});
  ASSERT_EQ(status.code, 0) << status.err;
  const auto doc = nlohmann::json::parse(status.out);
  ASSERT_TRUE(doc.contains("quarantined_as")) << status.out;
  const std::string kept = doc["quarantined_as"];
  EXPECT_TRUE(std::filesystem::exists(kept)) << "the damaged file is kept";
  const CliResult human = Ctl({"--config", dir_.File(u + ".toml"), "status"});
  EXPECT_NE(human.out.find("QUARANTINED"), std::string::npos) << human.out;

  ASSERT_TRUE(Eventually([&] { return Converged(400); })) << "re-seeded from central";
  auto r = ValueOrDie(store::Replica::Open(db));
  EXPECT_EQ(Query(r, "SELECT count(*) FROM student"), "400");
  EXPECT_TRUE(store::QuickCheck(db));
}

// The network is down for a long while: 10,000 changes pile up at the unit and 10,000
// for it at central. The change log is the queue: status (from the database, the daemon
// being down) says how much waits and since when; on reconnect both backlogs drain, and
// a write made while they drain gets through too.
TEST_F(DaemonRecovery, BacklogsOnBothSidesDrainAfterALongOutage) {
  constexpr int kBacklog = 10'000;
  const std::string u = "unit-0001";
  StartCentral();
  AddStudents(u, 0, kBacklog);
  {
    auto c = ValueOrDie(store::Replica::Open(dir_.File("central.db")));
    Exec(c, "BEGIN");
    for (int n = 0; n < kBacklog; ++n) {
      Exec(c, "INSERT INTO student(id, unit_id, pseudo_id) VALUES ('s-central-" +
                  std::to_string(n) + "', '" + u + "', 'q')");
    }
    Exec(c, "COMMIT");
  }
  const CliResult offline = Ctl({"--config", dir_.File(u + ".toml"), "--json", "status"});
  ASSERT_EQ(offline.code, 0) << offline.err;
  const auto doc = nlohmann::json::parse(offline.out);
  EXPECT_EQ(doc["outgoing"]["pending_changes"], kBacklog) << offline.out;
  EXPECT_GT(doc["outgoing"]["oldest_pending_ms"].get<int64_t>(), 0) << offline.out;

  unit_daemons_.push_back(std::make_unique<Daemon>(dir_.File(u + ".toml"), dir_.File(u + ".log")));
  AddStudents(u, kBacklog, kBacklog + 1);  // while the backlog drains
  ASSERT_TRUE(Eventually(
      [&] {
        auto c = ValueOrDie(store::Replica::Open(dir_.File("central.db")));
        auto r = ValueOrDie(store::Replica::Open(dir_.File(u + ".db")));
        return Query(c, "SELECT count(*) FROM student") == std::to_string(2 * kBacklog + 1) &&
               Digests(r, u) == Digests(c, u);
      },
      std::chrono::seconds(180)));
  const CliResult online = Ctl({"--config", dir_.File(u + ".toml"), "--json", "status"});
  ASSERT_EQ(online.code, 0) << online.err;
  EXPECT_EQ(nlohmann::json::parse(online.out)["outgoing"]["pending_changes"], 0) << online.out;
}

// Scheduled backups: one at start when the newest is older than the interval; only `keep`
// of this node's remain (other files untouched), the state shows in status, and
// the newest restores to a replica with the unit's rows.
TEST_F(DaemonRecovery, ScheduledBackupsAreTakenAndPruned) {
  const std::string backups = dir_.File("backups");
  std::filesystem::create_directory(backups);
  const std::string u = "unit-0001";
  WriteFile(dir_.File(u + ".toml"), ReadFile(dir_.File(u + ".toml")) + "[backup]\ndir = \"" +
                                        backups + "\"\ninterval_s = 60\nkeep = 2\n");
  // Two older backups of this node and a file of someone else's: pruning keeps the
  // newest two of this node's and never touches what is not its own.
  AddStudents(u, 0, 5);
  for (const char* stamp : {"20200101T000000Z", "20200102T000000Z"}) {
    const CliResult b = Ctl({"--config", dir_.File(u + ".toml"), "backup", "--out",
                             backups + "/" + u + "-" + stamp + ".usbk"});
    ASSERT_EQ(b.code, 0) << b.err;
    std::filesystem::last_write_time(
        backups + "/" + u + "-" + stamp + ".usbk",
        std::filesystem::file_time_type::clock::now() - std::chrono::hours(48));
  }
  WriteFile(backups + "/notes.txt", "not a backup");

  StartCentral();
  unit_daemons_.push_back(std::make_unique<Daemon>(dir_.File(u + ".toml"), dir_.File(u + ".log")));
  auto names = [&] {
    std::vector<std::string> out;
    for (const auto& e : std::filesystem::directory_iterator(backups)) {
      out.push_back(e.path().filename().string());
    }
    std::sort(out.begin(), out.end());
    return out;
  };
  ASSERT_TRUE(Eventually([&] {
    const auto n = names();
    return n.size() == 3 && n[0] == "notes.txt" && n[1] == u + "-20200102T000000Z.usbk";
  })) << "a backup at start (the newest was 2 days old), the oldest pruned";
  const std::string newest = backups + "/" + names()[2];

  const CliResult status = Ctl({"--config", dir_.File(u + ".toml"), "--json", "status"});
  ASSERT_EQ(status.code, 0) << status.err;
  const auto doc = nlohmann::json::parse(status.out);
  EXPECT_EQ(doc["daemon"]["backup"]["last_file"], newest) << status.out;
  EXPECT_EQ(doc["daemon"]["backup"]["failures"], 0);

  const CliResult restored = Ctl(
      {"--db", dir_.File("restored.db"), "restore", newest, "--bundle", dir_.File(u + "-bundle")});
  ASSERT_EQ(restored.code, 0) << restored.err;
  auto r = ValueOrDie(store::Replica::Open(dir_.File("restored.db")));
  EXPECT_EQ(Query(r, "SELECT count(*) FROM student"), "5");
}

}  // namespace
}  // namespace unitsync::testing
