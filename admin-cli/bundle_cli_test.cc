// Runs the real unitsyncctl for export-bundle / import-bundle on replicas and a real
// deployment CA, and checks what an admin or a script sees: output, --json documents,
// exit codes, files — and that a refused bundle changes nothing. (The whole round trip
// beside real daemons is tests/daemon_bundle_test.cc.)
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>

#include "admin-cli/cli_test_util.h"
#include "admin-cli/exit_codes.h"
#include "pki/ca.h"
#include "store/test_util.h"

namespace unitsync::cli {
namespace {

using nlohmann::json;
using store::testing::Exec;
using store::testing::Query;
using store::testing::TempDir;
using store::testing::ValueOrDie;
using testing::CliResult;

class BundleCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(pki::InitCa(File("ca"), "test"));
    for (const char* u : {"unit-0001", "unit-0002"}) {
      ASSERT_TRUE(pki::EnrollUnit(File("ca"), u, File(std::string(u) + "-bundle")));
      ValueOrDie(store::Replica::Create(File(std::string(u) + ".db"), store::Role::kUnit, u));
    }
    ValueOrDie(store::Replica::Create(File("central.db"), store::Role::kCentral, "central"));
  }

  std::string File(const std::string& name) { return dir_.File(name); }
  CliResult Run(const std::vector<std::string>& args) {
    return testing::RunUnitsyncctl(args, dir_.File(""));
  }
  // At a unit / at central, on the replica file directly (no daemon config here).
  CliResult AtUnit(const std::string& unit, std::vector<std::string> args) {
    args.insert(args.end(), {"--db", File(unit + ".db"), "--bundle", File(unit + "-bundle")});
    return Run(args);
  }
  CliResult AtCentral(std::vector<std::string> args) {
    args.insert(args.end(), {"--db", File("central.db"), "--ca", File("ca")});
    return Run(args);
  }
  // Exit code `code`, nothing on stdout, an error line on stderr.
  CliResult Fails(const CliResult& r, int code) {
    EXPECT_EQ(r.code, code) << "stdout: " << r.out << "\nstderr: " << r.err;
    EXPECT_EQ(r.out, "");
    EXPECT_NE(r.err.find("unitsyncctl: error: "), std::string::npos) << r.err;
    return r;
  }
  void AddStudents(const std::string& db, const std::string& unit, int n) {
    auto r = ValueOrDie(store::Replica::Open(File(db)));
    for (int i = 0; i < n; ++i) {
      Exec(r, "INSERT INTO student(id, unit_id, pseudo_id) VALUES ('" + db + "-" +
                  std::to_string(i) + "', '" + unit + "', 'p')");
    }
  }
  std::string Students(const std::string& db) {
    auto r = ValueOrDie(store::Replica::Open(File(db)));
    return Query(r, "SELECT count(*) FROM student");
  }

  TempDir dir_;
};

TEST_F(BundleCliTest, ARoundTripPrintsWhatToDoNext) {
  AddStudents("unit-0001.db", "unit-0001", 3);
  AddStudents("central.db", "unit-0001", 2);
  const CliResult exported = AtUnit("unit-0001", {"export-bundle", "--out", File("f.usbn")});
  ASSERT_EQ(exported.code, kExitOk) << exported.err;
  EXPECT_NE(exported.out.find("exported 1 changeset(s) of unit-0001"), std::string::npos)
      << exported.out;
  EXPECT_NE(exported.out.find("at central run: unitsyncctl import-bundle " + File("f.usbn")),
            std::string::npos)
      << exported.out;

  const CliResult imported = AtCentral({"import-bundle", File("f.usbn")});
  ASSERT_EQ(imported.code, kExitOk) << imported.err;
  EXPECT_NE(imported.out.find("applied 1 of 1 changeset(s)"), std::string::npos) << imported.out;
  EXPECT_NE(imported.out.find("2 row(s) -> " + File("f-reply.usbn")), std::string::npos)
      << imported.out;
  EXPECT_EQ(Students("central.db"), "5");

  const CliResult back = AtUnit("unit-0001", {"--json", "import-bundle", File("f-reply.usbn")});
  ASSERT_EQ(back.code, kExitOk) << back.err;
  const json doc = json::parse(back.out);
  EXPECT_EQ(doc["acked_seq"], 1);
  EXPECT_EQ(doc["acked_seq_before"], 0);
  EXPECT_EQ(doc["applied"], 1);
  EXPECT_EQ(doc["resynced"], false);
  EXPECT_EQ(Students("unit-0001.db"), "5");
}

TEST_F(BundleCliTest, RepeatsAndOtherNodesFilesExitNonZeroAndChangeNothing) {
  AddStudents("unit-0001.db", "unit-0001", 3);
  ASSERT_EQ(AtUnit("unit-0001", {"export-bundle", "--out", File("f.usbn")}).code, kExitOk);
  ASSERT_EQ(AtCentral({"import-bundle", File("f.usbn")}).code, kExitOk);

  const CliResult twice = Fails(
      AtCentral({"import-bundle", File("f.usbn"), "--reply-out", File("r2.usbn")}), kExitRejected);
  EXPECT_NE(twice.err.find("already imported"), std::string::npos) << twice.err;
  EXPECT_NE(twice.err.find("export-bundle --unit unit-0001"), std::string::npos) << twice.err;
  EXPECT_FALSE(std::filesystem::exists(File("r2.usbn")));

  // unit-0001's reply at unit-0002, and its pushes at itself.
  const CliResult other =
      Fails(AtUnit("unit-0002", {"import-bundle", File("f-reply.usbn")}), kExitReplica);
  EXPECT_NE(other.err.find("for unit-0001; this replica is unit-0002's"), std::string::npos)
      << other.err;
  Fails(AtUnit("unit-0001", {"import-bundle", File("f.usbn")}), kExitReplica);
  EXPECT_EQ(Students("unit-0002.db"), "0");

  ASSERT_EQ(AtUnit("unit-0001", {"import-bundle", File("f-reply.usbn")}).code, kExitOk);
  const CliResult again =
      Fails(AtUnit("unit-0001", {"import-bundle", File("f-reply.usbn")}), kExitRejected);
  EXPECT_NE(again.err.find("nothing new"), std::string::npos) << again.err;
}

TEST_F(BundleCliTest, DamagedTruncatedAndWrongFilesAreRefusedWithNothingApplied) {
  AddStudents("unit-0001.db", "unit-0001", 3);
  ASSERT_EQ(AtUnit("unit-0001", {"export-bundle", "--out", File("f.usbn")}).code, kExitOk);
  std::string bytes;
  {
    std::ifstream in(File("f.usbn"), std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  std::string damaged = bytes;
  damaged[damaged.size() / 2] ^= 0x01;
  std::ofstream(File("damaged.usbn"), std::ios::binary) << damaged;
  std::ofstream(File("short.usbn"), std::ios::binary) << bytes.substr(0, bytes.size() - 1);

  const CliResult d = Fails(AtCentral({"import-bundle", File("damaged.usbn")}), kExitReplica);
  EXPECT_NE(d.err.find("nothing was applied"), std::string::npos) << d.err;
  Fails(AtCentral({"import-bundle", File("short.usbn")}), kExitReplica);
  EXPECT_EQ(Students("central.db"), "0");
  EXPECT_FALSE(std::filesystem::exists(File("damaged-reply.usbn")));

  ASSERT_EQ(AtUnit("unit-0001", {"backup", "--out", File("b.usbk")}).code, kExitOk);
  const CliResult backup = Fails(AtCentral({"import-bundle", File("b.usbk")}), kExitFailure);
  EXPECT_NE(backup.err.find("is a backup, not an offline bundle"), std::string::npos) << backup.err;
}

TEST_F(BundleCliTest, ARevokedUnitsBundleIsRefused) {
  AddStudents("unit-0002.db", "unit-0002", 1);
  ASSERT_EQ(AtUnit("unit-0002", {"export-bundle", "--out", File("f.usbn")}).code, kExitOk);
  ASSERT_EQ(Run({"pki", "revoke", "--ca", File("ca"), "--unit", "unit-0002"}).code, kExitOk);
  const CliResult r = Fails(AtCentral({"import-bundle", File("f.usbn")}), kExitRejected);
  EXPECT_NE(r.err.find("unit-0002 is revoked"), std::string::npos) << r.err;
  Fails(AtCentral({"export-bundle", "--unit", "unit-0002", "--out", File("r.usbn")}),
        kExitRejected);
  EXPECT_EQ(Students("central.db"), "0");
}

TEST_F(BundleCliTest, CentralWritesAReplyByHandAndUnitsNeedNothingButTheirBundle) {
  AddStudents("central.db", "unit-0001", 4);
  const CliResult reply =
      AtCentral({"--json", "export-bundle", "--unit", "unit-0001", "--out", File("by-hand.usbn")});
  ASSERT_EQ(reply.code, kExitOk) << reply.err;
  const json doc = json::parse(reply.out);
  EXPECT_EQ(doc["kind"], "reply");
  EXPECT_EQ(doc["rows"], 4);
  ASSERT_EQ(AtUnit("unit-0001", {"import-bundle", File("by-hand.usbn")}).code, kExitOk);
  EXPECT_EQ(Students("unit-0001.db"), "4");

  // Nothing waiting at a unit: still a bundle, saying so.
  const CliResult empty = AtUnit("unit-0002", {"export-bundle", "--out", File("e.usbn")});
  ASSERT_EQ(empty.code, kExitOk) << empty.err;
  EXPECT_NE(empty.out.find("nothing of unit-0002 waits for central"), std::string::npos)
      << empty.out;
}

TEST_F(BundleCliTest, UsageErrorsSayWhatIsMissing) {
  Fails(AtCentral({"export-bundle", "--out", File("x.usbn")}), kExitUsage);
  Fails(AtUnit("unit-0001", {"export-bundle", "--unit", "unit-0002", "--out", File("x.usbn")}),
        kExitUsage);
  Fails(Run({"--db", File("central.db"), "import-bundle", File("x.usbn")}), kExitUsage);  // no --ca
  // Another unit's enrollment bundle for this replica.
  Fails(Run({"--db", File("unit-0001.db"), "export-bundle", "--bundle", File("unit-0002-bundle"),
             "--out", File("x.usbn")}),
        kExitReplica);
  EXPECT_FALSE(std::filesystem::exists(File("x.usbn")));
}

}  // namespace
}  // namespace unitsync::cli
