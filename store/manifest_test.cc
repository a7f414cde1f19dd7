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

}  // namespace
}  // namespace unitsync::store
