// unitsyncctl sync-now | pause | resume: steer the running daemon's sync link(s).
#include <memory>

#include "admin-cli/cli.h"
#include "control/wire.h"

namespace unitsync::cli {
namespace {

using Json = nlohmann::json;

Status RunControl(Context& ctx, const std::string& command,
                  const std::optional<std::string>& unit) {
  Json args = Json::object();
  if (unit) args["unit"] = *unit;
  auto doc = ctx.Ask(command, args, AskOptions{});
  if (!doc) return tl::unexpected(doc.error());
  if (ctx.global.json) {
    PrintJson(ctx.out(), *doc);
    return {};
  }
  auto& out = ctx.out();
  if (doc->contains("link")) {  // a unit
    out << "link: " << (*doc)["link"].get<std::string>() << "\n";
  } else if (command == control::cmd::kSyncNow) {
    out << "fan-out nudged on " << (*doc)["sessions"].get<int64_t>() << " session(s)\n";
  } else {
    out << (doc->value("paused", false) ? "central is paused: every unit is refused"
                                        : "central accepts units");
    const auto& units = (*doc)["paused_units"];
    if (!doc->value("paused", false) && !units.empty()) {
      out << "; paused units:";
      for (const auto& u : units) out << " " << ForTerminal(u.get<std::string>());
    }
    out << "\n";
  }
  return {};
}

}  // namespace

void RegisterLinkControl(CLI::App& app, Context& ctx) {
  CLI::App* now = app.add_subcommand(
      "sync-now", "Sync at once: a unit reconnects now if waiting, central fans out now");
  now->callback([&ctx] { ctx.Finish(RunControl(ctx, control::cmd::kSyncNow, std::nullopt)); });

  for (const bool pause : {true, false}) {
    auto unit = std::make_shared<std::optional<std::string>>();
    CLI::App* cmd =
        app.add_subcommand(pause ? "pause" : "resume",
                           pause ? "Stop syncing until 'resume' (local work goes on and is kept)"
                                 : "Sync again after 'pause'");
    cmd->add_option("--unit", *unit, "At central: only this unit (default: every unit)")
        ->check(NodeId());
    cmd->footer(
        "A pause lasts until 'resume' or until the daemon restarts. At a unit, writes made\n"
        "while paused wait in the change log; at central, paused units are refused.");
    cmd->callback([&ctx, unit, pause] {
      ctx.Finish(RunControl(ctx, pause ? control::cmd::kPause : control::cmd::kResume, *unit));
    });
  }
}

}  // namespace unitsync::cli
