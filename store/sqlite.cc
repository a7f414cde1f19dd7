#include "store/sqlite.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <list>
#include <unordered_map>

namespace unitsync::store {

namespace internal {

// A connection's idle prepared statements, the Db::kStatementCacheSize texts used last
// (store/DESIGN.md "Statement cache"). Belongs to the connection's thread like the Db.
class StatementCache {
 public:
  StatementCache() = default;
  StatementCache(const StatementCache&) = delete;
  StatementCache& operator=(const StatementCache&) = delete;
  ~StatementCache() { Close(); }

  // The idle statement compiled from `sql`, taken out of the cache; null if none.
  sqlite3_stmt* Take(std::string_view sql) {
    const auto it = index_.find(sql);
    if (it == index_.end()) return nullptr;
    sqlite3_stmt* s = it->second->stmt;
    lru_.erase(it->second);
    index_.erase(it);
    return s;
  }

  // A statement its user is done with: reset and kept, or finalized when the connection
  // is closed, when an idle one of the same text is kept already, or for a PRAGMA (some
  // compile their answer into the statement). The least recently used goes when full.
  void Return(sqlite3_stmt* s) {
    const char* text = sqlite3_sql(s);
    if (closed_ || text == nullptr || IsPragma(text)) {
      sqlite3_finalize(s);
      return;
    }
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    if (index_.count(std::string_view(text)) > 0) {
      sqlite3_finalize(s);
      return;
    }
    lru_.push_front(Entry{text, s});
    index_.emplace(lru_.front().sql, lru_.begin());
    if (lru_.size() > Db::kStatementCacheSize) {
      index_.erase(lru_.back().sql);
      sqlite3_finalize(lru_.back().stmt);
      lru_.pop_back();
    }
  }

  // Finalizes every idle statement; statements returned later are finalized.
  void Close() {
    for (const Entry& e : lru_) sqlite3_finalize(e.stmt);
    lru_.clear();
    index_.clear();
    closed_ = true;
  }

 private:
  struct Entry {
    std::string sql;
    sqlite3_stmt* stmt;
  };
  static bool IsPragma(const char* text) {
    while (std::isspace(static_cast<unsigned char>(*text))) ++text;
    return sqlite3_strnicmp(text, "PRAGMA", 6) == 0;
  }

  std::list<Entry> lru_;                                                    // front: returned last
  std::unordered_map<std::string_view, std::list<Entry>::iterator> index_;  // views of lru_
  bool closed_ = false;
};

}  // namespace internal

void Statement::Finalizer::operator()(sqlite3_stmt* s) const {
  if (cache) {
    cache->Return(s);
  } else {
    sqlite3_finalize(s);
  }
}

Db::Db(sqlite3* db) : db_(db, Closer{std::make_shared<internal::StatementCache>()}) {}

void Db::Closer::operator()(sqlite3* db) const {
  if (cache) cache->Close();
  sqlite3_close_v2(db);
}

Error SqliteError(int rc, sqlite3* db, std::string_view context) {
  const int primary = rc & 0xff;
  std::string detail = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  std::string message = std::string(context) + ": " + detail;
  switch (primary) {
    case SQLITE_FULL:
      return Error{Errc::kDiskFull, message, "free disk space; nothing was written"};
    case SQLITE_IOERR:
      return Error{Errc::kIo, message, "check the disk and the kernel log"};
    case SQLITE_CORRUPT:
      return Error{Errc::kCorrupt, message, "the replica file is damaged; restore or re-seed it"};
    case SQLITE_NOTADB:
      return Error{Errc::kNotAReplica, message, "the file is not a SQLite database"};
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return Error{Errc::kBusy, message, "another process holds the write lock; try again"};
    case SQLITE_CONSTRAINT:
      return Error{Errc::kConstraint, message, {}};
    case SQLITE_CANTOPEN:
      return Error{Errc::kNotFound, message, "check the path and its permissions"};
    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_AUTH:
      return Error{Errc::kIo, message, "check the file's permissions"};
    default:
      return Error{Errc::kInternal, message, {}};
  }
}

namespace {
// The plan installed on this thread, if any (ScopedSqliteFaults).
thread_local SqliteFaultPlan* t_fault_plan = nullptr;
}  // namespace

std::string_view SqliteCallName(SqliteCall call) {
  switch (call) {
    case SqliteCall::kOpen:
      return "open";
    case SqliteCall::kPrepare:
      return "prepare";
    case SqliteCall::kBind:
      return "bind";
    case SqliteCall::kStep:
      return "step";
    case SqliteCall::kExec:
      return "exec";
    case SqliteCall::kBackupStep:
      return "backup step";
  }
  return "?";
}

ScopedSqliteFaults::ScopedSqliteFaults(SqliteFaultPlan& plan) : previous_(t_fault_plan) {
  t_fault_plan = &plan;
}

ScopedSqliteFaults::~ScopedSqliteFaults() { t_fault_plan = previous_; }

int InjectedSqliteFault(SqliteCall call) {
  SqliteFaultPlan* plan = t_fault_plan;
  if (plan == nullptr) [[likely]]
    return SQLITE_OK;
  if (++plan->calls != plan->fail_at) return SQLITE_OK;
  plan->injected = true;
  plan->injected_call = call;
  return plan->rc;
}

bool Statement::BindFault() {
  const int rc = InjectedSqliteFault(SqliteCall::kBind);
  Bound(rc);
  return rc != SQLITE_OK;
}

void Statement::BindNull(int i) {
  if (!BindFault()) Bound(sqlite3_bind_null(stmt_.get(), i));
}

void Statement::BindInt(int i, int64_t v) {
  if (!BindFault()) Bound(sqlite3_bind_int64(stmt_.get(), i, v));
}

void Statement::BindText(int i, std::string_view v, Bytes b) {
  if (BindFault()) return;
  Bound(sqlite3_bind_text(stmt_.get(), i, v.data(), static_cast<int>(v.size()), Destructor(b)));
}

void Statement::BindBlob(int i, std::span<const uint8_t> v, Bytes b) {
  if (BindFault()) return;
  // A zero-length blob must still be a blob, not NULL: use zeroblob(0).
  if (v.empty()) {
    Bound(sqlite3_bind_zeroblob(stmt_.get(), i, 0));
  } else {
    Bound(sqlite3_bind_blob(stmt_.get(), i, v.data(), static_cast<int>(v.size()), Destructor(b)));
  }
}

void Statement::BindValue(int i, const Value& v, Bytes b) {
  std::visit(
      [&](const auto& x) {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, std::monostate>) {
          BindNull(i);
        } else if constexpr (std::is_same_v<T, int64_t>) {
          BindInt(i, x);
        } else if constexpr (std::is_same_v<T, double>) {
          if (!BindFault()) Bound(sqlite3_bind_double(stmt_.get(), i, x));
        } else if constexpr (std::is_same_v<T, std::string>) {
          BindText(i, x, b);
        } else {
          BindBlob(i, x, b);
        }
      },
      v);
}

Result<bool> Statement::Step() {
  if (bind_rc_ != SQLITE_OK) {
    // sqlite3_errmsg would describe the last call on the connection, not the bind.
    return tl::unexpected(
        SqliteError(bind_rc_, nullptr, std::string("bind for: ") + sqlite3_sql(stmt_.get())));
  }
  int rc = InjectedSqliteFault(SqliteCall::kStep);
  if (rc == SQLITE_OK) rc = sqlite3_step(stmt_.get());
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  Error err = SqliteError(rc, db_, std::string("step: ") + sqlite3_sql(stmt_.get()));
  sqlite3_reset(stmt_.get());
  return tl::unexpected(std::move(err));
}

Status Statement::Run() {
  for (;;) {
    auto row = Step();
    if (!row) return tl::unexpected(row.error());
    if (!*row) return {};
  }
}

void Statement::Reset() {
  bind_rc_ = SQLITE_OK;
  sqlite3_reset(stmt_.get());
  sqlite3_clear_bindings(stmt_.get());
}

std::string Statement::ColumnText(int i) const {
  const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_.get(), i));
  return p ? std::string(p, static_cast<size_t>(sqlite3_column_bytes(stmt_.get(), i)))
           : std::string();
}

Blob Statement::ColumnBlob(int i) const {
  const auto* p = static_cast<const uint8_t*>(sqlite3_column_blob(stmt_.get(), i));
  const int n = sqlite3_column_bytes(stmt_.get(), i);
  return p ? Blob(p, p + n) : Blob();
}

Value Statement::ColumnValue(int i) const {
  switch (sqlite3_column_type(stmt_.get(), i)) {
    case SQLITE_INTEGER:
      return ColumnInt(i);
    case SQLITE_FLOAT:
      return sqlite3_column_double(stmt_.get(), i);
    case SQLITE_TEXT:
      return ColumnText(i);
    case SQLITE_BLOB:
      return ColumnBlob(i);
    default:
      return std::monostate{};
  }
}

Result<Db> Db::Open(const std::string& path, bool create, bool read_only) {
  // Once per process, before its first connection initializes SQLite: no memory
  // statistics. Debian's SQLite keeps them by default, under a global mutex taken on
  // every allocation (~4 % of a re-seed's store thread, bench/RESULTS.md); nothing here
  // reads them. Once SQLite is initialized (by code that opened a database without Db)
  // the call changes nothing and returns SQLITE_MISUSE, which is fine.
  [[maybe_unused]] static const int memstatus_off = sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
  int flags = SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE;
  flags |= read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE;
  if (create && !read_only) flags |= SQLITE_OPEN_CREATE;
  if (const int injected = InjectedSqliteFault(SqliteCall::kOpen); injected != SQLITE_OK) {
    return tl::unexpected(SqliteError(injected, nullptr, "open " + path));
  }
  sqlite3* raw = nullptr;
  const int rc = sqlite3_open_v2(path.c_str(), &raw, flags, nullptr);
  Db db(raw);  // Owns the handle even when open failed.
  if (rc != SQLITE_OK) return tl::unexpected(SqliteError(rc, raw, "open " + path));

  // DESIGN.md "SQLite hardening".
  sqlite3_db_config(raw, SQLITE_DBCONFIG_DEFENSIVE, 1, nullptr);
  sqlite3_db_config(raw, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, nullptr);
  sqlite3_db_config(raw, SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION, 0, nullptr);
  sqlite3_extended_result_codes(raw, 1);
  sqlite3_busy_timeout(raw, 5000);
  return db;
}

Result<int64_t> Db::QueryInt(std::string_view sql) {
  auto stmt = Prepare(sql);
  if (!stmt) return tl::unexpected(stmt.error());
  auto row = stmt->Step();
  if (!row) return tl::unexpected(row.error());
  return *row ? stmt->ColumnInt(0) : 0;
}

Status Db::EnableTriggers(bool on) {
  const int rc = sqlite3_db_config(db_.get(), SQLITE_DBCONFIG_ENABLE_TRIGGER, on ? 1 : 0, nullptr);
  if (rc != SQLITE_OK) return tl::unexpected(SqliteError(rc, db_.get(), "enable triggers"));
  return {};
}

Status Db::Exec(std::string_view sql) {
  const std::string text(sql);
  auto head = [&text] { return text.substr(0, text.find_first_of("\n(")).substr(0, 60); };
  // A ROLLBACK is never failed by the seam: SQLite does not fail one in practice (no
  // pending statement blocks it since 3.7.11), and a rollback that did not happen would
  // leave the transaction open, which no real fault does.
  if (text != "ROLLBACK") {
    if (const int injected = InjectedSqliteFault(SqliteCall::kExec); injected != SQLITE_OK) {
      return tl::unexpected(SqliteError(injected, nullptr, "exec " + head()));
    }
  }
  // One statement (nearly every call: BEGIN, COMMIT, one UPDATE) runs through the cache;
  // several go to sqlite3_exec. Either way the seam counted one call, kExec.
  sqlite3_stmt* raw = nullptr;
  std::string_view rest;
  int rc = Compile(sql, &raw, &rest);
  if (rc != SQLITE_OK) return tl::unexpected(SqliteError(rc, db_.get(), "exec " + head()));
  const bool single = std::all_of(rest.begin(), rest.end(), [](char c) {
    return c == ';' || std::isspace(static_cast<unsigned char>(c));
  });
  if (single) {
    if (raw == nullptr) return {};  // blank text
    const Statement one(raw, db_.get(), db_.get_deleter().cache);
    while ((rc = sqlite3_step(raw)) == SQLITE_ROW) {
    }
    if (rc == SQLITE_DONE) return {};
    return tl::unexpected(SqliteError(rc, db_.get(), "exec " + head()));
  }
  sqlite3_finalize(raw);  // the first of several: sqlite3_exec runs them all
  char* err = nullptr;
  rc = sqlite3_exec(db_.get(), text.c_str(), nullptr, nullptr, &err);
  sqlite3_free(err);  // SqliteError re-reads the message from the handle.
  if (rc != SQLITE_OK) return tl::unexpected(SqliteError(rc, db_.get(), "exec " + head()));
  return {};
}

int Db::Compile(std::string_view sql, sqlite3_stmt** out, std::string_view* rest) {
  *out = nullptr;
  *rest = {};
  if (internal::StatementCache* c = cache(); c != nullptr) {
    if ((*out = c->Take(sql)) != nullptr) return SQLITE_OK;
  }
  const char* tail = nullptr;
  const int rc = sqlite3_prepare_v3(db_.get(), sql.data(), static_cast<int>(sql.size()),
                                    SQLITE_PREPARE_PERSISTENT, out, &tail);
  if (rc != SQLITE_OK) {
    sqlite3_finalize(*out);
    *out = nullptr;
  } else if (tail != nullptr) {
    *rest = sql.substr(static_cast<size_t>(tail - sql.data()));
  }
  return rc;
}

Result<Statement> Db::Prepare(std::string_view sql) {
  if (const int injected = InjectedSqliteFault(SqliteCall::kPrepare); injected != SQLITE_OK) {
    return tl::unexpected(
        SqliteError(injected, nullptr, "prepare " + std::string(sql.substr(0, 60))));
  }
  sqlite3_stmt* stmt = nullptr;
  std::string_view rest;
  const int rc = Compile(sql, &stmt, &rest);
  if (rc != SQLITE_OK) {
    return tl::unexpected(SqliteError(rc, db_.get(), "prepare " + std::string(sql.substr(0, 60))));
  }
  return Statement(stmt, db_.get(), db_.get_deleter().cache);
}

Result<Transaction> Transaction::Begin(Db& db, Kind kind) {
  auto st = db.Exec(kind == Kind::kImmediate ? "BEGIN IMMEDIATE" : "BEGIN");
  if (!st) return tl::unexpected(st.error());
  return Transaction(&db);
}

Transaction::~Transaction() {
  if (db_ != nullptr && db_->InTransaction()) (void)db_->Exec("ROLLBACK");
}

Status Transaction::Commit() {
  Db* db = db_;
  db_ = nullptr;
  auto st = db->Exec("COMMIT");
  if (!st && db->InTransaction()) (void)db->Exec("ROLLBACK");
  return st;
}

}  // namespace unitsync::store
