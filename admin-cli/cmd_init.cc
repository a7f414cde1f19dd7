// unitsyncctl init: creates a new, empty replica file.
#include <memory>

#include "admin-cli/cli.h"

namespace unitsync::cli {
namespace {

struct InitOptions {
  std::string role;
  std::string node_id;
};

Status RunInit(Context& ctx, const InitOptions& opts) {
  if (ctx.global.db.empty()) {
    return Fail(Errc::kInvalidArgument, "--db PATH is required", "name the file to create");
  }
  auto role = store::ParseRole(opts.role);
  if (!role) return tl::unexpected(role.error());
  auto replica = store::Replica::Create(ctx.global.db, *role, opts.node_id);
  if (!replica) return tl::unexpected(replica.error());
  if (ctx.global.json) {
    PrintJson(ctx.out(), {{"path", replica->path()},
                          {"role", std::string(store::RoleName(replica->role()))},
                          {"node_id", replica->node_id()},
                          {"schema_version", replica->schema_version()}});
  } else {
    ctx.out() << "created " << store::RoleName(replica->role()) << " replica for node "
              << replica->node_id() << " at " << replica->path() << " (schema "
              << replica->schema_version() << ")\n";
  }
  return {};
}

}  // namespace

void RegisterInit(CLI::App& app, Context& ctx) {
  auto opts = std::make_shared<InitOptions>();
  CLI::App* cmd = app.add_subcommand("init", "Create a new replica file for a unit or central");
  cmd->add_option("--role", opts->role, "Which side of the star this node is")
      ->required()
      ->check(OneOf({"unit", "central"}));
  cmd->add_option("--node-id", opts->node_id,
                  "This node's id, as in its certificate (e.g. unit-0042, central)")
      ->required()
      ->check(NodeId());
  cmd->footer(
      "Refuses to touch an existing non-empty file (exit 4).\n"
      "Example:\n"
      "  unitsyncctl --db /var/lib/unitsync/replica.db init --role unit --node-id unit-0042");
  cmd->callback([&ctx, opts] { ctx.Finish(RunInit(ctx, *opts)); });
}

}  // namespace unitsync::cli
