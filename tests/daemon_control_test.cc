// unitsyncctl against running daemons (real processes, real certificates, the control
// socket): what an admin sees and can do — status, units, history, conflicts, pause,
// resume, sync-now, metrics — and what happens when the daemon is down.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "admin-cli/cli_test_util.h"
#include "pki/bundle.h"
#include "pki/ca.h"
#include "store/test_util.h"
#include "tests/daemon_util.h"

namespace unitsync::testing {
namespace {

using cli::testing::CliResult;
using cli::testing::RunUnitsyncctl;
using nlohmann::json;
using store::testing::Exec;
using store::testing::Query;
using store::testing::TempDir;
using store::testing::ValueOrDie;

// GET http://127.0.0.1:port/path; the whole response (headers and body).
std::string HttpGet(uint16_t port, const std::string& path) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return {};
  }
  const std::string req = "GET " + path + " HTTP/1.1\r\nHost: x\r\n\r\n";
  (void)!::write(fd, req.data(), req.size());
  std::string out;
  char buf[4096];
  for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;) out.append(buf, static_cast<size_t>(n));
  ::close(fd);
  return out;
}

// The value of an unlabelled sample in a Prometheus text exposition; NaN when absent.
double MetricValue(const std::string& text, const std::string& name) {
  const size_t at = text.find("\n" + name + " ");
  if (at == std::string::npos) return std::nan("");
  return std::strtod(text.c_str() + at + name.size() + 2, nullptr);
}

class DaemonControl : public ::testing::Test {
 protected:
  void SetUp() override {
    ca_ = dir_.File("ca");
    ASSERT_TRUE(pki::InitCa(ca_, "test"));
    ASSERT_TRUE(pki::IssueServer(ca_, "central", {"127.0.0.1"}, dir_.File("central-bundle")));
    ValueOrDie(store::Replica::Create(dir_.File("central.db"), store::Role::kCentral, "central"));
    port_ = FreePort();
    metrics_port_ = FreePort();
    WriteFile(dir_.File("central.toml"),
              Config("central", "central", dir_.File("central.db"), dir_.File("central-bundle"),
                     "pki_dir = \"" + ca_ + "\"\n[listen]\naddress = \"127.0.0.1\"\nport = " +
                         std::to_string(port_) + "\n[control]\nsocket = \"" + Sock("central") +
                         "\"\n[metrics]\naddress = \"127.0.0.1\"\nport = " +
                         std::to_string(metrics_port_) + "\n"));
    for (const std::string u : {"unit-0001", "unit-0002"}) {
      ASSERT_TRUE(pki::EnrollUnit(ca_, u, dir_.File(u + "-bundle")));
      ValueOrDie(store::Replica::Create(dir_.File(u + ".db"), store::Role::kUnit, u));
      WriteFile(dir_.File(u + ".toml"),
                Config("unit", u, dir_.File(u + ".db"), dir_.File(u + "-bundle"),
                       "[central]\nhost = \"127.0.0.1\"\nport = " + std::to_string(port_) +
                           "\n[control]\nsocket = \"" + Sock(u) + "\"\n"));
    }
  }

  void StartAll() {
    central_ = std::make_unique<Daemon>(dir_.File("central.toml"), dir_.File("central.log"));
    for (const std::string u : {"unit-0001", "unit-0002"}) {
      units_.push_back(std::make_unique<Daemon>(dir_.File(u + ".toml"), dir_.File(u + ".log")));
    }
    ASSERT_TRUE(Eventually([&] { return Json("central", {"units"})["sessions"] == 2; }))
        << ReadFile(dir_.File("central.log"));
  }

  void TearDown() override {
    for (auto& d : units_) d->Stop();
    if (central_) central_->Stop();
    if (HasFailure()) {
      for (const char* log : {"central.log", "unit-0001.log", "unit-0002.log"}) {
        std::cerr << "--- " << log << "\n" << ReadFile(dir_.File(log)) << "\n";
      }
    }
  }

  std::string Sock(const std::string& node) const { return dir_.File(node + ".sock"); }

  CliResult Ctl(const std::string& node, std::vector<std::string> args) {
    args.insert(args.begin(), {"--socket", Sock(node)});
    return RunUnitsyncctl(args, dir_.File(""));
  }
  json Json(const std::string& node, std::vector<std::string> args) {
    args.push_back("--json");
    CliResult r = Ctl(node, args);
    if (r.code != 0) return json{{"exit", r.code}, {"stderr", r.err}};
    return json::parse(r.out, nullptr, false);
  }
  int StudentsAtCentral() {
    auto c = ValueOrDie(store::Replica::Open(dir_.File("central.db")));
    return std::stoi(Query(c, "SELECT count(*) FROM student"));
  }

  TempDir dir_;
  std::string ca_;
  uint16_t port_ = 0;
  uint16_t metrics_port_ = 0;
  std::unique_ptr<Daemon> central_;
  std::vector<std::unique_ptr<Daemon>> units_;
};

TEST_F(DaemonControl, SocketIsGroupOnlyAndStatusTellsTheLink) {
  StartAll();
  struct stat st {};
  ASSERT_EQ(::stat(Sock("unit-0001").c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0660u);

  json s = Json("unit-0001", {"status"});
  ASSERT_FALSE(s.contains("exit")) << s.dump();
  EXPECT_EQ(s["answered_by"], "daemon");
  EXPECT_EQ(s["role"], "unit");
  EXPECT_EQ(s["link"]["state"], "connected");
  EXPECT_GT(s["link"]["since_ms"].get<int64_t>(), 0);
  EXPECT_EQ(s["outgoing"]["pending_changes"], 0);

  CliResult human = Ctl("unit-0001", {"status"});
  ASSERT_EQ(human.code, 0) << human.err;
  EXPECT_NE(human.out.find("link:             connected"), std::string::npos) << human.out;

  json c = Json("central", {"status"});
  EXPECT_EQ(c["role"], "central");
  EXPECT_EQ(c["sessions"], 2);
}

TEST_F(DaemonControl, ForeignRowsAreRefusedVisiblyAndTheRestArrives) {
  StartAll();
  {
    // The app at unit-0001 writes one of its own students and one claiming unit-0002.
    auto r = ValueOrDie(store::Replica::Open(dir_.File("unit-0001.db")));
    Exec(r, "INSERT INTO student(id, unit_id, pseudo_id) VALUES ('own', 'unit-0001', 'p1')");
    Exec(r, "INSERT INTO student(id, unit_id, pseudo_id) VALUES ('forged', 'unit-0002', 'p2')");
  }
  ASSERT_TRUE(Eventually([&] {
    auto u = Json("central", {"units"});
    return u.contains("units") && u["units"][0]["rejected_rows"] == 1;
  }));
  EXPECT_EQ(StudentsAtCentral(), 1) << "the legitimate row arrived, the forged one did not";

  json units = Json("central", {"units"});
  ASSERT_EQ(units["units"].size(), 2u);
  EXPECT_EQ(units["units"][0]["unit"], "unit-0001");
  EXPECT_EQ(units["units"][0]["rejected_rows"], 1);
  EXPECT_EQ(units["units"][1]["rejected_rows"], 0);
  EXPECT_TRUE(units["units"][0]["connected"].get<bool>());
  EXPECT_GT(units["units"][0]["cert_not_after_ms"].get<int64_t>(), 0);

  CliResult table = Ctl("central", {"units", "--sort", "rejected"});
  ASSERT_EQ(table.code, 0) << table.err;
  EXPECT_EQ(table.out.find("unit-0001"), table.out.find("\nunit-0001") + 1) << table.out;
  EXPECT_LT(table.out.find("unit-0001"), table.out.find("unit-0002")) << "most refused first";

  // The pushing unit is told, with the reason.
  ASSERT_TRUE(
      Eventually([&] { return Json("unit-0001", {"status"})["rejections"]["total"] == 1; }));
  json s = Json("unit-0001", {"status"});
  const json& r = s["rejections"]["recent"][0];
  EXPECT_EQ(r["direction"], "refused_by_peer");
  EXPECT_EQ(r["table"], "student");
  EXPECT_EQ(r["id"], "forged");
  EXPECT_EQ(r["reason_name"], "foreign_unit");
  CliResult human = Ctl("unit-0001", {"status"});
  EXPECT_NE(human.out.find("foreign_unit"), std::string::npos) << human.out;
}

TEST_F(DaemonControl, PauseKeepsWritesLocalUntilResumeAndSyncNowReconnects) {
  StartAll();
  json p = Json("unit-0001", {"pause"});
  EXPECT_EQ(p["paused"], true);
  EXPECT_EQ(p["link"], "paused");
  ASSERT_TRUE(Eventually([&] { return Json("central", {"status"})["sessions"] == 1; }));
  {
    auto r = ValueOrDie(store::Replica::Open(dir_.File("unit-0001.db")));
    Exec(r, "INSERT INTO student(id, unit_id, pseudo_id) VALUES ('w', 'unit-0001', 'p')");
  }
  ASSERT_TRUE(Eventually(
      [&] { return Json("unit-0001", {"status"})["outgoing"]["pending_changes"] == 1; }));
  EXPECT_EQ(StudentsAtCentral(), 0) << "paused: nothing leaves";
  EXPECT_EQ(Json("unit-0001", {"status"})["link"]["state"], "paused");

  EXPECT_EQ(Json("unit-0001", {"resume"})["paused"], false);
  ASSERT_TRUE(Eventually([&] { return StudentsAtCentral() == 1; }));
  ASSERT_TRUE(Eventually(
      [&] { return Json("unit-0001", {"status"})["outgoing"]["pending_changes"] == 0; }));

  // Central pauses one unit: it is dropped and refused; sync-now at the unit retries.
  json cp = Json("central", {"pause", "--unit", "unit-0002"});
  EXPECT_EQ(cp["paused_units"], json::array({"unit-0002"}));
  ASSERT_TRUE(Eventually([&] {
    auto u = Json("central", {"units"});
    return u.contains("units") && u["units"][1]["connected"] == false &&
           u["units"][1]["paused"] == true;
  }));
  Json("central", {"resume", "--unit", "unit-0002"});
  EXPECT_EQ(Json("unit-0002", {"sync-now"}).contains("link"), true);
  ASSERT_TRUE(Eventually([&] { return Json("central", {"status"})["sessions"] == 2; }));
}

TEST_F(DaemonControl, HistoryAndConflictsThroughTheDaemon) {
  StartAll();
  {
    auto r = ValueOrDie(store::Replica::Open(dir_.File("unit-0001.db")));
    Exec(r, "INSERT INTO student(id, unit_id, pseudo_id) VALUES ('h1', 'unit-0001', 'p')");
    Exec(r, "UPDATE student SET grade = '8A' WHERE id = 'h1'");
  }
  ASSERT_TRUE(Eventually([&] { return StudentsAtCentral() == 1; }));
  json h = Json("central", {"history", "student", "h1"});
  ASSERT_FALSE(h.contains("exit")) << h.dump();
  EXPECT_EQ(h["unit"], "unit-0001");
  bool grade_from_unit = false;
  for (const auto& c : h["columns"]) {
    if (c["column"] == "grade") grade_from_unit = c["version"]["origin"] == "unit-0001";
  }
  EXPECT_TRUE(grade_from_unit) << h.dump();
  EXPECT_EQ(h.dump().find("8A"), std::string::npos) << "versions only, no values";

  CliResult missing = Ctl("central", {"history", "student", "nope"});
  EXPECT_EQ(missing.code, 3) << missing.err;

  json list = Json("unit-0001", {"conflicts", "list"});
  EXPECT_TRUE(list.is_array()) << list.dump();
  CliResult no_conflict = Ctl("unit-0001", {"conflicts", "show", "42"});
  EXPECT_EQ(no_conflict.code, 3) << no_conflict.err;
}

TEST_F(DaemonControl, MetricsDescribeEveryUnit) {
  StartAll();
  {
    auto r = ValueOrDie(store::Replica::Open(dir_.File("unit-0002.db")));
    Exec(r, "INSERT INTO student(id, unit_id, pseudo_id) VALUES ('m', 'unit-0001', 'p')");
  }
  ASSERT_TRUE(Eventually([&] {
    return HttpGet(metrics_port_, "/metrics")
               .find("unitsync_unit_rejected_rows{unit=\"unit-0002\"} 1") != std::string::npos;
  }));
  // Before the scrape: the replica file only grows (no VACUUM), so the scrape's size
  // (file, WAL and shm) is at least this.
  const double db_file = static_cast<double>(std::filesystem::file_size(dir_.File("central.db")));
  const std::string m = HttpGet(metrics_port_, "/metrics");
  EXPECT_EQ(m.rfind("HTTP/1.1 200 OK", 0), 0u) << m;
  EXPECT_NE(m.find("Content-Type: text/plain; version=0.0.4"), std::string::npos);
  EXPECT_NE(m.find("unitsync_sessions 2"), std::string::npos) << m;
  for (const char* family :
       {"unitsync_unit_connected{unit=\"unit-0001\"} 1", "unitsync_unit_lag_changes{unit=",
        "unitsync_unit_lag_seconds{unit=", "unitsync_unit_queue_depth{unit=",
        "unitsync_unit_conflicts_open{unit=", "unitsync_unit_last_contact_timestamp_seconds{unit=",
        "unitsync_received_bytes_total ", "unitsync_sent_bytes_total ",
        "unitsync_session_errors_total ", "unitsync_connections_refused_total{reason=\"tls\"}",
        "# TYPE unitsync_unit_lag_changes gauge",
        "unitsync_wal_checkpoints_total{result=\"copied\"} ",
        "unitsync_wal_checkpoints_total{result=\"failed\"} 0"}) {
    EXPECT_NE(m.find(family), std::string::npos) << family;
  }
  EXPECT_EQ(HttpGet(metrics_port_, "/other").rfind("HTTP/1.1 404", 0), 0u);

  // What an operator alerts on before it hurts: central's own certificate expiry and the
  // replica's disk runway.
  auto bundle = ValueOrDie(pki::LoadBundle(dir_.File("central-bundle")));
  EXPECT_EQ(MetricValue(m, "unitsync_certificate_expiry_timestamp_seconds"),
            static_cast<double>(bundle.not_after))
      << m;
  struct statvfs fs {};
  ASSERT_EQ(statvfs(dir_.File("").c_str(), &fs), 0);
  const double available = MetricValue(m, "unitsync_database_filesystem_available_bytes");
  EXPECT_GT(available, 0) << m;
  // The build and other tests write to the same disk meanwhile: within 1 GiB.
  EXPECT_NEAR(available, static_cast<double>(fs.f_bavail) * static_cast<double>(fs.f_frsize),
              1024.0 * 1024 * 1024);
  EXPECT_GE(MetricValue(m, "unitsync_database_size_bytes"), db_file) << m;
}

TEST_F(DaemonControl, VerifyFromEitherSideNamesTheTableThatDiffers) {
  StartAll();
  for (const std::string u : {"unit-0001", "unit-0002"}) {
    auto r = ValueOrDie(store::Replica::Open(dir_.File(u + ".db")));
    Exec(r, "INSERT INTO student(id, unit_id, pseudo_id) VALUES ('v-" + u + "', '" + u + "', 'p')");
  }
  ASSERT_TRUE(Eventually([&] { return StudentsAtCentral() == 2; }));
  // Settled once both sides have nothing in flight.
  ASSERT_TRUE(Eventually([&] {
    json v = Json("central", {"verify"});
    return v.value("equal", 0) == 2;
  })) << Json("central", {"verify"}).dump();
  json all = Json("central", {"verify"});
  EXPECT_EQ(all["differ"], 0);
  EXPECT_EQ(all["units"].size(), 2u);
  CliResult human = Ctl("central", {"verify"});
  EXPECT_EQ(human.code, 0) << human.err;
  EXPECT_NE(human.out.find("unit-0002  identical"), std::string::npos) << human.out;

  {
    // A change at central behind the engine's back (past the capture triggers).
    auto c = ValueOrDie(store::Replica::Open(dir_.File("central.db")));
    Exec(c,
         "BEGIN IMMEDIATE; INSERT INTO _us_applying(flag) VALUES (1); UPDATE student SET grade = "
         "'9C' WHERE id = 'v-unit-0001'; DELETE FROM _us_applying; COMMIT");
  }
  CliResult at_unit = Ctl("unit-0001", {"verify", "--json"});
  EXPECT_EQ(at_unit.code, 1) << "a difference is a failure for scripts";
  json v = json::parse(at_unit.out);
  ASSERT_EQ(v["units"].size(), 1u);
  EXPECT_EQ(v["units"][0]["differing"], json::array({"student"}));
  EXPECT_TRUE(v["units"][0]["settled"].get<bool>());
  CliResult one = Ctl("central", {"verify", "--unit", "unit-0002"});
  EXPECT_EQ(one.code, 0) << one.out << one.err;
  CliResult down = RunUnitsyncctl({"--socket", dir_.File("nothing.sock"), "verify"}, dir_.File(""));
  EXPECT_EQ(down.code, 6);
}

TEST_F(DaemonControl, DaemonDownReadsTheDatabaseOrSaysItIsNeeded) {
  // Nothing started. Read commands answer from the database named by the config.
  const std::vector<std::string> via_config = {"--config", dir_.File("unit-0001.toml")};
  std::vector<std::string> args = via_config;
  args.insert(args.end(), {"status", "--json"});
  CliResult r = RunUnitsyncctl(args, dir_.File(""));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.err.find("not running"), std::string::npos) << r.err;
  json s = json::parse(r.out);
  EXPECT_EQ(s["answered_by"], "database");
  EXPECT_EQ(s["node_id"], "unit-0001");
  EXPECT_FALSE(s.contains("link"));

  args = via_config;
  args.push_back("sync-now");
  CliResult now = RunUnitsyncctl(args, dir_.File(""));
  EXPECT_EQ(now.code, 6) << now.err;
  EXPECT_NE(now.err.find("not running"), std::string::npos) << now.err;
  EXPECT_TRUE(now.out.empty());
}

TEST_F(DaemonControl, ASecondDaemonDoesNotStealTheSocket) {
  StartAll();
  Daemon second(dir_.File("unit-0001.toml"), dir_.File("second.log"));
  // The second one exits by itself with a clear reason, before it connects anywhere.
  ASSERT_TRUE(Eventually([&] { return second.Exited(); }));
  EXPECT_EQ(second.Stop(), 1);
  EXPECT_NE(ReadFile(dir_.File("second.log")).find("another unitsyncd answers"), std::string::npos);
  EXPECT_EQ(ReadFile(dir_.File("second.log")).find("connected"), std::string::npos);
  EXPECT_EQ(Json("unit-0001", {"status"})["link"]["state"], "connected");
}

}  // namespace
}  // namespace unitsync::testing
