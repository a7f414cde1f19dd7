// unitsyncctl units (central): one row per unit — link, last contact, lag, queue, rows
// refused, conflicts, certificate expiry.
#include <algorithm>
#include <memory>

#include "admin-cli/cli.h"
#include "control/views.h"
#include "control/wire.h"

namespace unitsync::cli {
namespace {

using Json = nlohmann::json;

std::string State(const Json& u, bool live) {
  if (!u.value("enrolled", true)) return "not enrolled";
  if (u.value("revoked", false)) return "revoked";
  if (!live) return "?";
  if (u.value("paused", false)) return "paused";
  return u.value("connected", false) ? "connected" : "offline";
}

std::string CertExpiry(const Json& u, int64_t now) {
  const int64_t at = JsonInt(u, "cert_not_after_ms");
  if (at <= 0) return "-";
  const std::string day = FormatTimeMs(at).substr(0, 10);
  if (at < now) return day + " EXPIRED";
  if (at - now < int64_t{30} * 24 * 3600 * 1000) return day + " (soon)";
  return day;
}

struct UnitsOptions {
  std::string sort = "unit";
};

Status RunUnits(Context& ctx, const UnitsOptions& opts) {
  AskOptions ask;
  // Without the daemon, the registry is not at hand: units come from central's cursors.
  ask.fallback = [](store::Replica& r) { return control::UnitsView(r, {}); };
  auto doc = ctx.Ask(control::cmd::kUnits, Json::object(), ask);
  if (!doc) return tl::unexpected(doc.error());
  const bool live = ctx.answered_by() == AnsweredBy::kDaemon;
  std::vector<Json> units((*doc)["units"].begin(), (*doc)["units"].end());
  const int64_t now = control::WallNowMs();
  auto contact = [live](const Json& u) {
    return live ? JsonInt(u, "last_contact_ms") : JsonInt(u, "last_sync_ms");
  };
  auto by = [&](auto key, bool descending) {
    std::stable_sort(units.begin(), units.end(), [&](const Json& a, const Json& b) {
      return descending ? key(a) > key(b) : key(a) < key(b);
    });
  };
  if (opts.sort == "lag") by([](const Json& u) { return JsonInt(u, "lag_changes"); }, true);
  if (opts.sort == "contact") by(contact, false);  // longest silent first
  if (opts.sort == "rejected") by([](const Json& u) { return JsonInt(u, "rejected_rows"); }, true);
  if (opts.sort == "conflicts")
    by([](const Json& u) { return JsonInt(u, "conflicts_open"); }, true);
  if (opts.sort == "cert") by([](const Json& u) { return JsonInt(u, "cert_not_after_ms"); }, false);

  if (ctx.global.json) {
    Json out = *doc;
    out["units"] = units;
    out["answered_by"] = live ? "daemon" : "database";
    PrintJson(ctx.out(), out);
    return {};
  }
  TextTable table({"unit", "state", live ? "last contact" : "last sync", "lag", "lag age", "queue",
                   "rejected", "conflicts", "cert expires"});
  size_t connected = 0;
  for (const Json& u : units) {
    connected += u.value("connected", false) ? 1 : 0;
    const int64_t seen = contact(u);
    table.AddRow({u["unit"], State(u, live), seen > 0 ? FormatAge(now - seen) + " ago" : "never",
                  std::to_string(JsonInt(u, "lag_changes")),
                  JsonInt(u, "lag_ms") > 0 ? FormatAge(JsonInt(u, "lag_ms")) : "-",
                  live ? std::to_string(JsonInt(u, "queue")) : "-",
                  std::to_string(JsonInt(u, "rejected_rows")),
                  std::to_string(JsonInt(u, "conflicts_open")), CertExpiry(u, now)});
  }
  table.Print(ctx.out());
  ctx.out() << units.size() << " unit(s)";
  if (live) ctx.out() << ", " << connected << " connected";
  ctx.out() << ". LAG: central changes the unit has not acknowledged; QUEUE: changesets in "
               "flight; REJECTED: rows refused from it (see 'unitsyncctl status')\n";
  return {};
}

}  // namespace

void RegisterUnits(CLI::App& app, Context& ctx) {
  auto opts = std::make_shared<UnitsOptions>();
  CLI::App* cmd = app.add_subcommand("units", "Central: every unit's link, lag and problems");
  cmd->add_option("--sort", opts->sort, "Order by unit, lag, contact, rejected, conflicts, cert")
      ->check(OneOf({"unit", "lag", "contact", "rejected", "conflicts", "cert"}))
      ->capture_default_str();
  cmd->footer(
      "Asks the running central daemon; when it is down, reads central's database (no link\n"
      "state, no certificate expiry).");
  cmd->callback([&ctx, opts] { ctx.Finish(RunUnits(ctx, *opts)); });
}

}  // namespace unitsync::cli
