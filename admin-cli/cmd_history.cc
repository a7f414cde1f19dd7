// unitsyncctl history TABLE ID: a row's versions — which node wrote each column when
// (HLC), what that write replaced, the tombstone, change-log entries still held and the
// conflicts recorded on it. Versions only, never values.
#include <memory>

#include "admin-cli/cli.h"
#include "control/views.h"
#include "control/wire.h"

namespace unitsync::cli {
namespace {

using Json = nlohmann::json;

struct HistoryOptions {
  std::string table;
  std::string id;
};

Status RunHistory(Context& ctx, const HistoryOptions& opts) {
  AskOptions ask;
  ask.fallback = [opts](store::Replica& r) { return control::HistoryView(r, opts.table, opts.id); };
  auto doc = ctx.Ask(control::cmd::kHistory, {{"table", opts.table}, {"id", opts.id}}, ask);
  if (!doc) return tl::unexpected(doc.error());
  if (ctx.global.json) {
    PrintJson(ctx.out(), *doc);
    return {};
  }
  auto& out = ctx.out();
  const Json& d = *doc;
  out << ForTerminal(d["table"].get<std::string>()) << " "
      << ForTerminal(d["id"].get<std::string>()) << ": ";
  const std::string unit = d["unit"];
  out << (unit.empty() ? "shared (central scope)" : "unit " + ForTerminal(unit));
  if (d.value("purged", false)) {
    out << ", PURGED " << FormatVersion(d["tombstone"], "-");
  } else if (d["deleted"].get<bool>()) {
    out << ", DELETED " << FormatVersion(d["tombstone"], "-");
  }
  out << "\n\n";
  TextTable columns({"column", "version (time+counter @origin)", "replaced"});
  for (const auto& c : d["columns"]) {
    columns.AddRow(
        {c["column"], FormatVersion(c["version"], "-"), FormatVersion(c["replaced"], "-")});
  }
  columns.Print(out);
  if (!d["log"].empty()) {
    out << "\nchange log (entries not yet trimmed):\n";
    TextTable log({"seq", "op", "columns", "when"});
    for (const auto& e : d["log"]) {
      log.AddRow({std::to_string(e["seq"].get<int64_t>()), e["op"],
                  e["columns"].get<std::string>().empty() ? "-" : e["columns"].get<std::string>(),
                  FormatTimeMs(e["wall_ms"].get<int64_t>())});
    }
    log.Print(out);
  }
  if (!d["conflicts"].empty()) {
    out << "\nconflicts on this row:\n";
    TextTable conflicts({"id", "column", "kind", "winner", "loser", "state"});
    for (const auto& c : d["conflicts"]) {
      conflicts.AddRow({std::to_string(c["id"].get<int64_t>()), c["column"], c["kind"],
                        FormatVersion(c["winner"], "-"), FormatVersion(c["loser"], "-"),
                        c["resolved_ms"].is_null() ? "open" : "resolved"});
    }
    conflicts.Print(out);
  }
  return {};
}

}  // namespace

void RegisterHistory(CLI::App& app, Context& ctx) {
  auto opts = std::make_shared<HistoryOptions>();
  CLI::App* cmd = app.add_subcommand("history", "A row's versions: who wrote what, when");
  cmd->add_option("table", opts->table, "Replicated table")->required();
  cmd->add_option("id", opts->id, "Row id")->required();
  cmd->footer(
      "Each column's current version (hybrid logical clock time, counter, origin node) and\n"
      "the newest version from another node that the column's writes replaced; values are\n"
      "not shown (see 'action show' or 'conflicts show').");
  cmd->callback([&ctx, opts] { ctx.Finish(RunHistory(ctx, *opts)); });
}

}  // namespace unitsync::cli
