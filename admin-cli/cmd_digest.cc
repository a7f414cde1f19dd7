// unitsyncctl digest: per-table digests that prove two replicas hold the
// same replicated rows (compare a unit's output with central's --unit).
#include <memory>

#include "admin-cli/cli.h"
#include "control/views.h"
#include "control/wire.h"

namespace unitsync::cli {
namespace {

struct DigestOptions {
  std::optional<std::string> unit;
};

Status RunDigest(Context& ctx, const DigestOptions& opts) {
  nlohmann::json args = nlohmann::json::object();
  if (opts.unit) args["unit"] = *opts.unit;
  AskOptions ask;
  ask.fallback = [unit = opts.unit](store::Replica& r) { return control::DigestView(r, unit); };
  ask.fallback_writes = true;  // a digest stamps pending local changes first
  auto doc = ctx.Ask(control::cmd::kDigest, args, ask);
  if (!doc) return tl::unexpected(doc.error());
  if (ctx.global.json) {
    PrintJson(ctx.out(), *doc);
    return {};
  }
  TextTable table({"table", "rows", "tombstones", "sha256"});
  for (const auto& d : (*doc)["tables"]) {
    table.AddRow({d["table"], std::to_string(d["rows"].get<int64_t>()),
                  std::to_string(d["tombstones"].get<int64_t>()), ShortHash(d["sha256"])});
  }
  table.Print(ctx.out());
  const auto& scope = (*doc)["scope"];
  ctx.out() << "scope: "
            << (scope == "all" ? std::string("all rows") : "unit " + scope.get<std::string>())
            << " (central-scope tables in full); full digests with --json\n";
  return {};
}

}  // namespace

void RegisterDigest(CLI::App& app, Context& ctx) {
  auto opts = std::make_shared<DigestOptions>();
  CLI::App* cmd = app.add_subcommand("digest", "Per-table digests for comparing replicas");
  cmd->add_option("--unit", opts->unit,
                  "At central: only this unit's rows (what that unit's replica holds)")
      ->check(NodeId());
  cmd->footer(
      "A unit's digest equals central's 'digest --unit UNIT' when the two are in sync.\n"
      "Example:\n"
      "  diff <(unitsyncctl --db unit.db digest --json) \\\n"
      "       <(unitsyncctl --db central.db digest --unit unit-0042 --json)");
  cmd->callback([&ctx, opts] { ctx.Finish(RunDigest(ctx, *opts)); });
}

}  // namespace unitsync::cli
