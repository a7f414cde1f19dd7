// Support actions for scripts and demos: plain SQL on a replica's support
// tables (student -> support_case -> support_action). The capture triggers
// record every write, so these rows sync like any application's.
//
// Every function validates its input before writing and writes in one
// transaction: on failure nothing was written. Error messages name tables,
// columns and row ids (UUIDs), never a value a person typed (a pseudonym,
// a description, a name).
//
// Threading: as store::Replica (one thread).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"
#include "store/replica.h"

namespace unitsync::cli {

inline const std::vector<std::string> kActionStatuses = {"planerad", "pagaende", "avslutad",
                                                         "avbruten"};
inline const std::vector<std::string> kActionProviders = {"unit", "central_resurs"};

// Action type codes as in the catalogue: 1-64 of A-Z a-z 0-9 _ -.
bool IsActionTypeCode(std::string_view code);

// True when `s` has the shape of a Swedish personal identity number
// (YYMMDD-NNNN, YYYYMMDDNNNN, with or without '-' or '+'). Such a value must
// never be stored as a pseudonym: pseudo_id replicates to central.
bool LooksLikeIdentityNumber(std::string_view s);

struct NewAction {
  std::string unit_id;         // Owning unit (the node id at a unit replica).
  std::string student_pseudo;  // student.pseudo_id.
  std::string action_type;     // action_type.code.
  std::string start_on;        // YYYY-MM-DD.
  std::optional<std::string> description;
  std::optional<std::string> responsible;
  std::string provider = "unit";
  std::string status = "planerad";
  std::optional<std::string> case_id;  // Unset: the student's latest open case, or a new one.
};

struct AddedAction {
  std::string id;
  std::string student_id;
  std::string case_id;
  bool created_student = false;
  bool created_case = false;
};

// Finds or creates the student (by pseudo_id within the unit), finds or
// creates the case, inserts the action with a fresh UUIDv7. Fails with
// kInvalidArgument (malformed field), kNotFound (--case names no case),
// kRejected (the case belongs to another student or unit; the action type
// is not in a non-empty catalogue), or a storage error.
Result<AddedAction> AddAction(store::Replica& replica, const NewAction& action);

struct ActionRow {
  std::string id;
  std::string unit_id;
  std::string case_id;
  std::string student_id;      // Empty when the case has not arrived yet.
  std::string student_pseudo;  // Empty likewise.
  std::string action_type;
  std::optional<std::string> description;  // Free text: show only on request.
  std::optional<std::string> responsible;
  std::string provider;
  std::string start_on;
  std::optional<std::string> end_on;
  std::string status;
};

struct ActionFilter {
  std::optional<std::string> student_pseudo;
  std::optional<std::string> status;
  size_t limit = 100;
};

// Oldest start first, then by id.
Result<std::vector<ActionRow>> ListActions(store::Replica& replica, const ActionFilter& filter);

// Fails with kNotFound when no action has that id.
Result<ActionRow> GetAction(store::Replica& replica, const std::string& id);

struct ActionChanges {
  std::optional<std::string> description;
  std::optional<std::string> responsible;
  std::optional<std::string> provider;
  std::optional<std::string> status;
  std::optional<std::string> end_on;

  bool empty() const { return !description && !responsible && !provider && !status && !end_on; }
};

// Updates only the given columns. Fails with kInvalidArgument (nothing to
// change, a malformed value, an end date before the start), kNotFound.
Status UpdateAction(store::Replica& replica, const std::string& id, const ActionChanges& changes);

// Deletes the action (a tombstone that syncs). Fails with kNotFound, or
// kConstraint when follow-ups still reference it.
Status DeleteAction(store::Replica& replica, const std::string& id);

}  // namespace unitsync::cli
