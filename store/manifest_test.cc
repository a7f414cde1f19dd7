#include "store/manifest.h"

#include <gtest/gtest.h>

#include "store/schema.h"

namespace unitsync::store {
namespace {

TEST(Manifest, TheShippedManifestParsesAndBinds) {
  auto m = Manifest::Parse(SupportSchema().manifest_toml);
  ASSERT_TRUE(m) << m.error().ToString();
  auto db = Db::Open(":memory:", true);
  ASSERT_TRUE(db);
  ASSERT_TRUE(db->Exec("CREATE TABLE _us_applying(flag INTEGER); CREATE TABLE _us_clock(x)"));
  for (const Migration& mig : SupportSchema().migrations)
    ASSERT_TRUE(db->Exec(mig.sql)) << mig.name;
  auto st = m->Bind(*db);
  ASSERT_TRUE(st) << st.error().ToString();
  const TableSpec* student = m->Find("student");
  ASSERT_NE(student, nullptr);
  EXPECT_EQ(student->scope, Scope::kUnit);
  EXPECT_EQ(student->ColumnIndex("personnummer"), -1) << "local-only columns are not replicated";
  EXPECT_EQ(student->ColumnIndex("id"), -1);
  EXPECT_GE(student->ColumnIndex("pseudo_id"), 0);
  EXPECT_EQ(m->Find("action_type")->scope, Scope::kCentral);
  EXPECT_EQ(m->tables().size(), 13u);
}

TEST(Manifest, RejectsMistakesWithTheirReason) {
  struct Case {
    const char* toml;
    const char* says;
  } cases[] = {
      {"[[table]]\nname = \"t\"\nscope = \"unit\"\n", "routing"},
      {"[[table]]\nname = \"t\"\nscope = \"everywhere\"\n", "scope"},
      {"[[table]]\nname = \"t\"\nscope = \"central\"\ncolour = 1\n", "unknown key"},
      {"[[table]]\nname = \"t\"\nscope = \"central\"\n[[table]]\nname = \"t\"\nscope = "
       "\"central\"\n",
       "twice"},
      {"[[table]]\nname = \"T; DROP\"\nscope = \"central\"\n", "name"},
      {"[[table]\n", "line 1"},
      {"", "no [[table]]"},
  };
  for (const Case& c : cases) {
    auto m = Manifest::Parse(c.toml);
    ASSERT_FALSE(m) << c.toml;
    EXPECT_NE(m.error().message.find(c.says), std::string::npos) << m.error().message;
  }
}

TEST(Manifest, BindRefusesTablesAndColumnsTheSchemaLacks) {
  auto db = Db::Open(":memory:", true);
  ASSERT_TRUE(db);
  ASSERT_TRUE(db->Exec("CREATE TABLE t (id TEXT PRIMARY KEY, unit_id TEXT, note TEXT)"));
  auto missing_table = Manifest::Parse("[[table]]\nname = \"u\"\nscope = \"central\"\n");
  ASSERT_TRUE(missing_table);
  EXPECT_FALSE(missing_table->Bind(*db));
  auto missing_col = Manifest::Parse(
      "[[table]]\nname = \"t\"\nscope = \"unit\"\nrouting = \"unit_id\"\nlocal_only = "
      "[\"nope\"]\n");
  ASSERT_TRUE(missing_col);
  EXPECT_FALSE(missing_col->Bind(*db));
}

TEST(Manifest, RejectsBadKeysNamesAndColumnListsWithTheirReason) {
  const struct {
    const char* toml;
    const char* says;
  } cases[] = {
      {"colour = 1\n[[table]]\nname = \"t\"\nscope = \"central\"\n", "unknown key 'colour'"},
      {"table = [1]\n", "must be a table"},
      {"[[table]]\nscope = \"central\"\n", "no valid 'name'"},
      {"[[table]]\nname = \"_us_clock\"\nscope = \"central\"\n", "no valid 'name'"},
      {"[[table]]\nname = \"t\"\nscope = \"unit\"\nrouting = \"Unit\"\n",
       "'routing' must be a lowercase identifier"},
      {"[[table]]\nname = \"t\"\nscope = \"unit\"\nrouting = 7\n",
       "'routing' must be a lowercase identifier"},
      {"[[table]]\nname = \"t\"\nscope = \"unit\"\nrouting = \"u\"\nprivate_row_flag = "
       "\"a-b\"\n",
       "'private_row_flag' must be a lowercase identifier"},
      {"[[table]]\nname = \"t\"\nscope = \"central\"\nlocal_only = \"note\"\n",
       "local_only must be an array"},
      {"[[table]]\nname = \"t\"\nscope = \"central\"\nlocal_only = [\"id\"]\n",
       "local_only holds an invalid column"},
      {"[[table]]\nname = \"t\"\nscope = \"unit\"\nrouting = \"u\"\nlocal_only = [\"u\"]\n",
       "local_only holds an invalid column"},
      {"[[table]]\nname = \"t\"\nscope = \"central\"\nlocal_only = [\"note\", 3]\n",
       "local_only holds an invalid column"},
  };
  for (const auto& c : cases) {
    auto m = Manifest::Parse(c.toml);
    ASSERT_FALSE(m) << c.toml;
    EXPECT_EQ(m.error().code, Errc::kInvalidArgument) << c.toml;
    EXPECT_NE(m.error().message.find(c.says), std::string::npos) << m.error().message;
  }
}

TEST(Manifest, BindSaysWhichTableOrColumnDoesNotFitTheSchema) {
  auto db = Db::Open(":memory:", true);
  ASSERT_TRUE(db);
  ASSERT_TRUE(
      db->Exec("CREATE TABLE t (id TEXT PRIMARY KEY, unit_id TEXT, note TEXT);"
               "CREATE TABLE int_id (id INTEGER PRIMARY KEY, note TEXT);"
               "CREATE TABLE no_pk (id TEXT, note TEXT)"));
  const struct {
    const char* toml;
    const char* says;
  } cases[] = {
      {"[[table]]\nname = \"u\"\nscope = \"central\"\n", "'u' is not in the schema"},
      {"[[table]]\nname = \"int_id\"\nscope = \"central\"\n", "needs 'id TEXT PRIMARY KEY'"},
      {"[[table]]\nname = \"no_pk\"\nscope = \"central\"\n", "needs 'id TEXT PRIMARY KEY'"},
      {"[[table]]\nname = \"t\"\nscope = \"unit\"\nrouting = \"unit_id\"\nlocal_only = "
       "[\"nope\"]\n",
       "no local_only column 'nope'"},
      {"[[table]]\nname = \"t\"\nscope = \"unit\"\nrouting = \"owner\"\n", "no column 'owner'"},
      {"[[table]]\nname = \"t\"\nscope = \"unit\"\nrouting = \"unit_id\"\n"
       "private_row_flag = \"hidden\"\n",
       "no column 'hidden'"},
  };
  for (const auto& c : cases) {
    auto m = Manifest::Parse(c.toml);
    ASSERT_TRUE(m) << c.toml << ": " << m.error().message;
    auto bound = m->Bind(*db);
    ASSERT_FALSE(bound) << c.toml;
    EXPECT_EQ(bound.error().code, Errc::kInvalidArgument);
    EXPECT_NE(bound.error().message.find(c.says), std::string::npos) << bound.error().message;
  }
  // With every named column present it binds: its columns are all but id and local-only.
  auto good = Manifest::Parse(
      "[[table]]\nname = \"t\"\nscope = \"unit\"\nrouting = \"unit_id\"\nlocal_only = "
      "[\"note\"]\n");
  ASSERT_TRUE(good);
  ASSERT_TRUE(good->Bind(*db));
  EXPECT_EQ(good->Find("t")->columns, std::vector<std::string>{"unit_id"});
}

}  // namespace
}  // namespace unitsync::store
