#include "tests/faults/ledger.h"

#include <sqlite3.h>

#include <cstdio>

namespace unitsync::faults {
namespace {

// Runs `sql` with `args` bound as text; the rows it changed, or -1 on failure.
int64_t Run(store::Replica& r, const std::string& sql, const std::vector<std::string>& args) {
  auto stmt = r.db().Prepare(sql);
  if (!stmt) return -1;
  for (size_t i = 0; i < args.size(); ++i) stmt->BindText(static_cast<int>(i + 1), args[i]);
  if (!stmt->Run()) return -1;
  return r.db().Changes();
}

}  // namespace

std::string Ledger::NextToken() {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "w%012llu", static_cast<unsigned long long>(next_token_++));
  return buf;
}

void Ledger::Write(store::Replica& r, const std::string& node,
                   const std::vector<std::string>& units, std::mt19937_64& rng,
                   std::vector<std::string>& violations) {
  std::vector<std::string>& live = live_[node];
  const int dice = static_cast<int>(rng() % 100);
  enum {
    kInsert,
    kUpdate,
    kDelete
  } op = live.size() < 10 || dice < 35 ? kInsert
         : dice < 88                   ? kUpdate
                                       : kDelete;
  RowFate fate;
  std::string id;
  size_t pick = 0;
  if (op == kInsert) {
    const uint64_t n = next_id_[node]++;
    if (node != kCentralNode) {
      fate = {"student", node, node, "", false};
      id = "s-" + node + "-" + std::to_string(n);
    } else if (rng() % 4 == 0) {
      fate = {"action_type", "", node, "", false};
      id = "a-" + std::to_string(n);
    } else {
      const std::string& unit = units[rng() % units.size()];
      fate = {"student", unit, node, "", false};
      id = "c-" + unit + "-" + std::to_string(n);
    }
  } else {
    pick = rng() % live.size();
    id = live[pick];
    fate = rows_.at(id);
  }
  const std::string token = NextToken();
  const bool student = fate.table == "student";
  if (!r.db().Exec("BEGIN IMMEDIATE")) {
    ++counts_.failed;
    return;
  }
  int64_t changed = -1;
  if (op == kInsert) {
    changed = student ? Run(r,
                            "INSERT INTO student(id, unit_id, pseudo_id, grade) "
                            "VALUES (?1, ?2, 'p', ?3)",
                            {id, fate.scope, token})
                      : Run(r,
                            "INSERT INTO action_type(id, code, name, level, valid_from) "
                            "VALUES (?1, ?1, ?2, 'annat', '2026-01-01')",
                            {id, token});
  } else if (op == kUpdate) {
    changed = Run(r,
                  student ? "UPDATE student SET grade = ?2 WHERE id = ?1"
                          : "UPDATE action_type SET name = ?2 WHERE id = ?1",
                  {id, token});
  } else {
    changed = Run(r, "DELETE FROM " + fate.table + " WHERE id = ?1", {id});
  }
  if (changed < 0 || !r.db().Exec("COMMIT")) {
    (void)r.db().Exec("ROLLBACK");
    ++counts_.failed;
    return;
  }
  if (changed != 1) {
    violations.push_back("row " + id + " written by " + node + " is missing at its writer");
    return;
  }
  if (op == kDelete) {
    rows_[id].deleted = true;
    live.erase(live.begin() + static_cast<std::ptrdiff_t>(pick));
    ++counts_.deletes;
    return;
  }
  fate.token = token;
  rows_[id] = fate;
  if (op == kInsert) {
    live.push_back(id);
    ++counts_.inserts;
  } else {
    ++counts_.updates;
  }
}

bool Holds(const std::string& node, const RowFate& row) {
  return node == kCentralNode || row.scope.empty() || row.scope == node;
}

Result<Tokens> ReadTokens(store::Replica& r) {
  Tokens out;
  for (const char* sql : {"SELECT id, grade FROM student WHERE grade LIKE 'w%'",
                          "SELECT id, name FROM action_type WHERE name LIKE 'w%'"}) {
    auto stmt = r.db().Prepare(sql);
    if (!stmt) return tl::unexpected(stmt.error());
    for (;;) {
      auto row = stmt->Step();
      if (!row) return tl::unexpected(row.error());
      if (!*row) break;
      out[stmt->ColumnText(0)] = stmt->ColumnText(1);
    }
  }
  return out;
}

std::string IntegrityCheck(const std::string& path) {
  sqlite3* db = nullptr;
  std::string out;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr) != SQLITE_OK) {
    out = std::string("cannot open: ") + sqlite3_errmsg(db);
    sqlite3_close(db);
    return out;
  }
  sqlite3_busy_timeout(db, 10000);
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &stmt, nullptr) != SQLITE_OK) {
    out = std::string("cannot check: ") + sqlite3_errmsg(db);
  } else {
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
      if (!out.empty()) out += "; ";
      out += reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
    }
    if (rc != SQLITE_DONE) out += std::string(" (step: ") + sqlite3_errmsg(db) + ")";
  }
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return out;
}

Result<int64_t> ConflictCount(store::Replica& r) {
  auto stmt = r.db().Prepare("SELECT count(*) FROM _us_conflicts");
  if (!stmt) return tl::unexpected(stmt.error());
  auto row = stmt->Step();
  if (!row) return tl::unexpected(row.error());
  return stmt->ColumnInt(0);
}

std::vector<std::string> CheckFinal(const Ledger& ledger, const std::string& node,
                                    const Tokens& tokens) {
  std::vector<std::string> out;
  for (const auto& [id, row] : ledger.rows()) {
    if (!Holds(node, row)) continue;
    const auto it = tokens.find(id);
    if (row.deleted && it != tokens.end()) {
      out.push_back(node + ": " + row.table + " " + id + " deleted by " + row.writer +
                    " is live (" + it->second + ")");
    } else if (!row.deleted && it == tokens.end()) {
      out.push_back(node + ": " + row.table + " " + id + " lost: last write " + row.token + " by " +
                    row.writer + " acknowledged, row missing");
    } else if (!row.deleted && it->second != row.token) {
      out.push_back(node + ": " + row.table + " " + id + " holds " + it->second +
                    ", last write was " + row.token + " by " + row.writer);
    }
  }
  for (const auto& [id, token] : tokens) {
    const auto it = ledger.rows().find(id);
    if (it == ledger.rows().end() || !Holds(node, it->second)) {
      out.push_back(node + ": row " + id + " (" + token + ") is not one it should hold");
    }
  }
  return out;
}

void MonotonicCheck::Observe(const Ledger& ledger, const std::string& node, const Tokens& tokens,
                             std::vector<std::string>& violations) {
  ++observations_;
  for (const auto& [id, token] : tokens) {
    const auto fate = ledger.rows().find(id);
    Seen& seen = seen_[{node, id}];
    if (fate == ledger.rows().end() || token > fate->second.token) {
      violations.push_back(node + ": row " + id + " holds " + token + ", never committed");
    } else if (seen.gone) {
      violations.push_back(node + ": row " + id + " came back after its delete");
    } else if (token < seen.token) {
      violations.push_back(node + ": row " + id + " went back from " + seen.token + " to " + token +
                           " (a write applied again)");
    }
    seen.token = std::max(seen.token, token);
  }
  for (auto& [key, seen] : seen_) {
    if (key.first != node || seen.gone || seen.token.empty() || tokens.count(key.second)) {
      continue;
    }
    const auto fate = ledger.rows().find(key.second);
    if (fate != ledger.rows().end() && fate->second.deleted) {
      seen.gone = true;
    } else {
      violations.push_back(node + ": row " + key.second + " (seen at " + seen.token +
                           ") vanished, its writer never deleted it");
    }
  }
}

}  // namespace unitsync::faults
