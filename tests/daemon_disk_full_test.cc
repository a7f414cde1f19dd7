// A full disk during sync, with real unitsyncd processes, real certificates and the real
// unitsyncctl (DESIGN.md "Recovery": the daemon reports it, keeps what it has, never syncs
// garbage, and resumes by itself once the cause is gone). The replica of the node under
// test lives on a small tmpfs (tests/small_fs.h); a filler file takes the rest of it while
// staff keep writing and the node syncs. The daemon must stay up (same process), show the
// condition in status, the log and the metrics, and once the filler is deleted sync on by
// itself until `unitsyncctl verify` finds the digests equal and every write that was
// acknowledged to its writer is at the unit and at central.
#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "admin-cli/cli_test_util.h"
#include "pki/ca.h"
#include "store/test_util.h"
#include "tests/daemon_util.h"
#include "tests/small_fs.h"

namespace unitsync::testing {
namespace {

using cli::testing::CliResult;
using cli::testing::RunUnitsyncctl;
using store::testing::Digests;
using store::testing::Query;
using store::testing::TempDir;
using store::testing::ValueOrDie;
using Json = nlohmann::json;

// The replica filesystem: room for the replica, its WAL and some writes.
constexpr size_t kFsBytes = 6 * 1024 * 1024;

// EIO is injected with LD_PRELOAD (tests/eio_preload.c), which the sanitizer runtimes
// refuse to follow; daemon/storage_health_test.cc injects it in-process there.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool kCanInjectEio = false;
#else
constexpr bool kCanInjectEio = true;
#endif

std::string Metrics(uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string out;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    const std::string req = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
    (void)!::write(fd, req.data(), req.size());
    char buf[4096];
    for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;) out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

// Central and one unit; `full` names the node whose replica is on the small filesystem.
class DaemonDiskFull : public ::testing::TestWithParam<std::string> {
 protected:
  const std::string unit_ = "unit-0001";

  void SetUp() override {
    const std::string why = fs_.Mount(dir_.File("small"), kFsBytes);
    if (!why.empty()) GTEST_SKIP() << "no small filesystem to fill: " << why;
    RecordProperty("small_fs", fs_.how());
    ca_ = dir_.File("ca");
    ASSERT_TRUE(pki::InitCa(ca_, "test"));
    ASSERT_TRUE(pki::IssueServer(ca_, "central", {"127.0.0.1"}, dir_.File("central-bundle")));
    ASSERT_TRUE(pki::EnrollUnit(ca_, unit_, dir_.File(unit_ + "-bundle")));
    ValueOrDie(store::Replica::Create(Db("central"), store::Role::kCentral, "central"));
    ValueOrDie(store::Replica::Create(Db(unit_), store::Role::kUnit, unit_));
    port_ = FreePort();
    metrics_port_ = FreePort();
    const std::string metrics =
        "[metrics]\naddress = \"127.0.0.1\"\nport = " + std::to_string(metrics_port_) + "\n";
    const std::string full_metrics = GetParam() == "central" ? metrics : "";
    WriteFile(dir_.File("central.toml"),
              Config("central", "central", Db("central"), dir_.File("central-bundle"),
                     "pki_dir = \"" + ca_ + "\"\n[listen]\naddress = \"127.0.0.1\"\nport = " +
                         std::to_string(port_) + "\n[control]\nsocket = \"" +
                         dir_.File("central.sock") + "\"\n" + full_metrics));
    WriteFile(dir_.File(unit_ + ".toml"),
              Config("unit", unit_, Db(unit_), dir_.File(unit_ + "-bundle"),
                     "[central]\nhost = \"127.0.0.1\"\nport = " + std::to_string(port_) +
                         "\n[control]\nsocket = \"" + dir_.File(unit_ + ".sock") + "\"\n" +
                         (GetParam() == "central" ? "" : metrics)));
    central_ = std::make_unique<Daemon>(dir_.File("central.toml"), dir_.File("central.log"),
                                        GetParam() == "central" ? FaultEnv() : DaemonEnv{});
    unit_daemon_ = std::make_unique<Daemon>(dir_.File(unit_ + ".toml"), dir_.File(unit_ + ".log"),
                                            GetParam() == unit_ ? FaultEnv() : DaemonEnv{});
    writer_.emplace(ValueOrDie(store::Replica::Open(Db(unit_))));
  }

  void TearDown() override {
    if (HasFailure()) {
      for (const std::string& log : {std::string("central"), unit_}) {
        std::cerr << "--- " << log << ".log\n" << ReadFile(dir_.File(log + ".log")) << "\n";
      }
    }
    writer_.reset();
    if (unit_daemon_) {
      EXPECT_EQ(unit_daemon_->Stop(), 0);
    }
    if (central_) {
      EXPECT_EQ(central_->Stop(), 0);
    }
    fs_.Unmount();
  }

  // The node under test's replica is on the small filesystem, the other's is not.
  std::string Db(const std::string& node) {
    return node == GetParam() ? dir_.File("small/" + node + ".db") : dir_.File(node + ".db");
  }
  std::string FullConfig() { return dir_.File(GetParam() + ".toml"); }
  Daemon& FullDaemon() { return GetParam() == "central" ? *central_ : *unit_daemon_; }

  CliResult Ctl(const std::vector<std::string>& args) {
    return RunUnitsyncctl(args, dir_.File(""));
  }
  // The storage condition the daemon of `config` reports ("" when it does not answer).
  std::string Condition(const std::string& config) {
    const CliResult s = Ctl({"--config", config, "--json", "status"});
    if (s.code != 0) return "";
    const Json doc = Json::parse(s.out, nullptr, false);
    if (!doc.is_object() || !doc.contains("daemon")) return "";
    return doc["daemon"].value("storage", Json::object()).value("condition", "");
  }

  // Staff record a student at the unit (a program of their own, one transaction). True
  // when it committed: the write was acknowledged to its writer and must never be lost.
  bool Record() {
    const std::string id = "s-" + std::to_string(next_++);
    auto st = writer_->db().Exec("INSERT INTO student(id, unit_id, pseudo_id, grade) VALUES ('" +
                                 id + "', '" + unit_ + "', 'p', '1')");
    if (st) acknowledged_.push_back(id);
    return st.has_value();
  }

  // The unit's digests equal central's copy, and both hold every acknowledged write.
  bool Converged() {
    auto c = ValueOrDie(store::Replica::Open(Db("central")));
    auto u = ValueOrDie(store::Replica::Open(Db(unit_)));
    const std::string n = std::to_string(acknowledged_.size());
    return Query(c, "SELECT count(*) FROM student") == n &&
           Query(u, "SELECT count(*) FROM student") == n && Digests(u, unit_) == Digests(c, unit_);
  }

  // Starts the node under test's daemon again (the other keeps running).
  void RestartFullDaemon() {
    EXPECT_EQ(FullDaemon().Stop(), 0);
    auto& slot = GetParam() == "central" ? central_ : unit_daemon_;
    slot = std::make_unique<Daemon>(FullConfig(), dir_.File(GetParam() + ".log"), FaultEnv());
  }

  // The node under test's daemon: its replica's writes fail with EIO while eio_on_ exists.
  DaemonEnv FaultEnv() {
    DaemonEnv env = {{"UNITSYNC_EIO_TRIGGER", eio_on_}, {"UNITSYNC_EIO_PREFIX", Db(GetParam())}};
    if (kCanInjectEio) env.push_back({"LD_PRELOAD", UNITSYNC_EIO_PRELOAD});
    return env;
  }

  // The disk fills while staff keep writing and the unit keeps syncing. Each write either
  // commits (acknowledged) or is refused whole; another program keeps taking what space
  // is left (a little is given back after each refused write, so that staff's writes go
  // on landing) until the daemon has a write of its own refused: stamping or spooling a
  // push at the unit, applying one (or recording the unit's session) at central. Then
  // the rest is taken, so that the daemon's retries keep failing, and it says so.
  void FillUntilTheDaemonMeetsIt() {
    int refused = 0;
    ASSERT_TRUE(Eventually([&] {
      if (!Record()) {
        ++refused;
        FreeSome(filler_, 32 * 1024);
      }
      return ReadFile(LogPath()).find("storage_fault kind=disk_full") != std::string::npos;
    })) << "the daemon meets the full disk ("
        << refused << " of the writer's writes refused)";
    FillDisk(filler_ + "-2");  // what the writer was given back and did not use
    if (GetParam() == unit_) {
      EXPECT_FALSE(Record()) << "the disk is full";
    }
    ASSERT_TRUE(Eventually([&] { return Condition(FullConfig()) == "disk_full"; }));
  }

  // Space comes back: no restart, no admin command. The daemon clears the condition at
  // its next write and syncs everything that was acknowledged; the admin's verify agrees.
  void FreeAndConverge() {
    std::filesystem::remove(filler_);
    std::filesystem::remove(filler_ + "-2");
    ConvergesAfter("disk_full");
  }
  // The cause of `kind` is gone: as FreeAndConverge.
  void ConvergesAfter(const std::string& kind) {
    ASSERT_TRUE(Eventually([&] { return Converged(); }))
        << acknowledged_.size() << " acknowledged writes reach central";
    ASSERT_TRUE(Eventually([&] { return Condition(FullConfig()) == "ok"; }));
    EXPECT_NE(ReadFile(LogPath()).find("storage_recovered kind=" + kind), std::string::npos);
    ASSERT_TRUE(Record()) << "writing goes on as before";
    ASSERT_TRUE(Eventually([&] { return Converged(); }));
    const CliResult verify = Ctl({"--config", dir_.File(unit_ + ".toml"), "--json", "verify"});
    EXPECT_EQ(verify.code, 0) << verify.out << verify.err;
    auto c = ValueOrDie(store::Replica::Open(Db("central")));
    auto u = ValueOrDie(store::Replica::Open(Db(unit_)));
    for (const std::string& id : acknowledged_) {
      const std::string q = "SELECT count(*) FROM student WHERE id = '" + id + "'";
      EXPECT_EQ(Query(u, q), "1") << id << " acknowledged to its writer, kept at the unit";
      EXPECT_EQ(Query(c, q), "1") << id << " acknowledged to its writer, synced to central";
    }
  }
  std::string LogPath() { return dir_.File(GetParam() + ".log"); }

  TempDir dir_;
  SmallFs fs_;  // after dir_: unmounted before the directory is removed
  std::string ca_;
  uint16_t port_ = 0;
  uint16_t metrics_port_ = 0;
  std::unique_ptr<Daemon> central_;
  std::unique_ptr<Daemon> unit_daemon_;
  std::optional<store::Replica> writer_;
  int next_ = 0;
  std::vector<std::string> acknowledged_;
  std::string filler_ = dir_.File("small/filler");
  std::string eio_on_ = dir_.File("eio-on");
};

TEST_P(DaemonDiskFull, DaemonStaysUpReportsAndResumesByItselfOnceSpaceIsFreed) {
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(Record());
  ASSERT_TRUE(Eventually([&] { return Converged(); })) << "synced before the disk fills";
  const pid_t pid = FullDaemon().pid();

  ASSERT_GT(FillDisk(filler_), 0u);
  FillUntilTheDaemonMeetsIt();
  EXPECT_FALSE(FullDaemon().Exited()) << "the daemon stays up";
  EXPECT_EQ(FullDaemon().pid(), pid);
  const CliResult text = Ctl({"--config", FullConfig(), "status"});
  EXPECT_EQ(text.code, 0) << text.err;
  EXPECT_NE(text.out.find("DISK FULL"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find(Db(GetParam())), std::string::npos) << "names the replica: " << text.out;
  EXPECT_NE(text.out.find("free space"), std::string::npos) << "with a hint: " << text.out;
  const std::string m = Metrics(metrics_port_);
  EXPECT_NE(m.find("unitsync_storage_condition{kind=\"disk_full\"} 1"), std::string::npos) << m;
  EXPECT_EQ(m.find("unitsync_storage_errors_total{kind=\"disk_full\"} 0\n"), std::string::npos)
      << m;
  EXPECT_EQ(ReadFile(LogPath()).find("pseudo"), std::string::npos) << "no row values logged";

  FreeAndConverge();
  EXPECT_EQ(FullDaemon().pid(), pid) << "never restarted";
  EXPECT_FALSE(FullDaemon().Exited());
}

// systemd restarts the daemon (or the server reboots) while the disk is full: it starts,
// answers, reports the condition at its first write and resumes like the one that stayed.
TEST_P(DaemonDiskFull, DaemonStartedOnAFullDiskComesUpAndResumes) {
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(Record());
  ASSERT_TRUE(Eventually([&] { return Converged(); }));
  ASSERT_GT(FillDisk(filler_), 0u);
  RestartFullDaemon();
  FillUntilTheDaemonMeetsIt();
  EXPECT_FALSE(FullDaemon().Exited()) << "started on a full disk and stays up";
  FreeAndConverge();
  EXPECT_FALSE(FullDaemon().Exited());
}

// EIO is injected with LD_PRELOAD, which the sanitizers' runtimes refuse: skipped there
// before any daemon starts.
class DaemonIoError : public DaemonDiskFull {
 protected:
  void SetUp() override {
    if (!kCanInjectEio) GTEST_SKIP() << "EIO is injected with LD_PRELOAD; not under a sanitizer";
    DaemonDiskFull::SetUp();
  }
};

// The disk returns EIO for the replica's writes (a failing disk), then works again: the
// same as a full disk, reported as its own kind.
TEST_P(DaemonIoError, IoErrorsAreReportedAsTheirOwnKindAndResumedFrom) {
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(Record());
  ASSERT_TRUE(Eventually([&] { return Converged(); }));
  const pid_t pid = FullDaemon().pid();

  WriteFile(eio_on_, "");
  ASSERT_TRUE(Eventually([&] {
    EXPECT_TRUE(Record()) << "the staff's writes are not the ones failing here";
    return Condition(FullConfig()) == "io";
  }));
  EXPECT_FALSE(FullDaemon().Exited());
  const CliResult text = Ctl({"--config", FullConfig(), "status"});
  EXPECT_NE(text.out.find("I/O ERRORS"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("kernel log"), std::string::npos) << "with a hint: " << text.out;
  const std::string m = Metrics(metrics_port_);
  EXPECT_NE(m.find("unitsync_storage_condition{kind=\"io\"} 1"), std::string::npos) << m;
  EXPECT_NE(m.find("unitsync_storage_condition{kind=\"disk_full\"} 0"), std::string::npos) << m;
  EXPECT_NE(ReadFile(LogPath()).find("storage_fault kind=io"), std::string::npos);

  std::filesystem::remove(eio_on_);
  ConvergesAfter("io");
  EXPECT_EQ(FullDaemon().pid(), pid) << "never restarted";
}

// Test names say where the small filesystem (or the failing disk) is.
std::string NodeName(const ::testing::TestParamInfo<std::string>& p) {
  return p.param == "central" ? std::string("Central") : std::string("Unit");
}
INSTANTIATE_TEST_SUITE_P(AtUnitAndAtCentral, DaemonDiskFull,
                         ::testing::Values(std::string("unit-0001"), std::string("central")),
                         NodeName);
INSTANTIATE_TEST_SUITE_P(AtUnitAndAtCentral, DaemonIoError,
                         ::testing::Values(std::string("unit-0001"), std::string("central")),
                         NodeName);

}  // namespace
}  // namespace unitsync::testing
