// unitsyncctl conflicts: list, show, restore and dismiss the concurrent
// writes that merges recorded. Values appear only in 'show' (the admin asks
// for them explicitly); lists name tables, rows and columns only.
#include <memory>

#include "admin-cli/cli.h"
#include "control/views.h"
#include "control/wire.h"

namespace unitsync::cli {
namespace {

constexpr size_t kDefaultLimit = 1000;

struct ListOptions {
  bool all = false;
  std::optional<std::string> table;
  size_t limit = kDefaultLimit;
};

Status RunList(Context& ctx, const ListOptions& opts) {
  control::ConflictQuery q{opts.all, opts.table, opts.limit};
  nlohmann::json args = {{"all", opts.all}, {"limit", opts.limit}};
  if (opts.table) args["table"] = *opts.table;
  AskOptions ask;
  ask.fallback = [q](store::Replica& r) { return control::ConflictListView(r, q); };
  auto doc = ctx.Ask(control::cmd::kConflictsList, args, ask);
  if (!doc) return tl::unexpected(doc.error());
  if (ctx.global.json) {
    PrintJson(ctx.out(), *doc);
    return {};
  }
  const int64_t now = control::WallNowMs();
  TextTable table({"id", "table", "row", "column", "kind", "winner", "loser", "age", "state"});
  for (const auto& c : *doc) {
    table.AddRow({std::to_string(c["id"].get<int64_t>()), c["table"], c["row_id"], c["column"],
                  c["kind"], c["winner"]["origin"], c["loser"]["origin"],
                  FormatAge(now - c["detected_ms"].get<int64_t>()),
                  c["resolved_ms"].is_null() ? "open" : "resolved"});
  }
  table.Print(ctx.out());
  ctx.out() << doc->size() << (opts.all ? " conflict(s)" : " unresolved conflict(s)")
            << "; see values with 'unitsyncctl conflicts show ID'\n";
  return {};
}

std::string ValueText(const nlohmann::json& v) {
  if (v.is_null()) return "NULL";
  if (v.is_string()) return ForTerminal(v.get<std::string>(), /*keep_newlines=*/true);
  if (v.is_object() && v.contains("blob_hex")) {
    return "<blob " + std::to_string(v["blob_hex"].get<std::string>().size() / 2) + " bytes>";
  }
  return v.dump();
}

Status RunShow(Context& ctx, int64_t id) {
  AskOptions ask;
  ask.fallback = [id](store::Replica& r) { return control::ConflictDetailView(r, id); };
  auto c = ctx.Ask(control::cmd::kConflictsShow, {{"id", id}}, ask);
  if (!c) return tl::unexpected(c.error());
  if (ctx.global.json) {
    PrintJson(ctx.out(), *c);
    return {};
  }
  auto& out = ctx.out();
  const bool resolved = !(*c)["resolved_ms"].is_null();
  out << "conflict " << id << " (" << ForTerminal((*c)["kind"].get<std::string>()) << ")"
      << (resolved ? ", resolved " + FormatTimeMs((*c)["resolved_ms"].get<int64_t>()) : ", open")
      << "\n"
      << "row:       " << ForTerminal((*c)["table"].get<std::string>()) << " "
      << ForTerminal((*c)["row_id"].get<std::string>()) << ", column "
      << ForTerminal((*c)["column"].get<std::string>()) << "\n"
      << "detected:  " << FormatTimeMs((*c)["detected_ms"].get<int64_t>()) << "\n"
      << "winner:    " << ForTerminal(FormatVersion((*c)["winner"])) << "\n"
      << "  value:   " << ValueText((*c)["winner_value"]) << "\n"
      << "loser:     " << ForTerminal(FormatVersion((*c)["loser"])) << "\n"
      << "  value:   " << ValueText((*c)["loser_value"]) << "\n";
  if (!resolved) {
    out << "restore the loser with 'unitsyncctl conflicts restore " << id
        << "', keep the winner with 'unitsyncctl conflicts dismiss " << id << "'\n";
  }
  return {};
}

Status RunResolve(Context& ctx, int64_t id, bool restore) {
  AskOptions ask;
  ask.fallback = [id, restore](store::Replica& r) {
    return control::ResolveConflict(r, id, restore);
  };
  ask.fallback_writes = true;
  auto doc = ctx.Ask(restore ? control::cmd::kConflictsRestore : control::cmd::kConflictsDismiss,
                     {{"id", id}}, ask);
  if (!doc) return tl::unexpected(doc.error());
  const char* verb = restore ? "restored" : "dismissed";
  if (ctx.global.json) {
    PrintJson(ctx.out(), *doc);
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
