// unitsyncctl verify: does a unit hold exactly what central holds for it? Per-table
// digests compared over the sync session, at a unit (itself) or at central (one unit, or
// every connected unit with progress).
#include <memory>

#include "admin-cli/cli.h"
#include "control/wire.h"

namespace unitsync::cli {
namespace {

using Json = nlohmann::json;

struct VerifyOptions {
  std::optional<std::string> unit;
};

Status RunVerify(Context& ctx, const VerifyOptions& opts) {
  Json args = Json::object();
  if (opts.unit) args["unit"] = *opts.unit;
  AskOptions ask;  // the digests of both sides are compared over the session: daemon only
  ask.progress = true;
  auto doc = ctx.Ask(control::cmd::kVerify, args, ask);
  if (!doc) return tl::unexpected(doc.error());
  const int64_t differ = doc->value("differ", int64_t{0});
  const int64_t failed = doc->value("failed", int64_t{0});
  if (ctx.global.json) {
    PrintJson(ctx.out(), *doc);
  } else {
    TextTable table({"unit", "result", "details"});
    for (const Json& u : (*doc)["units"]) {
      std::string result, details;
      if (u.contains("error")) {
        result = "not verified";
        details = u["error"]["message"];
      } else if (u["all_equal"].get<bool>()) {
        result = "identical";
        details = std::to_string(u["tables"].size()) + " tables" +
                  (u["settled"].get<bool>() ? "" : " (sync was in flight)");
      } else {
        result = u["settled"].get<bool>() ? "DIFFERS" : "differs (in flight)";
        for (const auto& t : u["differing"])
          details += (details.empty() ? "" : ", ") + t.get<std::string>();
        if (!u["settled"].get<bool>()) details += "; " + u["in_flight"].get<std::string>();
      }
      table.AddRow({u["unit"], result, details});
    }
    table.Print(ctx.out());
    ctx.out() << doc->value("equal", int64_t{0}) << " identical, " << differ << " differ, "
              << failed << " not verified";
    if (!(*doc)["not_connected"].empty()) {
      ctx.out() << "; not connected (skipped):";
      for (const auto& u : (*doc)["not_connected"]) ctx.out() << " " << u.get<std::string>();
    }
    ctx.out() << "\n";
  }
  if (differ > 0 || failed > 0) {
    return Fail(Errc::kIo,
                std::to_string(differ) + " unit(s) differ from central, " + std::to_string(failed) +
                    " could not be verified",
                differ > 0 ? "a difference found while sync was in flight may settle: run verify "
                             "again when idle; a settled one means a replica was changed behind "
                             "the engine's back (see 'unitsyncctl history')"
                           : "see the errors above and the daemon's log");
  }
  return {};
}

}  // namespace

void RegisterVerify(CLI::App& app, Context& ctx) {
  auto opts = std::make_shared<VerifyOptions>();
  CLI::App* cmd = app.add_subcommand(
      "verify", "Compare a unit's replica with central's copy of it, table by table");
  cmd->add_option("--unit", opts->unit, "At central: only this unit (default: every connected one)")
      ->check(NodeId());
  cmd->footer(
      "Needs the running daemon (the digests travel over the sync session). Exit code 0\n"
      "when every unit checked is identical, 1 when one differs or could not be checked.");
  cmd->callback([&ctx, opts] { ctx.Finish(RunVerify(ctx, *opts)); });
}

}  // namespace unitsync::cli
