// Thin RAII layer over the SQLite C API. The only file set that includes
// <sqlite3.h>; every SQLite result code becomes an Error here and nowhere else.
//
// Threading: a Db and its Statements belong to one thread at a time (the
// store thread); nothing here locks.
#pragma once

#include <sqlite3.h>

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

class Statement {
 public:
  Statement() = default;

  // Binding: 1-based indexes as in SQLite. By default text and blobs are
  // copied (SQLITE_TRANSIENT), so the arguments need not outlive the call.
  // kBorrow skips the copy (SQLITE_STATIC). REQUIRES for kBorrow: the bytes
  // stay valid until the parameter is bound again or the statement is reset
  // or finalized — e.g. a value held by a changeset for the whole apply.
  enum class Bytes { kCopy, kBorrow };
  void BindNull(int i) { sqlite3_bind_null(stmt_.get(), i); }
  void BindInt(int i, int64_t v) { sqlite3_bind_int64(stmt_.get(), i, v); }
  void BindText(int i, std::string_view v, Bytes b = Bytes::kCopy) {
    sqlite3_bind_text(stmt_.get(), i, v.data(), static_cast<int>(v.size()), Destructor(b));
  }
  void BindBlob(int i, std::span<const uint8_t> v, Bytes b = Bytes::kCopy);
  void BindValue(int i, const Value& v, Bytes b = Bytes::kCopy);

  // Runs one step. Returns true when a row is available, false when done.
  // On failure the statement is reset and the error says `context`.
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
  struct Finalizer {
    void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
  };
  Statement(sqlite3_stmt* stmt, sqlite3* db) : stmt_(stmt), db_(db) {}
  static sqlite3_destructor_type Destructor(Bytes b) {
    return b == Bytes::kBorrow ? SQLITE_STATIC : SQLITE_TRANSIENT;
  }

  std::unique_ptr<sqlite3_stmt, Finalizer> stmt_;
  sqlite3* db_ = nullptr;  // Not owned; outlived by the Db.
};

class Db {
 public:
  Db() = default;

  // Opens (and with `create`, creates) a database file with the hardening
  // from DESIGN.md applied: defensive mode, untrusted schema, no extension
  // loading, extended result codes. On failure nothing stays open.
  static Result<Db> Open(const std::string& path, bool create, bool read_only = false);

  // Runs one or more statements with no parameters and no result rows.
  Status Exec(std::string_view sql);
  Result<Statement> Prepare(std::string_view sql);

  // Rows changed by the most recent INSERT/UPDATE/DELETE.
  int64_t Changes() const { return sqlite3_changes64(db_.get()); }
  bool InTransaction() const { return sqlite3_get_autocommit(db_.get()) == 0; }
  sqlite3* raw() const { return db_.get(); }

 private:
  struct Closer {
    void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
  };
  explicit Db(sqlite3* db) : db_(db) {}
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
