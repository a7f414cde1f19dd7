// Generates the change-capture triggers for one replicated table, in plain
// SQL, so every writer is captured: this process, the sqlite3 shell, any
// program, with no extension loaded.
//
//   INSERT/UPDATE/DELETE on T ──► _us_capture_{ins,upd,del}_T ──► _us_changes
//
// An UPDATE that changes a unit-scope row's routing value appends, after its
// 'U' entry (new unit), an 'X' entry carrying the OLD unit: the old unit
// receives an eviction for the row (changeset_builder.h).
//
// The triggers stay silent while `_us_applying` holds a row, which is only
// ever inside the engine's own apply transaction (SQLite has one writer, so
// no other connection can observe or race with that row).
// Guards (BEFORE triggers, local writes only) refuse changing a row's id and
// re-using the id of a deleted row: tombstones are final.
#pragma once

#include <string>
#include <vector>

#include "store/manifest.h"

namespace unitsync::store {

// SQL statements that (re)create the table's capture and guard triggers.
// REQUIRES: spec bound to the schema (spec.columns filled).
std::vector<std::string> CaptureTriggerSql(const TableSpec& spec);

// SQL that drops every capture/guard trigger in the database.
inline constexpr const char* kListCaptureTriggersSql =
    "SELECT name FROM sqlite_schema WHERE type = 'trigger' AND "
    "(name LIKE '\\_us\\_capture\\_%' ESCAPE '\\' OR name LIKE '\\_us\\_guard\\_%' ESCAPE '\\')";

}  // namespace unitsync::store
