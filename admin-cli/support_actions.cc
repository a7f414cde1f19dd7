#include "admin-cli/support_actions.h"

#include <algorithm>

#include "admin-cli/cli.h"
#include "store/sqlite.h"

namespace unitsync::cli {
namespace {

using store::Statement;
using store::Transaction;
using store::Value;

// Bounds for values typed on a command line; far above any real need.
constexpr size_t kMaxPseudoLength = 128;
constexpr size_t kMaxTextLength = 64 * 1024;

Value Opt(const std::optional<std::string>& v) { return v ? Value(*v) : Value(); }

std::optional<std::string> OptText(const Statement& s, int i) {
  if (s.ColumnIsNull(i)) return std::nullopt;
  return s.ColumnText(i);
}

Result<Statement> PrepareBound(store::Replica& replica, std::string_view sql,
                               const std::vector<Value>& params) {
  auto stmt = replica.db().Prepare(sql);
  if (!stmt) return tl::unexpected(stmt.error());
  for (size_t i = 0; i < params.size(); ++i) stmt->BindValue(static_cast<int>(i + 1), params[i]);
  return stmt;
}

// The first column of the first row as text, or nullopt when no row.
Result<std::optional<std::string>> QueryText(store::Replica& replica, std::string_view sql,
                                             const std::vector<Value>& params) {
  auto stmt = PrepareBound(replica, sql, params);
  if (!stmt) return tl::unexpected(stmt.error());
  auto row = stmt->Step();
  if (!row) return tl::unexpected(row.error());
  if (!*row) return std::optional<std::string>();
  return std::optional<std::string>(stmt->ColumnText(0));
}

Status Execute(store::Replica& replica, std::string_view sql, const std::vector<Value>& params) {
  auto stmt = PrepareBound(replica, sql, params);
  if (!stmt) return tl::unexpected(stmt.error());
  return stmt->Run();
}

bool Contains(const std::vector<std::string>& list, std::string_view v) {
  return std::find(list.begin(), list.end(), v) != list.end();
}

Status ValidateText(const std::optional<std::string>& v, const char* flag) {
  if (v && v->size() > kMaxTextLength) {
    return Fail(Errc::kInvalidArgument,
                std::string(flag) + " is longer than " + std::to_string(kMaxTextLength) + " bytes");
  }
  return {};
}

Status ValidateNew(const NewAction& a) {
  if (!store::IsValidNodeId(a.unit_id)) return Fail(Errc::kInvalidArgument, "invalid unit id");
  if (a.student_pseudo.empty() || a.student_pseudo.size() > kMaxPseudoLength) {
    return Fail(Errc::kInvalidArgument, "--student must be a pseudonym of 1-128 characters");
  }
  if (LooksLikeIdentityNumber(a.student_pseudo)) {
    return Fail(Errc::kInvalidArgument,
                "--student looks like a personal identity number, not a pseudonym",
                "pass the student's pseudo_id; identity numbers never leave the unit");
  }
  if (!IsActionTypeCode(a.action_type)) {
    return Fail(Errc::kInvalidArgument, "--type must be a catalogue code (A-Z a-z 0-9 _ -)");
  }
  if (!IsIsoDate(a.start_on)) {
    return Fail(Errc::kInvalidArgument, "--start must be a date written YYYY-MM-DD");
  }
  if (!Contains(kActionProviders, a.provider)) {
    return Fail(Errc::kInvalidArgument, "--provider must be unit or central_resurs");
  }
  if (!Contains(kActionStatuses, a.status)) {
    return Fail(Errc::kInvalidArgument,
                "--status must be one of planerad|pagaende|avslutad|avbruten");
  }
  if (a.case_id && a.case_id->empty()) return Fail(Errc::kInvalidArgument, "--case is empty");
  if (auto st = ValidateText(a.description, "--description"); !st) return st;
  return ValidateText(a.responsible, "--responsible");
}

// An empty catalogue (reference data not synced yet) accepts any code.
Status CheckCatalogue(store::Replica& replica, const std::string& code) {
  auto any = QueryText(replica, "SELECT 1 FROM action_type LIMIT 1", {});
  if (!any) return tl::unexpected(any.error());
  if (!*any) return {};
  auto found = QueryText(replica, "SELECT 1 FROM action_type WHERE code = ?1 LIMIT 1", {code});
  if (!found) return tl::unexpected(found.error());
  if (!*found) {
    return Fail(Errc::kRejected, "action type " + code + " is not in the catalogue",
                "list codes with: sqlite3 DB 'SELECT code, name FROM action_type'");
  }
  return {};
}

Result<std::string> FindOrCreateStudent(store::Replica& replica, const NewAction& a,
                                        bool& created) {
  auto found = QueryText(replica,
                         "SELECT id FROM student WHERE unit_id = ?1 AND pseudo_id = ?2 "
                         "ORDER BY id LIMIT 1",
                         {a.unit_id, a.student_pseudo});
  if (!found) return tl::unexpected(found.error());
  if (*found) return **found;
  std::string id = replica.NewId();
  auto st = Execute(replica, "INSERT INTO student(id, unit_id, pseudo_id) VALUES (?1, ?2, ?3)",
                    {id, a.unit_id, a.student_pseudo});
  if (!st) return tl::unexpected(st.error());
  created = true;
  return id;
}

Result<std::string> FindOrCreateCase(store::Replica& replica, const NewAction& a,
                                     const std::string& student_id, bool& created) {
  if (a.case_id) {
    auto stmt = PrepareBound(replica, "SELECT student_id, unit_id FROM support_case WHERE id = ?1",
                             {*a.case_id});
    if (!stmt) return tl::unexpected(stmt.error());
    auto row = stmt->Step();
    if (!row) return tl::unexpected(row.error());
    if (!*row) return Fail(Errc::kNotFound, "no support case with the id given by --case");
    if (stmt->ColumnText(0) != student_id || stmt->ColumnText(1) != a.unit_id) {
      return Fail(Errc::kRejected, "support case " + *a.case_id + " belongs to another student",
                  "omit --case to use the student's open case");
    }
    return *a.case_id;
  }
  auto open = QueryText(replica,
                        "SELECT id FROM support_case WHERE student_id = ?1 AND status = 'oppen' "
                        "ORDER BY opened_on DESC, id DESC LIMIT 1",
                        {student_id});
  if (!open) return tl::unexpected(open.error());
  if (*open) return **open;
  std::string id = replica.NewId();
  auto st = Execute(replica,
                    "INSERT INTO support_case(id, unit_id, student_id, opened_on) "
                    "VALUES (?1, ?2, ?3, ?4)",
                    {id, a.unit_id, student_id, a.start_on});
  if (!st) return tl::unexpected(st.error());
  created = true;
  return id;
}

constexpr const char* kSelectAction =
    "SELECT a.id, a.unit_id, a.case_id, c.student_id, s.pseudo_id, a.action_type, "
    "a.description, a.responsible, a.provider, a.start_on, a.end_on, a.status "
    "FROM support_action a LEFT JOIN support_case c ON c.id = a.case_id "
    "LEFT JOIN student s ON s.id = c.student_id ";

ActionRow ReadAction(const Statement& s) {
  ActionRow r;
  r.id = s.ColumnText(0);
  r.unit_id = s.ColumnText(1);
  r.case_id = s.ColumnText(2);
  r.student_id = s.ColumnText(3);
  r.student_pseudo = s.ColumnText(4);
  r.action_type = s.ColumnText(5);
  r.description = OptText(s, 6);
  r.responsible = OptText(s, 7);
  r.provider = s.ColumnText(8);
  r.start_on = s.ColumnText(9);
  r.end_on = OptText(s, 10);
  r.status = s.ColumnText(11);
  return r;
}

Status NoSuchAction() {
  return Fail(Errc::kNotFound, "no support action with that id",
              "list them with 'unitsyncctl action list'");
}

}  // namespace

bool IsActionTypeCode(std::string_view code) {
  if (code.empty() || code.size() > 64) return false;
  return std::all_of(code.begin(), code.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
  });
}

bool LooksLikeIdentityNumber(std::string_view s) {
  std::string digits;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c >= '0' && c <= '9') {
      digits += c;
    } else if ((c == '-' || c == '+') && s.size() - i == 5) {
      continue;  // The separator before the last four digits.
    } else if (c != ' ') {
      return false;
    }
  }
  return digits.size() == 10 || digits.size() == 12;
}

Result<AddedAction> AddAction(store::Replica& replica, const NewAction& a) {
  if (auto st = ValidateNew(a); !st) return tl::unexpected(st.error());
  auto tx = Transaction::Begin(replica.db());
  if (!tx) return tl::unexpected(tx.error());
  if (auto st = CheckCatalogue(replica, a.action_type); !st) return tl::unexpected(st.error());

  AddedAction out;
  auto student = FindOrCreateStudent(replica, a, out.created_student);
  if (!student) return tl::unexpected(student.error());
  out.student_id = *student;
  auto support_case = FindOrCreateCase(replica, a, out.student_id, out.created_case);
  if (!support_case) return tl::unexpected(support_case.error());
  out.case_id = *support_case;

  out.id = replica.NewId();
  auto st = Execute(replica,
                    "INSERT INTO support_action(id, unit_id, case_id, action_type, description, "
                    "responsible, provider, start_on, status) "
                    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                    {out.id, a.unit_id, out.case_id, a.action_type, Opt(a.description),
                     Opt(a.responsible), a.provider, a.start_on, a.status});
  if (!st) return tl::unexpected(st.error());
  if (auto commit = tx->Commit(); !commit) return tl::unexpected(commit.error());
  return out;
}

Result<std::vector<ActionRow>> ListActions(store::Replica& replica, const ActionFilter& filter) {
  auto stmt = PrepareBound(
      replica,
      std::string(kSelectAction) +
          "WHERE (?1 IS NULL OR s.pseudo_id = ?1) AND "
          "(?2 IS NULL OR a.status = ?2) "
          "ORDER BY a.start_on, a.id LIMIT ?3",
      {Opt(filter.student_pseudo), Opt(filter.status), static_cast<int64_t>(filter.limit)});
  if (!stmt) return tl::unexpected(stmt.error());
  std::vector<ActionRow> out;
  for (;;) {
    auto row = stmt->Step();
    if (!row) return tl::unexpected(row.error());
    if (!*row) break;
    out.push_back(ReadAction(*stmt));
  }
  return out;
}

Result<ActionRow> GetAction(store::Replica& replica, const std::string& id) {
  auto stmt = PrepareBound(replica, std::string(kSelectAction) + "WHERE a.id = ?1", {id});
  if (!stmt) return tl::unexpected(stmt.error());
  auto row = stmt->Step();
  if (!row) return tl::unexpected(row.error());
  if (!*row) return tl::unexpected(NoSuchAction().error());
  return ReadAction(*stmt);
}

Status UpdateAction(store::Replica& replica, const std::string& id, const ActionChanges& c) {
  if (c.empty()) {
    return Fail(Errc::kInvalidArgument, "nothing to update",
                "give at least one of --description --responsible --provider --status --end");
  }
  if (c.provider && !Contains(kActionProviders, *c.provider)) {
    return Fail(Errc::kInvalidArgument, "--provider must be unit or central_resurs");
  }
  if (c.status && !Contains(kActionStatuses, *c.status)) {
    return Fail(Errc::kInvalidArgument,
                "--status must be one of planerad|pagaende|avslutad|avbruten");
  }
  if (c.end_on && !IsIsoDate(*c.end_on)) {
    return Fail(Errc::kInvalidArgument, "--end must be a date written YYYY-MM-DD");
  }
  if (auto st = ValidateText(c.description, "--description"); !st) return st;
  if (auto st = ValidateText(c.responsible, "--responsible"); !st) return st;

  auto tx = Transaction::Begin(replica.db());
  if (!tx) return tl::unexpected(tx.error());
  auto start = QueryText(replica, "SELECT start_on FROM support_action WHERE id = ?1", {id});
  if (!start) return tl::unexpected(start.error());
  if (!*start) return NoSuchAction();
  if (c.end_on && *c.end_on < **start) {
    return Fail(Errc::kInvalidArgument, "--end is before the action's start date");
  }
  // Only the named columns are written, so the change log records exactly
  // those and a concurrent edit of another column never conflicts.
  std::string sets;
  std::vector<Value> params = {id};
  auto add = [&](const char* column, const std::optional<std::string>& v) {
    if (!v) return;
    params.push_back(*v);
    sets +=
        (sets.empty() ? "" : ", ") + std::string(column) + " = ?" + std::to_string(params.size());
  };
  add("description", c.description);
  add("responsible", c.responsible);
  add("provider", c.provider);
  add("status", c.status);
  add("end_on", c.end_on);
  auto st = Execute(replica, "UPDATE support_action SET " + sets + " WHERE id = ?1", params);
  if (!st) return st;
  return tx->Commit();
}

Status DeleteAction(store::Replica& replica, const std::string& id) {
  auto tx = Transaction::Begin(replica.db());
  if (!tx) return tl::unexpected(tx.error());
  if (auto st = Execute(replica, "DELETE FROM support_action WHERE id = ?1", {id}); !st) {
    if (st.error().code == Errc::kConstraint) {
      return Fail(Errc::kConstraint, "support action " + id + " still has follow-ups",
                  "delete its follow-ups first");
    }
    return st;
  }
  if (replica.db().Changes() == 0) return NoSuchAction();
  return tx->Commit();
}

}  // namespace unitsync::cli
