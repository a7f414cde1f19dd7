#include "tests/sim/workload.h"

#include <stdexcept>

#include "store/purge.h"
#include "tests/sim/sql.h"

namespace unitsync::sim {
namespace {

const char* kNames[] = {
    "insert_student",
    "insert_private_student",
    "update_student",
    "delete_student",
    "insert_case",
    "update_case",
    "delete_case",
    "insert_action",
    "update_action",
    "delete_action",
    "purge_action",
    "central_insert_action_type",
    "central_update_action_type",
    "central_update_student",
    "central_update_action",
    "central_delete_action",
    "central_move_student",
    "central_purge_action",
};

std::string Pick(const std::vector<std::string>& ids, std::mt19937_64& rng) {
  return ids.empty() ? std::string() : ids[rng() % ids.size()];
}

// The write whose token the row's tracked column holds at `r` now (0: none).
uint64_t SeenWrite(store::Replica& r, const std::string& table, const std::string& id) {
  auto v = QueryColumn(
      r, std::string("SELECT ") + TrackedColumn(table) + " FROM " + table + " WHERE id = ?1", {id});
  if (v.empty()) return 0;
  return ParseToken(v[0]).value_or(0);
}

}  // namespace

std::string_view OpKindName(OpKind kind) { return kNames[static_cast<size_t>(kind)]; }

bool Workload::RunOne(std::mt19937_64& rng, int step, bool central_may_write) {
  int total = 0;
  for (const auto& op : kOps) {
    if (!op.at_central || central_may_write) total += op.weight;
  }
  int pick = static_cast<int>(rng() % static_cast<uint64_t>(total));
  for (const auto& op : kOps) {
    if (op.at_central && !central_may_write) continue;
    if (pick < op.weight) {
      const NodeIndex node =
          op.at_central ? testing::kCentral : static_cast<int>(rng() % h_.unit_count());
      return Run(op.kind, node, rng, step);
    }
    pick -= op.weight;
  }
  return false;
}

bool Workload::Run(OpKind kind, NodeIndex node, std::mt19937_64& rng, int step) {
  store::Replica& r = node == testing::kCentral ? h_.central() : h_.unit(node);
  const std::string unit = node == testing::kCentral ? std::string() : h_.unit_id(node);
  bool done = false;
  // An update of a row's tracked column to a fresh token, recorded with what it replaced.
  auto update = [&](const std::string& table, const std::string& id) {
    if (id.empty()) return false;
    const uint64_t seen = SeenWrite(r, table, id);
    const uint64_t w = model_.next_write;
    auto n = RunSql(
        r, std::string("UPDATE ") + table + " SET " + TrackedColumn(table) + " = ?1 WHERE id = ?2",
        {Token(w), id});
    if (!n || *n != 1) return false;
    model_.AddWrite(node, {table, id}, seen, step);
    return true;
  };
  auto remove = [&](const std::string& table, const std::string& id) {
    if (id.empty()) return false;
    auto n = RunSql(r, "DELETE FROM " + table + " WHERE id = ?1", {id});
    if (!n || *n != 1) return false;
    model_.deletes.push_back({node, {table, id}, step});
    return true;
  };
  auto purge = [&](const std::string& table, const std::string& id) {
    if (id.empty()) return false;
    auto out = store::PurgeRow(r, table, id);
    if (!out) throw std::runtime_error("sim: purge: " + out.error().ToString());
    model_.deletes.push_back({node, {table, id}, step, /*purge=*/true});
    return true;
  };
  auto insert = [&](const std::string& table, const std::string& id, const std::string& sql,
                    std::vector<std::string> params, bool private_row = false) {
    params.insert(params.begin(), {id, Token(model_.next_write)});
    auto n = RunSql(r, sql, params);
    if (!n || *n != 1) return false;
    model_.AddWrite(node, {table, id}, 0, step);
    model_.rows[{table, id}] = RowInfo{node, private_row};
    return true;
  };
  auto mine = [&](const std::string& sql) { return Pick(QueryColumn(r, sql, {unit}), rng); };

  switch (kind) {
    case OpKind::kInsertStudent:
    case OpKind::kInsertPrivateStudent: {
      const bool hidden = kind == OpKind::kInsertPrivateStudent;
      const std::string id = model_.NewRowId();
      done = insert("student", id,
                    "INSERT INTO student(id, grade, unit_id, pseudo_id, personnummer, name, "
                    "protected_identity) VALUES (?1, ?2, ?3, 'p-' || ?1, '20100101-0000', "
                    "'Elev', " +
                        std::string(hidden ? "1" : "0") + ")",
                    {unit}, hidden);
      break;
    }
    case OpKind::kUpdateStudent:
      done = update("student", mine("SELECT id FROM student WHERE unit_id = ?1 ORDER BY id"));
      break;
    case OpKind::kDeleteStudent:
      done = remove("student", mine("SELECT id FROM student s WHERE unit_id = ?1 AND NOT EXISTS "
                                    "(SELECT 1 FROM support_case c WHERE c.student_id = s.id) "
                                    "ORDER BY id"));
      break;
    case OpKind::kInsertCase: {
      const std::string student =
          mine("SELECT id FROM student WHERE unit_id = ?1 AND protected_identity = 0 ORDER BY id");
      if (student.empty()) break;
      done = insert("support_case", model_.NewRowId(),
                    "INSERT INTO support_case(id, reason, unit_id, student_id, opened_on) "
                    "VALUES (?1, ?2, ?3, ?4, '2026-02-01')",
                    {unit, student});
      break;
    }
    case OpKind::kUpdateCase:
      done = update("support_case",
                    mine("SELECT id FROM support_case WHERE unit_id = ?1 ORDER BY id"));
      break;
    case OpKind::kDeleteCase:
      done = remove("support_case",
                    mine("SELECT id FROM support_case c WHERE unit_id = ?1 AND NOT EXISTS "
                         "(SELECT 1 FROM support_action a WHERE a.case_id = c.id) ORDER BY id"));
      break;
    case OpKind::kInsertAction: {
      const std::string c = mine("SELECT id FROM support_case WHERE unit_id = ?1 ORDER BY id");
      if (c.empty()) break;
      done = insert("support_action", model_.NewRowId(),
                    "INSERT INTO support_action(id, description, unit_id, case_id, action_type, "
                    "start_on) VALUES (?1, ?2, ?3, ?4, 'EA1', '2026-02-02')",
                    {unit, c});
      break;
    }
    case OpKind::kUpdateAction:
      done = update("support_action",
                    mine("SELECT id FROM support_action WHERE unit_id = ?1 ORDER BY id"));
      break;
    case OpKind::kDeleteAction:
      done = remove("support_action",
                    mine("SELECT id FROM support_action WHERE unit_id = ?1 ORDER BY id"));
      break;
    case OpKind::kCentralInsertActionType:
      done = insert("action_type", model_.NewRowId(),
                    "INSERT INTO action_type(id, name, code, level, valid_from) "
                    "VALUES (?1, ?2, 'EA1', 'ea', '2026-01-01')",
                    {});
      break;
    case OpKind::kCentralUpdateActionType:
      done = update("action_type",
                    Pick(QueryColumn(r, "SELECT id FROM action_type ORDER BY id"), rng));
      break;
    case OpKind::kCentralUpdateStudent:
      done = update("student", Pick(QueryColumn(r, "SELECT id FROM student ORDER BY id"), rng));
      break;
    case OpKind::kCentralUpdateAction:
      done = update("support_action",
                    Pick(QueryColumn(r, "SELECT id FROM support_action ORDER BY id"), rng));
      break;
    case OpKind::kCentralDeleteAction:
      done = remove("support_action",
                    Pick(QueryColumn(r, "SELECT id FROM support_action ORDER BY id"), rng));
      break;
    case OpKind::kCentralMoveStudent: {
      const std::string student = Pick(QueryColumn(r, "SELECT id FROM student ORDER BY id"), rng);
      if (student.empty()) break;
      const std::string to = h_.unit_id(static_cast<int>(rng() % h_.unit_count()));
      // The student, its cases and their actions move together, in one transaction.
      if (!r.db().Exec("BEGIN IMMEDIATE")) break;
      auto n = RunSql(r, "UPDATE student SET unit_id = ?1 WHERE id = ?2 AND unit_id <> ?1",
                      {to, student});
      bool ok = n && *n == 1;
      ok = ok && RunSql(r,
                        "UPDATE support_action SET unit_id = ?1 WHERE case_id IN "
                        "(SELECT id FROM support_case WHERE student_id = ?2)",
                        {to, student});
      ok = ok &&
           RunSql(r, "UPDATE support_case SET unit_id = ?1 WHERE student_id = ?2", {to, student});
      if (!ok || !r.db().Exec("COMMIT")) {
        (void)r.db().Exec("ROLLBACK");
        break;
      }
      ++model_.moves;
      done = true;
      break;
    }
    case OpKind::kPurgeAction:
      done = purge("support_action",
                   mine("SELECT id FROM support_action WHERE unit_id = ?1 ORDER BY id"));
      break;
    case OpKind::kCentralPurgeAction:
      done = purge("support_action",
                   Pick(QueryColumn(r, "SELECT id FROM support_action ORDER BY id"), rng));
      break;
  }
  if (!done) return false;
  ++counts_[static_cast<size_t>(kind)];
  if (node == testing::kCentral) {
    h_.CentralChange();
  } else {
    h_.LocalChange(node);
  }
  return true;
}

}  // namespace unitsync::sim
