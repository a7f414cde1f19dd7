// Runs the real unitsyncctl binary as a subprocess and checks what a user or
// a script would see: stdout, stderr and the exit code. The store API is
// used only to set up what the CLI cannot (syncing two replicas, a
// concurrent write) and to check the files the CLI wrote.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "admin-cli/cli_test_util.h"
#include "admin-cli/exit_codes.h"
#include "common/clock.h"
#include "common/uuid.h"
#include "store/test_util.h"

namespace unitsync::cli {
namespace {

using nlohmann::json;
using store::testing::Apply;
using store::testing::Changes;
using store::testing::Exec;
using store::testing::Query;
using store::testing::TempDir;
using store::testing::ValueOrDie;

using testing::CliResult;

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

class UnitsyncctlTest : public ::testing::Test {
 protected:
  // Runs unitsyncctl with `args` in the test's temp dir.
  CliResult Run(const std::vector<std::string>& args) {
    return testing::RunUnitsyncctl(args, dir_.File(""), dir_.File(""));
  }

  // Runs and expects exit 0; returns stdout.
  std::string Ok(const std::vector<std::string>& args) {
    CliResult r = Run(args);
    EXPECT_EQ(r.code, kExitOk) << "stderr: " << r.err;
    EXPECT_EQ(r.err, "");
    return r.out;
  }

  json OkJson(std::vector<std::string> args) {
    args.push_back("--json");
    return json::parse(Ok(args));
  }

  std::string Db(const std::string& name) { return dir_.File(name + ".db"); }

  void InitUnitAndCentral() {
    Ok({"--db", Db("unit"), "init", "--role", "unit", "--node-id", "unit-0001"});
    Ok({"--db", Db("central"), "init", "--role", "central", "--node-id", "central"});
  }

  std::string AddAction(const std::string& db, std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"--db",    db,       "action",      "add",     "--student",
                                     "ps-7f3a", "--type", "EA-LASHJALP", "--start", "2026-01-12"};
    args.insert(args.end(), extra.begin(), extra.end());
    return Trim(Ok(args));
  }

  // Both directions, full state, through the store API.
  void Sync() {
    auto unit = ValueOrDie(store::Replica::Open(Db("unit")), "open unit");
    auto central = ValueOrDie(store::Replica::Open(Db("central")), "open central");
    Apply(central, Changes(unit));
    Apply(unit, Changes(central, 0, "unit-0001"));
  }

  TempDir dir_;
};

// The suite is named after the command so that `ctest -R unitsyncctl` (ctest
// matches case-sensitively) selects these tests.
using unitsyncctl = UnitsyncctlTest;

TEST_F(unitsyncctl, InitCreatesAReplicaAndRefusesASecondInit) {
  const std::string out =
      Ok({"--db", Db("unit"), "init", "--role", "unit", "--node-id", "unit-0001"});
  EXPECT_NE(out.find("unit-0001"), std::string::npos);
  {
    auto replica = ValueOrDie(store::Replica::Open(Db("unit")), "open");
    EXPECT_EQ(replica.role(), store::Role::kUnit);
    EXPECT_EQ(replica.node_id(), "unit-0001");
  }
  CliResult again = Run({"--db", Db("unit"), "init", "--role", "central", "--node-id", "central"});
  EXPECT_EQ(again.code, kExitRejected);
  EXPECT_NE(again.err.find("already exists"), std::string::npos) << again.err;
  EXPECT_EQ(again.out, "");
  // Still the unit's replica.
  EXPECT_EQ(ValueOrDie(store::Replica::Open(Db("unit")), "open").node_id(), "unit-0001");

  EXPECT_EQ(Run({"--db", Db("x"), "init", "--role", "hub", "--node-id", "x"}).code, kExitUsage);
  EXPECT_EQ(Run({"--db", Db("x"), "init", "--role", "unit", "--node-id", "Bad Id"}).code,
            kExitUsage);
  EXPECT_FALSE(std::filesystem::exists(Db("x")));
}

TEST_F(unitsyncctl, ActionAddAtAUnitPrintsAnIdThatListShows) {
  Ok({"--db", Db("unit"), "init", "--role", "unit", "--node-id", "unit-0001"});
  const std::string id = AddAction(Db("unit"), {"--status", "pagaende"});
  EXPECT_TRUE(IsUuidV7(id)) << id;

  json list = OkJson({"--db", Db("unit"), "action", "list"});
  ASSERT_EQ(list.size(), 1u) << list.dump();
  EXPECT_EQ(list[0]["id"], id);
  EXPECT_EQ(list[0]["type"], "EA-LASHJALP");
  EXPECT_EQ(list[0]["status"], "pagaende");
  EXPECT_EQ(list[0]["student"], "ps-7f3a");
  EXPECT_EQ(list[0]["unit_id"], "unit-0001");
  EXPECT_EQ(list[0]["start_on"], "2026-01-12");

  // A second action for the same student reuses the student and open case.
  const std::string second = AddAction(Db("unit"));
  json shown = OkJson({"--db", Db("unit"), "action", "show", second});
  EXPECT_EQ(shown["case_id"], list[0]["case_id"]);
  EXPECT_EQ(shown["status"], "planerad");
  EXPECT_EQ(OkJson({"--db", Db("unit"), "action", "list", "--status", "planerad"}).size(), 1u);
  auto replica = ValueOrDie(store::Replica::Open(Db("unit")), "open");
  EXPECT_EQ(Query(replica, "SELECT count(*) FROM student"), "1");
  EXPECT_EQ(Query(replica, "SELECT count(*) FROM support_case"), "1");
}

TEST_F(unitsyncctl, ListNeverPrintsFreeTextOrNamesButShowDoes) {
  Ok({"--db", Db("unit"), "init", "--role", "unit", "--node-id", "unit-0001"});
  {
    auto replica = ValueOrDie(store::Replica::Open(Db("unit")), "open");
    Exec(replica,
         "INSERT INTO student(id, unit_id, pseudo_id, personnummer, name) "
         "VALUES ('s1', 'unit-0001', 'ps-7f3a', '201001011234', 'Alva Svensson')");
  }
  const std::string secret = "Utredning av dyslexi pågår";
  const std::string id =
      AddAction(Db("unit"), {"--description", secret, "--responsible", "Karin Lärare"});
  for (const auto& args :
       {std::vector<std::string>{"--db", Db("unit"), "action", "list"},
        std::vector<std::string>{"--db", Db("unit"), "action", "list", "--json"}}) {
    const std::string out = Ok(args);
    EXPECT_NE(out.find(id), std::string::npos);
    EXPECT_NE(out.find("ps-7f3a"), std::string::npos);
    for (const std::string& sensitive : {secret, std::string("dyslexi"), std::string("Alva"),
                                         std::string("201001011234"), std::string("Karin")}) {
      EXPECT_EQ(out.find(sensitive), std::string::npos) << sensitive << " in: " << out;
    }
  }
  EXPECT_NE(Ok({"--db", Db("unit"), "action", "show", id}).find(secret), std::string::npos);
  EXPECT_EQ(OkJson({"--db", Db("unit"), "action", "show", id})["description"], secret);
}

TEST_F(unitsyncctl, StoredTextCannotDriveTheTerminal) {
  Ok({"--db", Db("unit"), "init", "--role", "unit", "--node-id", "unit-0001"});
  const std::string id = AddAction(Db("unit"), {"--description", "rad 1\nrad 2\x1b[2J\xc2\x9b"});
  const std::string shown = Ok({"--db", Db("unit"), "action", "show", id});
  EXPECT_EQ(shown.find('\x1b'), std::string::npos) << shown;
  EXPECT_EQ(shown.find("\xc2\x9b"), std::string::npos) << shown;
  EXPECT_NE(shown.find("rad 1\nrad 2\\x1b[2J\\u009b"), std::string::npos) << shown;
  // JSON carries the value exactly (escaped by JSON itself).
  EXPECT_EQ(OkJson({"--db", Db("unit"), "action", "show", id})["description"],
            "rad 1\nrad 2\x1b[2J\xc2\x9b");
}

TEST_F(unitsyncctl, UpdateAndDeleteShowUpInTheChangeLog) {
  Ok({"--db", Db("unit"), "init", "--role", "unit", "--node-id", "unit-0001"});
  const std::string id = AddAction(Db("unit"));
  Ok({"--db", Db("unit"), "action", "update", id, "--status", "avslutad", "--end", "2026-03-01"});
  EXPECT_EQ(OkJson({"--db", Db("unit"), "action", "show", id})["end_on"], "2026-03-01");
  Ok({"--db", Db("unit"), "action", "delete", id});

  json log = OkJson({"--db", Db("unit"), "changes"});
  EXPECT_EQ(log["pending"], 5);  // student, case, action inserts; update; delete.
  std::string ops;
  for (const auto& c : log["changes"]) {
    if (c["id"] != id) continue;
    ops += c["op"].get<std::string>();
    if (c["op"] == "U") {
      EXPECT_NE(c["columns"].get<std::string>().find("status"), std::string::npos);
      EXPECT_NE(c["columns"].get<std::string>().find("end_on"), std::string::npos);
      EXPECT_EQ(c["columns"].get<std::string>().find("description"), std::string::npos);
    }
  }
  EXPECT_EQ(ops, "IUD");
  const std::string human = Ok({"--db", Db("unit"), "changes"});
  EXPECT_NE(human.find("pending: 5"), std::string::npos) << human;

  EXPECT_EQ(Run({"--db", Db("unit"), "action", "show", id}).code, kExitNotFound);
  json after = OkJson({"--db", Db("unit"), "changes", "--after", "4"});
  ASSERT_EQ(after["changes"].size(), 1u);
  EXPECT_EQ(after["changes"][0]["op"], "D");
}

TEST_F(unitsyncctl, DigestsOfUnitAndCentralMatchAfterExchangingChangesets) {
  InitUnitAndCentral();
  AddAction(Db("unit"), {"--description", "vid enheten"});
  AddAction(Db("central"), {"--unit", "unit-0001", "--provider", "central_resurs"});
  const std::vector<std::string> unit_digest = {"--db", Db("unit"), "digest"};
  const std::vector<std::string> central_digest = {"--db", Db("central"), "digest", "--unit",
                                                   "unit-0001"};
  EXPECT_NE(OkJson(unit_digest), OkJson(central_digest));

  Sync();
  const json unit = OkJson(unit_digest);
  EXPECT_EQ(unit, OkJson(central_digest));
  EXPECT_EQ(unit["scope"], "unit-0001");
  for (const auto& t : unit["tables"]) {
    EXPECT_EQ(t["sha256"].get<std::string>().size(), 64u);
    if (t["table"] == "support_action") {
      EXPECT_EQ(t["rows"], 2);
    }
  }
  // Central lists every unit's actions with their unit.
  const std::string central_list = Ok({"--db", Db("central"), "action", "list"});
  EXPECT_NE(central_list.find("UNIT"), std::string::npos) << central_list;
  EXPECT_NE(central_list.find("unit-0001"), std::string::npos) << central_list;
  EXPECT_EQ(central_list.find("vid enheten"), std::string::npos) << central_list;
  // Both actions are now visible at the unit, with the same student.
  EXPECT_EQ(OkJson({"--db", Db("unit"), "action", "list", "--student", "ps-7f3a"}).size(), 2u);
  EXPECT_EQ(Run({"--db", Db("unit"), "digest", "--unit", "unit-0002"}).code, kExitUsage);
}

TEST_F(unitsyncctl, ConflictsAreListedShownAndRestored) {
  InitUnitAndCentral();
  const std::string id = AddAction(Db("unit"), {"--description", "original"});
  Sync();
  {
    // Concurrent writes of one column: neither side has seen the other's.
    // Central's clock runs a second ahead so its write wins: the losing side
    // is the unit, which is where the conflicts are recorded and listed.
    ManualWallClock central_clock(SystemWallClock().NowMs() + 1000);
    auto unit = ValueOrDie(store::Replica::Open(Db("unit")), "open unit");
    store::ReplicaOptions central_options;
    central_options.clock = &central_clock;
    auto central = ValueOrDie(store::Replica::Open(Db("central"), central_options), "open central");
    Exec(unit,
         "UPDATE support_action SET description = 'unit text', responsible = 'U' "
         "WHERE id = '" +
             id + "'");
    ValueOrDie(store::BuildChangeset(unit, {}), "stamp unit first");
    Exec(central,
         "UPDATE support_action SET description = 'central text', responsible = 'C' "
         "WHERE id = '" +
             id + "'");
    Apply(central, Changes(unit));
    Apply(unit, Changes(central, 0, "unit-0001"));
  }
  json list = OkJson({"--db", Db("unit"), "conflicts", "list"});
  ASSERT_EQ(list.size(), 2u) << list.dump();
  if (list[0]["column"] != "description") std::swap(list[0], list[1]);
  EXPECT_EQ(list[0]["table"], "support_action");
  EXPECT_EQ(list[0]["row_id"], id);
  EXPECT_EQ(list[0]["column"], "description");
  EXPECT_EQ(list[1]["column"], "responsible");
  EXPECT_EQ(list[0]["kind"], "update");
  EXPECT_TRUE(list[0]["resolved_ms"].is_null());
  // Values only in 'show', never in a list.
  const std::string human_list = Ok({"--db", Db("unit"), "conflicts"});
  EXPECT_EQ(human_list.find("text"), std::string::npos) << human_list;
  EXPECT_NE(human_list.find("description"), std::string::npos) << human_list;

  // Dismiss keeps the winner.
  const std::string other = std::to_string(list[1]["id"].get<int64_t>());
  const std::string kept = OkJson({"--db", Db("unit"), "conflicts", "show", other})["winner_value"];
  Ok({"--db", Db("unit"), "conflicts", "dismiss", other});
  EXPECT_EQ(OkJson({"--db", Db("unit"), "action", "show", id})["responsible"], kept);
  ASSERT_EQ(OkJson({"--db", Db("unit"), "conflicts", "list"}).size(), 1u);

  const std::string cid = std::to_string(list[0]["id"].get<int64_t>());
  json shown = OkJson({"--db", Db("unit"), "conflicts", "show", cid});
  const std::string loser = shown["loser_value"];
  const std::string winner = shown["winner_value"];
  EXPECT_NE(loser, winner);
  EXPECT_TRUE((loser == "unit text" && winner == "central text") ||
              (loser == "central text" && winner == "unit text"));
  EXPECT_FALSE(shown["winner"]["origin"].get<std::string>().empty());
  EXPECT_GT(shown["loser"]["wall_ms"].get<int64_t>(), 0);
  const std::string human_show = Ok({"--db", Db("unit"), "conflicts", "show", cid});
  EXPECT_NE(human_show.find(loser), std::string::npos);
  EXPECT_NE(human_show.find(winner), std::string::npos);

  const std::string restored = Ok({"--db", Db("unit"), "conflicts", "restore", cid});
  EXPECT_NE(restored.find("restored"), std::string::npos);
  EXPECT_EQ(OkJson({"--db", Db("unit"), "action", "show", id})["description"], loser);
  EXPECT_TRUE(OkJson({"--db", Db("unit"), "conflicts", "list"}).empty());
  json all = OkJson({"--db", Db("unit"), "conflicts", "list", "--all"});
  ASSERT_EQ(all.size(), 2u);  // The restored and the dismissed one.
  for (const auto& c : all) EXPECT_FALSE(c["resolved_ms"].is_null());
  // Already resolved: refused, for restore and dismiss alike.
  EXPECT_EQ(Run({"--db", Db("unit"), "conflicts", "restore", cid}).code, kExitRejected);
  EXPECT_EQ(Run({"--db", Db("unit"), "conflicts", "dismiss", cid}).code, kExitRejected);
  EXPECT_EQ(Run({"--db", Db("unit"), "conflicts", "show", "999"}).code, kExitNotFound);
}

TEST_F(unitsyncctl, ErrorPathsGiveDocumentedExitCodesAndNoSensitiveValues) {
  {
    std::ofstream f(dir_.File("notes.txt"));
    f << "not a database\n";
  }
  CliResult not_db = Run({"--db", dir_.File("notes.txt"), "action", "list"});
  EXPECT_EQ(not_db.code, kExitReplica);
  EXPECT_NE(not_db.err.find("not a SQLite database"), std::string::npos) << not_db.err;
  EXPECT_EQ(not_db.out, "");
  EXPECT_EQ(Run({"--db", Db("missing"), "changes"}).code, kExitReplica);
  EXPECT_FALSE(std::filesystem::exists(Db("missing")));
  EXPECT_EQ(Run({"action", "list"}).code, kExitUsage);

  InitUnitAndCentral();
  const std::string unknown = "01900000-0000-7000-8000-000000000000";
  for (const char* verb : {"show", "delete"}) {
    CliResult r = Run({"--db", Db("unit"), "action", verb, unknown});
    EXPECT_EQ(r.code, kExitNotFound) << verb;
    EXPECT_NE(r.err.find("no support action"), std::string::npos) << r.err;
  }
  EXPECT_EQ(Run({"--db", Db("unit"), "action", "update", unknown, "--status", "avbruten"}).code,
            kExitNotFound);

  const std::string id = AddAction(Db("unit"));
  CliResult bad_status = Run({"--db", Db("unit"), "action", "update", id, "--status", "hittepa"});
  EXPECT_EQ(bad_status.code, kExitUsage);
  EXPECT_NE(bad_status.err.find("--status"), std::string::npos) << bad_status.err;
  EXPECT_NE(bad_status.err.find("planerad"), std::string::npos) << bad_status.err;
  EXPECT_EQ(bad_status.err.find("hittepa"), std::string::npos) << bad_status.err;
  EXPECT_EQ(Run({"--db", Db("unit"), "action", "add", "--student", "ps-1", "--type", "X", "--start",
                 "2026-02-30"})
                .code,
            kExitUsage);
  EXPECT_EQ(Run({"--db", Db("unit"), "action", "update", id, "--end", "2025-01-01"}).code,
            kExitUsage);

  // An identity number typed as a pseudonym is refused and not repeated.
  CliResult pnr = Run({"--db", Db("unit"), "action", "add", "--student", "20100101-1234", "--type",
                       "X", "--start", "2026-01-12"});
  EXPECT_EQ(pnr.code, kExitUsage);
  EXPECT_EQ(pnr.err.find("1234"), std::string::npos) << pnr.err;
  // A mis-quoted description is not echoed back.
  CliResult extras = Run({"--db", Db("unit"), "action", "add", "--student", "ps-1", "--type", "X",
                          "--start", "2026-01-12", "--description", "Elev", "har", "dyslexi"});
  EXPECT_EQ(extras.code, kExitUsage);
  EXPECT_EQ(extras.err.find("dyslexi"), std::string::npos) << extras.err;
  // At central the owning unit must be named.
  CliResult no_unit = Run({"--db", Db("central"), "action", "add", "--student", "ps-1", "--type",
                           "X", "--start", "2026-01-12", "--description", "hemlig text"});
  EXPECT_EQ(no_unit.code, kExitUsage);
  EXPECT_NE(no_unit.err.find("--unit"), std::string::npos);
  EXPECT_EQ(no_unit.err.find("hemlig"), std::string::npos);
  // Nothing was written by any of the failed commands.
  EXPECT_EQ(OkJson({"--db", Db("unit"), "action", "list"}).size(), 1u);
  EXPECT_TRUE(OkJson({"--db", Db("central"), "action", "list"}).empty());
}

TEST_F(unitsyncctl, HelpIsUsefulAndExitsZero) {
  CliResult top = Run({"--help"});
  EXPECT_EQ(top.code, kExitOk);
  for (const char* word :
       {"init", "action", "changes", "conflicts", "digest", "--db", "--json", "Exit codes"}) {
    EXPECT_NE(top.out.find(word), std::string::npos) << word;
  }
  CliResult add = Run({"action", "add", "--help"});
  EXPECT_EQ(add.code, kExitOk);
  EXPECT_NE(add.out.find("--student"), std::string::npos);
  EXPECT_NE(add.out.find("planerad|pagaende|avslutad|avbruten"), std::string::npos);
  EXPECT_EQ(Run({}).code, kExitUsage);
}

}  // namespace
}  // namespace unitsync::cli
