#include "store/replica.h"

#include <sqlite3.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "store/change_log.h"
#include "store/test_util.h"

namespace unitsync::store {
namespace {

using testing::TempDir;

TEST(Replica, CreateThenOpenKeepsIdentity) {
  TempDir dir;
  {
    auto r = Replica::Create(dir.File("u.db"), Role::kUnit, "unit-0001");
    US_ASSERT_OK(r);
    EXPECT_EQ(r->schema_version(), SupportSchema().LatestVersion());
  }
  auto r = Replica::Open(dir.File("u.db"));
  US_ASSERT_OK(r);
  EXPECT_EQ(r->node_id(), "unit-0001");
  EXPECT_EQ(r->role(), Role::kUnit);
  EXPECT_EQ(testing::Query(*r, "PRAGMA journal_mode"), "wal");
  EXPECT_EQ(testing::Query(*r, "PRAGMA foreign_keys"), "1");
}

TEST(Replica, CreateRefusesExistingFileAndBadNodeId) {
  TempDir dir;
  US_ASSERT_OK(Replica::Create(dir.File("u.db"), Role::kUnit, "unit-0001"));
  auto again = Replica::Create(dir.File("u.db"), Role::kUnit, "unit-0001");
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, Errc::kAlreadyExists);
  auto bad = Replica::Create(dir.File("v.db"), Role::kUnit, "Unit 1; DROP");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, Errc::kInvalidArgument);
}

TEST(Replica, NodeIdsAndRolesFollowTheirRules) {
  for (const char* ok : {"unit-0001", "central", "a", "0unit", "unit_1.b-2"}) {
    EXPECT_TRUE(IsValidNodeId(ok)) << ok;
  }
  EXPECT_TRUE(IsValidNodeId(std::string(64, 'u')));
  for (const char* bad : {"", "-unit", ".unit", "_unit", "Unit", "unit 1", "unit/1", "unit;1"}) {
    EXPECT_FALSE(IsValidNodeId(bad)) << "'" << bad << "'";
  }
  EXPECT_FALSE(IsValidNodeId(std::string(65, 'u')));
  TempDir dir;
  auto too_long = Replica::Create(dir.File("long.db"), Role::kUnit, std::string(65, 'u'));
  ASSERT_FALSE(too_long);
  EXPECT_EQ(too_long.error().code, Errc::kInvalidArgument);
  EXPECT_FALSE(std::filesystem::exists(dir.File("long.db")));

  EXPECT_EQ(*ParseRole("unit"), Role::kUnit);
  EXPECT_EQ(*ParseRole("central"), Role::kCentral);
  for (const char* bad : {"", "Central", "hub"}) {
    auto r = ParseRole(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().code, Errc::kInvalidArgument);
  }
}

TEST(Replica, RefusesFilesItDidNotMake) {
  TempDir dir;
  std::ofstream(dir.File("junk.db"))
      << "this is not a database, just some text that is long enough";
  auto junk = Replica::Open(dir.File("junk.db"));
  ASSERT_FALSE(junk);
  EXPECT_EQ(junk.error().code, Errc::kNotAReplica);

  sqlite3* raw = nullptr;
  ASSERT_EQ(sqlite3_open(dir.File("other.db").c_str(), &raw), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(raw, "CREATE TABLE t(x)", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(raw);
  auto other = Replica::Open(dir.File("other.db"));
  ASSERT_FALSE(other);
  EXPECT_EQ(other.error().code, Errc::kNotAReplica);

  auto missing = Replica::Open(dir.File("missing.db"));
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, Errc::kNotFound);
}

TEST(Replica, RefusesAnotherNodesReplica) {
  TempDir dir;
  US_ASSERT_OK(Replica::Create(dir.File("u.db"), Role::kUnit, "unit-0001"));
  ReplicaOptions opts;
  opts.expect_node_id = "unit-0002";
  auto r = Replica::Open(dir.File("u.db"), opts);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kWrongNode);
  EXPECT_NE(r.error().message.find("unit-0001"), std::string::npos);

  ReplicaOptions role;
  role.expect_role = Role::kCentral;
  auto c = Replica::Open(dir.File("u.db"), role);
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().code, Errc::kWrongNode);
}

TEST(Replica, RefusesNewerSchemaAndLeavesItUntouched) {
  TempDir dir;
  {
    auto r = testing::ValueOrDie(Replica::Create(dir.File("u.db"), Role::kUnit, "unit-0001"));
    US_ASSERT_OK(r.SetMeta("schema_version", "99"));
  }
  auto r = Replica::Open(dir.File("u.db"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kSchemaTooNew);
  // Both versions, and what to do about it.
  const std::string known = std::to_string(SupportSchema().LatestVersion());
  EXPECT_NE(r.error().message.find("schema is version 99"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("supports up to version " + known), std::string::npos)
      << r.error().message;
  EXPECT_NE(r.error().hint.find("upgrade unitsync"), std::string::npos) << r.error().hint;
  // Still 99: nothing was "migrated" down.
  sqlite3* raw = nullptr;
  ASSERT_EQ(sqlite3_open(dir.File("u.db").c_str(), &raw), SQLITE_OK);
  sqlite3_stmt* s = nullptr;
  sqlite3_prepare_v2(raw, "SELECT value FROM _us_meta WHERE key='schema_version'", -1, &s, nullptr);
  ASSERT_EQ(sqlite3_step(s), SQLITE_ROW);
  EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(s, 0)), "99");
  sqlite3_finalize(s);
  sqlite3_close(raw);
}

TEST(Replica, RefusesNewerEngineMetadata) {
  TempDir dir;
  {
    auto r = testing::ValueOrDie(Replica::Create(dir.File("u.db"), Role::kUnit, "unit-0001"));
    US_ASSERT_OK(r.SetMeta("engine_version", "7"));
  }
  auto r = Replica::Open(dir.File("u.db"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kSchemaTooNew);
  EXPECT_NE(r.error().message.find("engine metadata is version 7"), std::string::npos)
      << r.error().message;
}

TEST(Replica, MalformedVersionsInTheMetadataAreCorruptNotACrash) {
  // What std::stoi would have thrown on, or silently read as a prefix ("2x" as 2).
  for (const char* key : {"schema_version", "engine_version", "hlc"}) {
    for (const char* bad : {"", "abc", "2x", "-1", " 1", "+1", "99999999999999999999999"}) {
      SCOPED_TRACE(std::string(key) + "='" + bad + "'");
      TempDir dir;
      {
        auto r = testing::ValueOrDie(Replica::Create(dir.File("u.db"), Role::kUnit, "unit-0001"));
        US_ASSERT_OK(r.SetMeta(key, bad));
      }
      auto r = Replica::Open(dir.File("u.db"));
      ASSERT_FALSE(r);
      EXPECT_EQ(r.error().code, Errc::kCorrupt);
      EXPECT_NE(r.error().message.find(std::string("'") + key + "' is not a valid number"),
                std::string::npos)
          << r.error().message;
      EXPECT_FALSE(r.error().hint.empty());
    }
  }
}

TEST(Replica, MigratesForwardAndANewTableNeedsNoEngineChange) {
  TempDir dir;
  SchemaBundle v1{{{1, "0001_base.sql",
                    "CREATE TABLE note (id TEXT PRIMARY KEY NOT NULL, unit_id TEXT NOT NULL, "
                    "body TEXT) STRICT;"}},
                  "[[table]]\nname = \"note\"\nscope = \"unit\"\nrouting = \"unit_id\"\n"};
  ReplicaOptions o1;
  o1.schema = &v1;
  { US_ASSERT_OK(Replica::Create(dir.File("u.db"), Role::kUnit, "u1", o1)); }

  SchemaBundle v2 = v1;
  v2.migrations.push_back({2, "0002_tag.sql",
                           "CREATE TABLE tag (id TEXT PRIMARY KEY NOT NULL, unit_id TEXT NOT NULL, "
                           "label TEXT NOT NULL) STRICT;"});
  v2.manifest_toml += "[[table]]\nname = \"tag\"\nscope = \"unit\"\nrouting = \"unit_id\"\n";
  ReplicaOptions o2;
  o2.schema = &v2;
  auto r = testing::ValueOrDie(Replica::Open(dir.File("u.db"), o2));
  EXPECT_EQ(r.schema_version(), 2);
  testing::Exec(r, "INSERT INTO tag(id, unit_id, label) VALUES ('t1', 'u1', 'x')");
  auto log = testing::ValueOrDie(ListChanges(r, 0, 10));
  ASSERT_EQ(log.size(), 1u);
  EXPECT_EQ(log[0].table, "tag");
  EXPECT_EQ(log[0].op, 'I');
}

TEST(Capture, EveryWriterIsCapturedAndEngineAppliesAreNot) {
  TempDir dir;
  auto r = testing::MakeReplica(dir, "unit-0001", Role::kUnit);
  // A second connection through the plain C API, no extension loaded.
  sqlite3* raw = nullptr;
  ASSERT_EQ(sqlite3_open(r.path().c_str(), &raw), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(raw,
                         "INSERT INTO student(id, unit_id, pseudo_id, name) "
                         "VALUES ('s1', 'unit-0001', 'p1', 'Alva');"
                         "UPDATE student SET grade = '7' WHERE id = 's1';"
                         "UPDATE student SET name = 'Alva B' WHERE id = 's1';",  // Local-only.
                         nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(raw);
  // And the sqlite3 shell, if the machine has it (scripts/setup installs it).
  const std::string cmd = "sqlite3 '" + r.path() +
                          "' \"INSERT INTO student(id, unit_id, pseudo_id) VALUES "
                          "('s2', 'unit-0001', 'p2'); DELETE FROM student WHERE id = 's2';\"";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;

  auto log = testing::ValueOrDie(ListChanges(r, 0, 100));
  ASSERT_EQ(log.size(), 4u);  // The local-only rename is not a replicated change.
  EXPECT_EQ(log[0].op, 'I');
  EXPECT_EQ(log[1].op, 'U');
  EXPECT_EQ(log[1].cols, "grade");
  EXPECT_EQ(log[2].pk, "s2");
  EXPECT_EQ(log[3].op, 'D');

  // The next changeset carries s1 (without local-only columns) and s2's tombstone.
  auto cs = testing::ValueOrDie(DecodeChangeset(testing::Changes(r)));
  ASSERT_EQ(cs.tables.size(), 1u);
  ASSERT_EQ(cs.tables[0].rows.size(), 2u);
  EXPECT_EQ(std::count(cs.tables[0].columns.begin(), cs.tables[0].columns.end(), "name"), 0);
  EXPECT_EQ(std::count(cs.tables[0].columns.begin(), cs.tables[0].columns.end(), "personnummer"),
            0);
  EXPECT_FALSE(cs.tables[0].rows[0].tombstone);
  EXPECT_TRUE(cs.tables[0].rows[1].tombstone);
}

TEST(Capture, GuardsRefuseIdChangesAndReuseOfDeletedIds) {
  TempDir dir;
  auto r = testing::MakeReplica(dir, "unit-0001", Role::kUnit);
  testing::Exec(r, "INSERT INTO student(id, unit_id, pseudo_id) VALUES ('s1', 'unit-0001', 'p')");
  EXPECT_FALSE(r.db().Exec("UPDATE student SET id = 's9' WHERE id = 's1'"));
  testing::Exec(r, "DELETE FROM student WHERE id = 's1'");
  US_ASSERT_OK(StampPendingChangesNow(r));
  auto reuse =
      r.db().Exec("INSERT INTO student(id, unit_id, pseudo_id) VALUES ('s1', 'unit-0001', 'p')");
  ASSERT_FALSE(reuse);
  EXPECT_NE(reuse.error().message.find("deleted or purged row"), std::string::npos);
}

TEST(Schema, StatusesAndTransitionsAreChecked) {
  TempDir dir;
  auto r = testing::MakeReplica(dir, "unit-0001", Role::kUnit);
  testing::Exec(r,
                "INSERT INTO student(id, unit_id, pseudo_id) VALUES ('s', 'unit-0001', 'p');"
                "INSERT INTO support_case(id, unit_id, student_id, opened_on) "
                "VALUES ('c', 'unit-0001', 's', '2026-01-10');"
                "INSERT INTO decision(id, unit_id, case_id, kind, decided_by, decided_on) "
                "VALUES ('d', 'unit-0001', 'c', 'atgardsprogram', 'rektor', '2026-02-01');");
  EXPECT_FALSE(r.db().Exec("UPDATE decision SET status = 'klar' WHERE id = 'd'"));
  EXPECT_FALSE(r.db().Exec("UPDATE decision SET appeal_status = 'overklagad' WHERE id = 'd'"))
      << "only a final decision can be appealed";
  testing::Exec(r, "UPDATE decision SET status = 'slutlig' WHERE id = 'd'");
  EXPECT_FALSE(r.db().Exec("UPDATE decision SET status = 'preliminar' WHERE id = 'd'"));
  EXPECT_FALSE(r.db().Exec("UPDATE decision SET decided_by = 'annan' WHERE id = 'd'"));
  testing::Exec(r, "UPDATE decision SET appeal_status = 'overklagad' WHERE id = 'd'");
  EXPECT_FALSE(r.db().Exec("UPDATE decision SET appeal_status = 'none' WHERE id = 'd'"));
  testing::Exec(r, "UPDATE decision SET appeal_status = 'faststalld' WHERE id = 'd'");
  // Foreign keys hold for local writes.
  EXPECT_FALSE(r.db().Exec(
      "INSERT INTO support_case(id, unit_id, student_id, opened_on) VALUES ('c2', 'unit-0001', "
      "'nobody', '2026-01-10')"));
}

}  // namespace
}  // namespace unitsync::store
