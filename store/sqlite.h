// Thin RAII layer over the SQLite C API. The only file set that includes
// <sqlite3.h>; every SQLite result code becomes an Error here and nowhere else.
//
// Threading: a Db and its Statements belong to one thread at a time (the
// store thread); nothing here locks.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "common/error.h"
#include "store/value.h"

namespace unitsync::store {

// Translates a SQLite result code into an Error. `context` says what was being
// done ("insert into support_action"); SQLite's own message is appended, which
// names tables and constraints but never bound values.
Error SqliteError(int rc, sqlite3* db, std::string_view context);

// Test-only fault seam (DESIGN.md "Fault seam"). While a SqliteFaultPlan is
// installed on a thread with ScopedSqliteFaults, every call of this wrapper
// on that thread that may fail — open, prepare, bind, step, exec (but
// ROLLBACK), backup step — is counted, and the `fail_at`-th one fails with
// `rc` instead of reaching SQLite (a bind stores the code, which the next
// Step() returns). Nothing else changes: with no plan installed the check is
// one thread-local load. There is no other way to install a plan (no
// environment variable, no config key); production code never does.
enum class SqliteCall { kOpen, kPrepare, kBind, kStep, kExec, kBackupStep };
std::string_view SqliteCallName(SqliteCall call);

struct SqliteFaultPlan {
  int64_t fail_at = 0;  // 1-based; 0 counts calls and fails none
  int rc = SQLITE_IOERR;
  // Out: calls counted so far; the failed call, when one was injected.
  int64_t calls = 0;
  bool injected = false;
  SqliteCall injected_call = SqliteCall::kOpen;
};

// Installs `plan` (not owned; it must outlive the guard) on the calling
// thread until the guard goes; guards nest, the innermost plan counts.
class ScopedSqliteFaults {
 public:
  explicit ScopedSqliteFaults(SqliteFaultPlan& plan);
  ScopedSqliteFaults(const ScopedSqliteFaults&) = delete;
  ScopedSqliteFaults& operator=(const ScopedSqliteFaults&) = delete;
  ~ScopedSqliteFaults();

 private:
  SqliteFaultPlan* previous_;
};

// The seam's check, for the wrapper's call sites and backup.cc's
// sqlite3_backup_step: SQLITE_OK, or the code to fail this call with.
int InjectedSqliteFault(SqliteCall call);

namespace internal {
class StatementCache;
}

// A prepared statement. One from Db::Prepare goes back to its connection's cache when it
// is destroyed (reset, bindings cleared), and the next Prepare of the same text takes it
// from there instead of compiling the SQL again (store/DESIGN.md "Statement cache").
class Statement {
 public:
  Statement() = default;

  // Binding: 1-based indexes as in SQLite. By default text and blobs are
  // copied (SQLITE_TRANSIENT), so the arguments need not outlive the call.
  // kBorrow skips the copy (SQLITE_STATIC). REQUIRES for kBorrow: the bytes
  // stay valid until the parameter is bound again or the statement is reset
  // or finalized — e.g. a value held by a changeset for the whole apply.
  enum class Bytes { kCopy, kBorrow };
  // A bind that fails (SQLITE_RANGE, SQLITE_NOMEM, SQLITE_TOOBIG) is not
  // lost: the statement keeps the first such code and every Step() until
  // the next Reset() fails with it, without running, so a statement never
  // runs with a parameter silently left NULL.
  void BindNull(int i);
  void BindInt(int i, int64_t v);
  void BindText(int i, std::string_view v, Bytes b = Bytes::kCopy);
  void BindBlob(int i, std::span<const uint8_t> v, Bytes b = Bytes::kCopy);
  void BindValue(int i, const Value& v, Bytes b = Bytes::kCopy);

  // Runs one step. Returns true when a row is available, false when done.
  // On failure (a failed bind included) the statement is reset and the
  // error names the statement.
  Result<bool> Step();
  // Step() until done, ignoring rows; for INSERT/UPDATE/DELETE.
  Status Run();
  // Resets the statement and clears its bindings so it can run again.
  void Reset();

  int64_t ColumnInt(int i) const { return sqlite3_column_int64(stmt_.get(), i); }
  bool ColumnIsNull(int i) const { return sqlite3_column_type(stmt_.get(), i) == SQLITE_NULL; }
  std::string ColumnText(int i) const;
  Blob ColumnBlob(int i) const;
  Value ColumnValue(int i) const;

  bool valid() const { return stmt_ != nullptr; }

 private:
  friend class Db;
  // Hands the statement back to its connection's cache, or finalizes it when there is
  // none (the connection is closed, or the statement did not come from Db::Prepare).
  struct Finalizer {
    std::shared_ptr<internal::StatementCache> cache;
    void operator()(sqlite3_stmt* s) const;
  };
  Statement(sqlite3_stmt* stmt, sqlite3* db, std::shared_ptr<internal::StatementCache> cache)
      : stmt_(stmt, Finalizer{std::move(cache)}), db_(db) {}
  void Bound(int rc) {
    if (rc != SQLITE_OK && bind_rc_ == SQLITE_OK) bind_rc_ = rc;
  }
  bool BindFault();  // true: the seam failed this bind (recorded in bind_rc_)
  static sqlite3_destructor_type Destructor(Bytes b) {
    return b == Bytes::kBorrow ? SQLITE_STATIC : SQLITE_TRANSIENT;
  }

  std::unique_ptr<sqlite3_stmt, Finalizer> stmt_;
  sqlite3* db_ = nullptr;    // Not owned; outlived by the Db.
  int bind_rc_ = SQLITE_OK;  // First failed bind since the last Reset().
};

class Db {
 public:
  Db() = default;

  // Opens (and with `create`, creates) a database file with the hardening
  // from DESIGN.md applied: defensive mode, untrusted schema, no extension
  // loading, extended result codes. On failure nothing stays open.
  static Result<Db> Open(const std::string& path, bool create, bool read_only = false);

  // Runs one or more statements with no parameters and no result rows. A single
  // statement runs through the statement cache like Prepare.
  Status Exec(std::string_view sql);
  // A statement for `sql`: compiled once per connection and then reused (the cache keeps
  // the kStatementCacheSize texts used last; a text in use twice at once gets a second
  // statement).
  Result<Statement> Prepare(std::string_view sql);
  static constexpr size_t kStatementCacheSize = 64;

  // The first column of `sql`'s first row as an integer, 0 when it returns no row (a
  // count, a PRAGMA's value).
  Result<int64_t> QueryInt(std::string_view sql);

  // Turns every trigger of this connection off or on (SQLITE_DBCONFIG_ENABLE_TRIGGER; on
  // by default). A change makes SQLite recompile each statement at its next step.
  Status EnableTriggers(bool on);

  // Rows changed by the most recent INSERT/UPDATE/DELETE.
  int64_t Changes() const { return sqlite3_changes64(db_.get()); }
  bool InTransaction() const { return sqlite3_get_autocommit(db_.get()) == 0; }
  sqlite3* raw() const { return db_.get(); }

 private:
  // Finalizes the cached statements, then closes the connection. (A Statement still
  // alive finalizes itself later; sqlite3_close_v2 keeps the connection until then.)
  struct Closer {
    std::shared_ptr<internal::StatementCache> cache;
    void operator()(sqlite3* db) const;
  };
  explicit Db(sqlite3* db);
  internal::StatementCache* cache() const { return db_.get_deleter().cache.get(); }
  // The first statement of `sql`, from the cache or compiled (`rest`: what follows it;
  // `*out` null for blank text); a SQLite code. Not counted by the fault seam.
  int Compile(std::string_view sql, sqlite3_stmt** out, std::string_view* rest);
  std::unique_ptr<sqlite3, Closer> db_;
};

// A transaction that rolls back unless Commit() succeeded. IMMEDIATE takes
// the write lock up front, so a read-then-write inside cannot hit SQLITE_BUSY
// halfway through.
class Transaction {
 public:
  enum class Kind { kDeferred, kImmediate };
  static Result<Transaction> Begin(Db& db, Kind kind = Kind::kImmediate);
  Transaction(Transaction&& other) noexcept : db_(other.db_) { other.db_ = nullptr; }
  Transaction& operator=(Transaction&&) = delete;
  ~Transaction();

  Status Commit();

 private:
  explicit Transaction(Db* db) : db_(db) {}
  Db* db_;  // Null once committed, rolled back or moved from.
};

}  // namespace unitsync::store
