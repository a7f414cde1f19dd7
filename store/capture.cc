#include "store/capture.h"

namespace unitsync::store {
namespace {

// Milliseconds since the epoch, in plain SQL (unixepoch('subsec') needs 3.42).
constexpr const char* kNowMs = "CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)";
constexpr const char* kNotApplying = "NOT EXISTS (SELECT 1 FROM _us_applying)";

std::string Quote(const std::string& ident) { return "\"" + ident + "\""; }

}  // namespace

std::vector<std::string> CaptureTriggerSql(const TableSpec& spec) {
  const std::string t = spec.name;
  const std::string qt = Quote(t);
  auto routing = [&](const char* row) {
    return spec.routing.empty() ? std::string("NULL")
                                : std::string(row) + "." + Quote(spec.routing);
  };
  auto log = [&](const char* row, const char* op, const std::string& cols) {
    return "INSERT INTO _us_changes(tbl, pk, op, cols, unit, wall_ms) VALUES ('" + t + "', " + row +
           ".id, '" + op + "', " + cols + ", " + routing(row) + ", " + kNowMs + ");";
  };

  std::string changed_any;   // OLD.a IS NOT NEW.a OR ...
  std::string changed_list;  // 'a,' if changed || 'b,' if changed ...
  for (const std::string& c : spec.columns) {
    const std::string cmp = "OLD." + Quote(c) + " IS NOT NEW." + Quote(c);
    changed_any += (changed_any.empty() ? "" : " OR ") + cmp;
    changed_list += (changed_list.empty() ? "" : " || ") + std::string("CASE WHEN ") + cmp +
                    " THEN '" + c + ",' ELSE '' END";
  }
  if (changed_any.empty()) changed_any = "0";
  if (changed_list.empty()) changed_list = "''";

  // A unit-scope row whose routing value changes moved to another unit: the
  // old unit must be told to drop it. 'X' carries the OLD routing value, in
  // the same trigger body so it always follows the row's 'U' entry.
  std::string moved;
  if (spec.scope == Scope::kUnit && !spec.routing.empty()) {
    const std::string r = Quote(spec.routing);
    moved = " INSERT INTO _us_changes(tbl, pk, op, cols, unit, wall_ms) SELECT '" + t +
            "', NEW.id, 'X', NULL, OLD." + r + ", " + kNowMs + " WHERE OLD." + r +
            " IS NOT NULL AND OLD." + r + " IS NOT NEW." + r + ";";
  }

  return {
      "CREATE TRIGGER \"_us_capture_ins_" + t + "\" AFTER INSERT ON " + qt + " WHEN " +
          kNotApplying + " BEGIN " + log("NEW", "I", "NULL") + " END",
      "CREATE TRIGGER \"_us_capture_upd_" + t + "\" AFTER UPDATE ON " + qt + " WHEN " +
          kNotApplying + " AND (" + changed_any + ") BEGIN " +
          log("NEW", "U", "rtrim(" + changed_list + ", ',')") + moved + " END",
      "CREATE TRIGGER \"_us_capture_del_" + t + "\" AFTER DELETE ON " + qt + " WHEN " +
          kNotApplying + " BEGIN " + log("OLD", "D", "NULL") + " END",
      "CREATE TRIGGER \"_us_guard_id_" + t + "\" BEFORE UPDATE OF id ON " + qt + " WHEN " +
          kNotApplying +
          " AND NEW.id IS NOT OLD.id BEGIN SELECT RAISE(ABORT, 'unitsync: the id of a "
          "replicated row cannot change'); END",
      "CREATE TRIGGER \"_us_guard_reuse_" + t + "\" BEFORE INSERT ON " + qt + " WHEN " +
          kNotApplying + " AND EXISTS (SELECT 1 FROM _us_clock WHERE tbl = '" + t +
          "' AND pk = NEW.id AND deleted <> 0) BEGIN SELECT RAISE(ABORT, 'unitsync: this id "
          "belongs to a deleted or purged row and cannot be reused'); END",
  };
}

}  // namespace unitsync::store
