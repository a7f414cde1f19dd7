// unitsyncctl purge: erase one row and its history on every replica (store/purge.h).
#include <memory>

#include "admin-cli/cli.h"
#include "control/views.h"
#include "control/wire.h"

namespace unitsync::cli {
namespace {

struct PurgeOptions {
  std::string table;
  std::string id;
  bool yes = false;
};

Status RunPurge(Context& ctx, const PurgeOptions& opts) {
  if (!opts.yes) {
    return Fail(Errc::kInvalidArgument,
                "a purge erases row " + opts.id + " of " + opts.table +
                    " and its history on every replica and cannot be undone",
                "add --yes to purge it");
  }
  AskOptions ask;
  ask.fallback = [opts](store::Replica& r) {
    return control::PurgeRowView(r, opts.table, opts.id);
  };
  ask.fallback_writes = true;
  auto doc = ctx.Ask(control::cmd::kPurge, {{"table", opts.table}, {"id", opts.id}}, ask);
  if (!doc) return tl::unexpected(doc.error());
  if (ctx.global.json) {
    PrintJson(ctx.out(), *doc);
    return {};
  }
  if ((*doc)["already_purged"].get<bool>()) {
    ctx.out() << "row " << opts.id << " of " << opts.table << " was purged before ("
              << FormatVersion((*doc)["version"], "-") << "): nothing to do\n";
    return {};
  }
  const std::string unit = (*doc)["unit"].get<std::string>();
  ctx.out() << "purged row " << opts.id << " of " << opts.table
            << (unit.empty() ? std::string(" (shared reference data)") : " (unit " + unit + ")")
            << ": the row, its conflicts and change-log entries are gone here; the purge\n"
            << "reaches the other replicas as they sync, and a marker keeps old copies out\n";
  return {};
}

}  // namespace

void RegisterPurge(CLI::App& app, Context& ctx) {
  auto opts = std::make_shared<PurgeOptions>();
  CLI::App* cmd = app.add_subcommand(
      "purge", "Erase a row and its history on every replica (an erasure request)");
  cmd->add_option("table", opts->table, "Replicated table")->required();
  cmd->add_option("id", opts->id, "Row id")->required();
  cmd->add_flag("--yes", opts->yes, "Confirm: a purge cannot be undone");
  cmd->footer(
      "Deletes the row, its conflicts (losing values included) and its change-log entries\n"
      "here, and sends the purge to every replica that holds the row, including units that\n"
      "are offline now, when they come back. Only a marker (table, id, time of the purge) is\n"
      "kept: a restored backup, a late bundle or a resend cannot bring the row back. Run it\n"
      "at central, or at the unit that owns the row; shared reference data only at central.\n"
      "Rows of other tables that refer to it must be purged first.\n"
      "Example:\n"
      "  unitsyncctl purge support_action 0190f5c2-7b1e-7c3d-8a4f-2b6c1d9e0f11 --yes");
  cmd->callback([&ctx, opts] { ctx.Finish(RunPurge(ctx, *opts)); });
}

}  // namespace unitsync::cli
