// unitsyncctl conflicts: list, show, restore and dismiss the concurrent
// writes that merges recorded. Values appear only in 'show' (the admin asks
// for them explicitly); lists name tables, rows and columns only.
#include <memory>

#include "admin-cli/cli.h"
#include "store/conflicts.h"

namespace unitsync::cli {
namespace {

constexpr size_t kDefaultLimit = 1000;

struct ListOptions {
  bool all = false;
  std::optional<std::string> table;
  size_t limit = kDefaultLimit;
};

nlohmann::json SummaryJson(const store::Conflict& c) {
  return {{"id", c.id},
          {"table", c.table},
          {"row_id", c.pk},
          {"column", c.column},
          {"kind", c.kind},
          {"winner", VersionJson(c.winner)},
          {"loser", VersionJson(c.loser)},
          {"detected_ms", c.detected_ms},
          {"detected_at", FormatTimeMs(c.detected_ms)},
          {"resolved_ms", c.resolved_ms ? nlohmann::json(*c.resolved_ms) : nullptr}};
}

Status RunList(Context& ctx, const ListOptions& opts) {
  auto replica = ctx.OpenReplica();
  if (!replica) return tl::unexpected(replica.error());
  store::ConflictFilter filter;
  filter.include_resolved = opts.all;
  filter.table = opts.table;
  filter.limit = opts.limit;
  auto conflicts = store::ListConflicts(*replica, filter);
  if (!conflicts) return tl::unexpected(conflicts.error());
  if (ctx.global.json) {
    auto doc = nlohmann::json::array();
    for (const auto& c : *conflicts) doc.push_back(SummaryJson(c));
    PrintJson(ctx.out(), doc);
    return {};
  }
  const int64_t now = replica->NowMs();
  TextTable table({"id", "table", "row", "column", "kind", "winner", "loser", "age", "state"});
  for (const auto& c : *conflicts) {
    table.AddRow({std::to_string(c.id), c.table, c.pk, c.column, c.kind, c.winner.origin,
                  c.loser.origin, FormatAge(now - c.detected_ms),
                  c.resolved_ms ? "resolved" : "open"});
  }
  table.Print(ctx.out());
  ctx.out() << conflicts->size() << (opts.all ? " conflict(s)" : " unresolved conflict(s)")
            << "; see values with 'unitsyncctl conflicts show ID'\n";
  return {};
}

Status RunShow(Context& ctx, int64_t id) {
  auto replica = ctx.OpenReplica();
  if (!replica) return tl::unexpected(replica.error());
  auto c = store::GetConflict(*replica, id);
  if (!c) return tl::unexpected(c.error());
  if (ctx.global.json) {
    nlohmann::json doc = SummaryJson(*c);
    doc["winner_value"] = ValueJson(c->winner_value);
    doc["loser_value"] = ValueJson(c->loser_value);
    PrintJson(ctx.out(), doc);
    return {};
  }
  auto& out = ctx.out();
  out << "conflict " << c->id << " (" << c->kind << ")"
      << (c->resolved_ms ? ", resolved " + FormatTimeMs(*c->resolved_ms) : ", open") << "\n"
      << "row:       " << ForTerminal(c->table) << " " << ForTerminal(c->pk) << ", column "
      << ForTerminal(c->column) << "\n"
      << "detected:  " << FormatTimeMs(c->detected_ms) << "\n"
      << "winner:    " << ForTerminal(FormatVersion(c->winner)) << "\n"
      << "  value:   " << FormatValue(c->winner_value) << "\n"
      << "loser:     " << ForTerminal(FormatVersion(c->loser)) << "\n"
      << "  value:   " << FormatValue(c->loser_value) << "\n";
  if (!c->resolved_ms) {
    out << "restore the loser with 'unitsyncctl conflicts restore " << c->id
        << "', keep the winner with 'unitsyncctl conflicts dismiss " << c->id << "'\n";
  }
  return {};
}

Status RunResolve(Context& ctx, int64_t id, bool restore) {
  auto replica = ctx.OpenReplica();
  if (!replica) return tl::unexpected(replica.error());
  auto st = restore ? store::RestoreConflict(*replica, id) : store::DismissConflict(*replica, id);
  if (!st) return st;
  const char* verb = restore ? "restored" : "dismissed";
  if (ctx.global.json) {
    PrintJson(ctx.out(), {{"id", id}, {verb, true}});
  } else {
    ctx.out() << verb << " conflict " << id
              << (restore ? ": the losing value is written back and will sync\n"
                          : ": the winning value stays\n");
  }
  return {};
}

void RegisterResolve(CLI::App& parent, Context& ctx, bool restore) {
  auto id = std::make_shared<int64_t>(0);
  CLI::App* cmd = parent.add_subcommand(
      restore ? "restore" : "dismiss",
      restore ? "Write the losing value back as a new local write (it then wins everywhere)"
              : "Mark a conflict resolved and keep the winning value");
  cmd->add_option("id", *id, "Conflict id")->required()->check(CLI::PositiveNumber);
  cmd->callback([&ctx, id, restore] { ctx.Finish(RunResolve(ctx, *id, restore)); });
}

}  // namespace

void RegisterConflicts(CLI::App& app, Context& ctx) {
  CLI::App* cmd = app.add_subcommand("conflicts", "List, show, restore or dismiss conflicts");
  cmd->fallthrough();
  cmd->require_subcommand(0, 1);
  cmd->footer("Without a subcommand: 'conflicts list'.");

  auto list_opts = std::make_shared<ListOptions>();
  CLI::App* list = cmd->add_subcommand("list", "List conflicts (unresolved unless --all)");
  list->add_flag("--all", list_opts->all, "Include resolved conflicts");
  list->add_option("--table", list_opts->table, "Only this table");
  list->add_option("--limit", list_opts->limit, "At most this many")
      ->check(CLI::Range(size_t{1}, size_t{1000000}))
      ->capture_default_str();
  list->callback([&ctx, list_opts] { ctx.Finish(RunList(ctx, *list_opts)); });

  auto show_id = std::make_shared<int64_t>(0);
  CLI::App* show =
      cmd->add_subcommand("show", "Show both values and both versions of one conflict");
  show->add_option("id", *show_id, "Conflict id")->required()->check(CLI::PositiveNumber);
  show->callback([&ctx, show_id] { ctx.Finish(RunShow(ctx, *show_id)); });

  RegisterResolve(*cmd, ctx, /*restore=*/true);
  RegisterResolve(*cmd, ctx, /*restore=*/false);

  cmd->callback([&ctx, cmd, list_opts] {
    if (cmd->get_subcommands().empty()) ctx.Finish(RunList(ctx, *list_opts));
  });
}

}  // namespace unitsync::cli
