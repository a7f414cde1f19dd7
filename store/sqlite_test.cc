// The SQLite wrapper's statement cache (store/DESIGN.md "Statement cache"): a statement
// comes back reset with its bindings cleared, a text in use twice at once gets two
// statements, schema changes reach cached statements, PRAGMAs are never cached, the cache
// is bounded, and a statement may outlive its connection. And EnableTriggers reaches
// cached statements.
#include "store/sqlite.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace unitsync::store {
namespace {

// The statements the connection holds (cached or in use).
std::vector<sqlite3_stmt*> StatementsOf(const Db& db) {
  std::vector<sqlite3_stmt*> out;
  for (sqlite3_stmt* s = sqlite3_next_stmt(db.raw(), nullptr); s != nullptr;
       s = sqlite3_next_stmt(db.raw(), s)) {
    out.push_back(s);
  }
  return out;
}

Db Memory() {
  auto db = Db::Open(":memory:", true);
  EXPECT_TRUE(db) << db.error().ToString();
  EXPECT_TRUE(db->Exec("CREATE TABLE t(a INTEGER, b TEXT)"));
  return std::move(*db);
}

int64_t CountRows(Db& db) {
  auto s = db.Prepare("SELECT count(*) FROM t");
  EXPECT_TRUE(s && s->Step().value_or(false));
  return s->ColumnInt(0);
}

TEST(StatementCache, AStatementIsCompiledOnceAndComesBackResetAndUnbound) {
  Db db = Memory();
  const size_t before = StatementsOf(db).size();
  for (int i = 0; i < 5; ++i) {
    auto ins = db.Prepare("INSERT INTO t(a, b) VALUES (?, ?)");
    ASSERT_TRUE(ins) << ins.error().ToString();
    if (i == 0) {  // only the first use binds: later uses must not see these values
      ins->BindInt(1, 7);
      ins->BindText(2, "x");
    }
    ASSERT_TRUE(ins->Run());
  }
  EXPECT_EQ(StatementsOf(db).size(), before + 1) << "one compiled INSERT for five uses";
  auto q = db.Prepare("SELECT count(*) FROM t WHERE a IS NULL AND b IS NULL");
  ASSERT_TRUE(q && q->Step().value_or(false));
  EXPECT_EQ(q->ColumnInt(0), 4) << "a reused statement kept an old binding";
}

TEST(StatementCache, AStatementLeftMidResultHoldsNoReadTransactionOnceReturned) {
  Db db = Memory();
  ASSERT_TRUE(db.Exec("INSERT INTO t(a) VALUES (1), (2), (3)"));
  {
    auto s = db.Prepare("SELECT a FROM t ORDER BY a");
    ASSERT_TRUE(s && s->Step().value_or(false));  // one row read, two pending
  }
  for (sqlite3_stmt* s : StatementsOf(db)) EXPECT_FALSE(sqlite3_stmt_busy(s)) << sqlite3_sql(s);
  auto again = db.Prepare("SELECT a FROM t ORDER BY a");
  ASSERT_TRUE(again && again->Step().value_or(false));
  EXPECT_EQ(again->ColumnInt(0), 1) << "a reused statement must start from its first row";
}

TEST(StatementCache, TheSameTextInUseTwiceAtOnceGetsTwoStatements) {
  Db db = Memory();
  ASSERT_TRUE(db.Exec("INSERT INTO t(a) VALUES (1), (2)"));
  auto outer = db.Prepare("SELECT a FROM t ORDER BY a");
  auto inner = db.Prepare("SELECT a FROM t ORDER BY a");
  ASSERT_TRUE(outer && inner);
  ASSERT_TRUE(outer->Step().value_or(false));
  ASSERT_TRUE(inner->Step().value_or(false));
  ASSERT_TRUE(inner->Step().value_or(false));
  EXPECT_EQ(outer->ColumnInt(0), 1);
  EXPECT_EQ(inner->ColumnInt(0), 2);
}

TEST(StatementCache, SchemaChangesReachCachedStatementsAndPragmasAreNeverCached) {
  Db db = Memory();
  {
    auto s = db.Prepare("SELECT * FROM t");
    ASSERT_TRUE(s && s->Run());
  }
  auto info = [&] {
    int n = 0;
    auto s = db.Prepare("PRAGMA table_info(t)");
    EXPECT_TRUE(s);
    while (s && s->Step().value_or(false)) ++n;
    return n;
  };
  EXPECT_EQ(info(), 2);
  ASSERT_TRUE(db.Exec("ALTER TABLE t ADD COLUMN c TEXT"));
  ASSERT_TRUE(db.Exec("INSERT INTO t(a, b, c) VALUES (1, 'x', 'y')"));
  EXPECT_EQ(info(), 3) << "a PRAGMA's answer came from a stale statement";
  auto s = db.Prepare("SELECT * FROM t");
  ASSERT_TRUE(s && s->Step().value_or(false));
  EXPECT_EQ(s->ColumnText(2), "y") << "the cached SELECT * did not see the new column";
}

TEST(StatementCache, TheCacheIsBoundedAndExecOfSeveralStatementsRunsThemAll) {
  Db db = Memory();
  const size_t before = StatementsOf(db).size();
  for (size_t i = 0; i < 3 * Db::kStatementCacheSize; ++i) {
    auto s = db.Prepare("SELECT " + std::to_string(i));
    ASSERT_TRUE(s && s->Run());
  }
  EXPECT_LE(StatementsOf(db).size(), before + Db::kStatementCacheSize);
  ASSERT_TRUE(db.Exec("INSERT INTO t(a) VALUES (1); INSERT INTO t(a) VALUES (2);\n"));
  EXPECT_EQ(CountRows(db), 2);
  ASSERT_TRUE(db.Exec("  "));
  auto bad = db.Exec("INSERT INTO nowhere VALUES (1)");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("exec INSERT INTO nowhere VALUES"), std::string::npos)
      << bad.error().message;
}

TEST(StatementCache, AStatementMayOutliveItsConnection) {
  auto db = Db::Open(":memory:", true);
  ASSERT_TRUE(db);
  auto s = db->Prepare("SELECT 1");
  ASSERT_TRUE(s);
  {
    ASSERT_TRUE(db->Prepare("SELECT 2"));  // compiled and kept
    Db moved = std::move(*db);             // the cache moves with the connection
    const size_t held = StatementsOf(moved).size();
    auto t = moved.Prepare("SELECT 2");
    ASSERT_TRUE(t && t->Run());
    EXPECT_EQ(StatementsOf(moved).size(), held) << "the moved connection lost its cache";
  }  // closed here, with `s` still alive
}  // `s` finalizes itself; ASan checks nothing leaks or is used after free

// The merge binds and reads row values through Value; the shipped schema has no REAL or
// BLOB column, so this is where those types are checked.
TEST(StatementValues, EveryTypeRoundTripsAndAFailedBindOfAnyTypeFailsTheStepUnrun) {
  auto db = Db::Open(":memory:", true);
  ASSERT_TRUE(db) << db.error().ToString();
  ASSERT_TRUE(db->Exec("CREATE TABLE v(x ANY) STRICT"));
  const std::vector<Value> values = {Value{},
                                     Value{int64_t{-7}},
                                     Value{2.5},
                                     Value{std::string("text")},
                                     Value{Blob{0, 1, 255}},
                                     Value{Blob{}}};
  for (const Value& v : values) {
    auto insert = db->Prepare("INSERT INTO v(x) VALUES (?1)");
    ASSERT_TRUE(insert);
    insert->BindValue(1, v);
    ASSERT_TRUE(insert->Run());
  }
  std::vector<Value> back;
  {
    auto select = db->Prepare("SELECT x FROM v ORDER BY rowid");
    ASSERT_TRUE(select);
    while (select->Step().value_or(false)) back.push_back(select->ColumnValue(0));
  }
  EXPECT_EQ(back, values) << "an empty blob stays a blob";

  for (const Value& v : values) {
    auto insert = db->Prepare("INSERT INTO v(x) VALUES (?1)");
    ASSERT_TRUE(insert);
    SqliteFaultPlan plan;
    plan.fail_at = 1;
    plan.rc = SQLITE_IOERR;
    {
      ScopedSqliteFaults faults(plan);
      insert->BindValue(1, v);
    }
    ASSERT_TRUE(plan.injected);
    EXPECT_EQ(plan.injected_call, SqliteCall::kBind);
    auto st = insert->Run();
    ASSERT_FALSE(st) << "ran with the parameter unbound";
    EXPECT_EQ(st.error().code, Errc::kIo) << st.error().ToString();
  }
  auto count = db->Prepare("SELECT count(*) FROM v");
  ASSERT_TRUE(count && count->Step().value_or(false));
  EXPECT_EQ(count->ColumnInt(0), static_cast<int64_t>(values.size()));
}

// SQLite's result codes are translated here and nowhere else; the Errc decides what the
// caller does (retry a busy or I/O failure, stop on a constraint, re-seed a corrupt file).
TEST(SqliteError, EachResultCodeMapsToItsErrcAndExtendedCodesToTheirPrimary) {
  const std::pair<int, Errc> cases[] = {
      {SQLITE_FULL, Errc::kDiskFull},
      {SQLITE_IOERR, Errc::kIo},
      {SQLITE_IOERR_WRITE, Errc::kIo},
      {SQLITE_IOERR_FSYNC, Errc::kIo},
      {SQLITE_CORRUPT, Errc::kCorrupt},
      {SQLITE_NOTADB, Errc::kNotAReplica},
      {SQLITE_BUSY, Errc::kBusy},
      {SQLITE_LOCKED, Errc::kBusy},
      {SQLITE_BUSY_SNAPSHOT, Errc::kBusy},
      {SQLITE_CONSTRAINT, Errc::kConstraint},
      {SQLITE_CONSTRAINT_CHECK, Errc::kConstraint},
      {SQLITE_CANTOPEN, Errc::kNotFound},
      {SQLITE_READONLY, Errc::kIo},
      {SQLITE_PERM, Errc::kIo},
      {SQLITE_AUTH, Errc::kIo},
      {SQLITE_MISUSE, Errc::kInternal},
  };
  for (const auto& [rc, errc] : cases) {
    const Error e = SqliteError(rc, nullptr, "step: SELECT 1");
    EXPECT_EQ(e.code, errc) << rc << ": " << e.ToString();
    EXPECT_EQ(e.message, std::string("step: SELECT 1: ") + sqlite3_errstr(rc)) << rc;
  }
  EXPECT_NE(SqliteError(SQLITE_READONLY, nullptr, "x").hint.find("permissions"), std::string::npos);
  EXPECT_NE(SqliteError(SQLITE_FULL, nullptr, "x").hint.find("nothing was written"),
            std::string::npos);
}

// A failed Exec names the statement by its head (up to the first '(' or line end), so a
// value in the SQL never reaches an error message or a log.
TEST(SqliteExec, AFailureIsTranslatedAndNamesTheStatementHeadWithoutValues) {
  auto db = Db::Open(":memory:", true);
  ASSERT_TRUE(db) << db.error().ToString();
  ASSERT_TRUE(db->Exec("CREATE TABLE c(x INTEGER CHECK (x > 0), note TEXT)"));
  struct Case {
    const char* sql;
    Errc code;
    const char* head;
  } cases[] = {
      {"SELEC 1", Errc::kInternal, "exec SELEC 1: "},  // does not compile
      {"INSERT INTO c(x, note) VALUES (-1, 'Alva')", Errc::kConstraint, "exec INSERT INTO c: "},
      {"INSERT INTO c(x, note) VALUES (1, 'Alva'); INSERT INTO c(x, note) VALUES (-2, 'Bo')",
       Errc::kConstraint, "exec INSERT INTO c: "},  // several statements
  };
  for (const Case& c : cases) {
    auto st = db->Exec(c.sql);
    ASSERT_FALSE(st) << c.sql;
    EXPECT_EQ(st.error().code, c.code) << st.error().ToString();
    EXPECT_EQ(st.error().message.rfind(c.head, 0), 0u) << st.error().message;
    EXPECT_EQ(st.error().message.find("Alva"), std::string::npos) << st.error().message;
    EXPECT_EQ(st.error().message.find("Bo"), std::string::npos) << st.error().message;
  }
  // Several statements run one by one, as sqlite3_exec does: the first stays.
  auto count = db->Prepare("SELECT count(*) FROM c");
  ASSERT_TRUE(count && count->Step().value_or(false));
  EXPECT_EQ(count->ColumnInt(0), 1);
}

TEST(SqliteOpen, AFileThatCannotBeOpenedIsNotFoundNamingThePath) {
  const std::string path = "/nonexistent-unitsync-dir/replica.db";
  auto db = Db::Open(path, /*create=*/true);
  ASSERT_FALSE(db);
  EXPECT_EQ(db.error().code, Errc::kNotFound) << db.error().ToString();
  EXPECT_EQ(db.error().message.rfind("open " + path + ": ", 0), 0u) << db.error().message;
  EXPECT_FALSE(db.error().hint.empty());
}

// Db::EnableTriggers: a cached statement compiled with triggers on must not fire them once
// they are off, and must fire them again once they are back on (SQLite recompiles).
TEST(EnableTriggers, CachedStatementsFollowTheSetting) {
  Db db = Memory();
  ASSERT_TRUE(
      db.Exec("CREATE TABLE fired(n INTEGER);"
              "CREATE TRIGGER t_ins AFTER INSERT ON t BEGIN INSERT INTO fired VALUES (1); "
              "END"));
  auto fired = [&db] {
    auto s = db.Prepare("SELECT count(*) FROM fired");
    EXPECT_TRUE(s && s->Step().value_or(false));
    return s->ColumnInt(0);
  };
  auto insert = [&db] {
    auto s = db.Prepare("INSERT INTO t(a) VALUES (1)");
    ASSERT_TRUE(s);
    auto st = s->Run();
    ASSERT_TRUE(st) << st.error().ToString();
  };
  insert();  // compiled with the trigger and kept in the cache
  EXPECT_EQ(fired(), 1);
  ASSERT_TRUE(db.EnableTriggers(false));
  insert();
  EXPECT_EQ(fired(), 1) << "the cached INSERT still fired its trigger";
  ASSERT_TRUE(db.EnableTriggers(true));
  insert();
  EXPECT_EQ(fired(), 2);
  EXPECT_EQ(CountRows(db), 3);
}

}  // namespace
}  // namespace unitsync::store
