// unitsyncctl digest: per-table digests that prove two replicas hold the
// same replicated rows (compare a unit's output with central's --unit).
#include <memory>

#include "admin-cli/cli.h"
#include "store/digest.h"

namespace unitsync::cli {
namespace {

struct DigestOptions {
  std::optional<std::string> unit;
};

Status RunDigest(Context& ctx, const DigestOptions& opts) {
  auto replica = ctx.OpenReplica();
  if (!replica) return tl::unexpected(replica.error());
  store::DigestScope scope;
  if (replica->role() == store::Role::kUnit) {
    // A unit holds its own rows; scoping to them makes the output directly
    // comparable with central's 'digest --unit THIS-UNIT'.
    if (opts.unit && *opts.unit != replica->node_id()) {
      return Fail(Errc::kInvalidArgument, "a unit replica holds only its own unit's rows",
                  "omit --unit, or run it at central");
    }
    scope.unit = replica->node_id();
  } else {
    scope.unit = opts.unit;
  }
  auto digests = store::ComputeDigests(*replica, scope);
  if (!digests) return tl::unexpected(digests.error());
  if (ctx.global.json) {
    auto tables = nlohmann::json::array();
    for (const auto& d : *digests) {
      tables.push_back({{"table", d.table},
                        {"rows", d.rows},
                        {"tombstones", d.tombstones},
                        {"sha256", d.sha256}});
    }
    PrintJson(ctx.out(),
              {{"scope", scope.unit ? nlohmann::json(*scope.unit) : "all"}, {"tables", tables}});
    return {};
  }
  TextTable table({"table", "rows", "tombstones", "sha256"});
  for (const auto& d : *digests) {
    table.AddRow(
        {d.table, std::to_string(d.rows), std::to_string(d.tombstones), ShortHash(d.sha256)});
  }
  table.Print(ctx.out());
  ctx.out() << "scope: " << (scope.unit ? "unit " + *scope.unit : std::string("all rows"))
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
