// unitsyncctl status: this node's sync state — the link (from the daemon), what waits to
// go out and how old it is, cursors, conflicts, rows refused, the last error with a hint.
#include <sstream>

#include "admin-cli/cli.h"
#include "control/views.h"
#include "control/wire.h"

namespace unitsync::cli {
namespace {

using Json = nlohmann::json;

int64_t Int(const Json& j, const char* key) { return j.value(key, int64_t{0}); }

void PrintRejections(std::ostream& out, const Json& rejections, int64_t now) {
  out << "rejected rows:    " << Int(rejections, "total") << " on record\n";
  for (const auto& p : rejections["by_peer"]) {
    const bool by_peer = p["direction"] == "refused_by_peer";
    out << "  " << Int(p, "rows") << " row(s) " << (by_peer ? "refused by " : "refused from ")
        << ForTerminal(p["peer"].get<std::string>()) << ", newest "
        << FormatWhen(Int(p, "last_ms"), now) << "\n";
  }
  if (rejections["recent"].empty()) return;
  TextTable table({"table", "id", "reason", "peer", "seq", "when"});
  for (const auto& r : rejections["recent"]) {
    table.AddRow({r["table"], r["id"], r["reason_name"], r["peer"], std::to_string(Int(r, "seq")),
                  FormatAge(now - Int(r, "detected_ms")) + " ago"});
  }
  std::ostringstream text;
  table.Print(text);
  std::istringstream lines(text.str());
  for (std::string line; std::getline(lines, line);) out << "  " << line << "\n";
}

void PrintUnit(std::ostream& out, const Json& doc, bool live, int64_t now) {
  out << ForTerminal(doc["node_id"].get<std::string>()) << " (unit)\n";
  if (live) {
    const Json& link = doc["link"];
    out << "link:             " << link["state"].get<std::string>() << " — central "
        << ForTerminal(link["central"].get<std::string>());
    if (Int(link, "since_ms") > 0) out << ", since " << FormatWhen(Int(link, "since_ms"), now);
    out << "\n";
    out << "last contact:     " << FormatWhen(Int(link, "last_contact_ms"), now) << "\n"
        << "last sync:        " << FormatWhen(Int(link, "last_sync_ms"), now) << "\n";
  } else {
    out << "link:             unknown (the daemon is not running)\n";
  }
  const Json& o = doc["outgoing"];
  out << "outgoing:         " << Int(o, "pending_changes") << " change(s) not yet acknowledged";
  if (Int(o, "oldest_pending_ms") > 0) {
    out << ", oldest " << FormatAge(now - Int(o, "oldest_pending_ms")) << " old";
  }
  out << " (" << Int(o, "outbox_pending") << " changeset(s) built and waiting";
  if (live) out << ", " << Int(doc["link"], "in_flight") << " in flight";
  out << ")\n";
  out << "incoming:         central's log applied up to seq " << Int(doc["incoming"], "pulled_seq")
      << "\n";
  out << "cursors:          pushes built " << Int(o, "built_seq") << ", acknowledged "
      << Int(o, "acked_seq") << " (change log seq " << Int(o, "acked_log_seq") << " of "
      << Int(o, "log_head_seq") << ")\n";
}

void PrintCentral(std::ostream& out, const Json& doc, bool live) {
  out << ForTerminal(doc["node_id"].get<std::string>()) << " (central)\n";
  if (live) {
    out << "listening:        " << ForTerminal(doc["listening"].get<std::string>())
        << (doc.value("paused", false) ? " (PAUSED: units are refused)" : "") << "\n"
        << "sessions:         " << Int(doc, "sessions") << " unit(s) connected\n";
  } else {
    out << "sessions:         unknown (the daemon is not running)\n";
  }
  out << "units known:      " << Int(doc, "units_known") << " (see 'unitsyncctl units')\n"
      << "log head:         seq " << Int(doc, "log_head_seq") << ", generation "
      << ForTerminal(doc["generation"].get<std::string>()) << "\n";
}

Status RunStatus(Context& ctx) {
  AskOptions ask;
  ask.fallback = [](store::Replica& r) { return control::StatusView(r); };
  auto doc = ctx.Ask(control::cmd::kStatus, Json::object(), ask);
  if (!doc) return tl::unexpected(doc.error());
  const bool live = ctx.answered_by() == AnsweredBy::kDaemon;
  if (ctx.global.json) {
    (*doc)["answered_by"] = live ? "daemon" : "database";
    PrintJson(ctx.out(), *doc);
    return {};
  }
  auto& out = ctx.out();
  const int64_t now = control::WallNowMs();
  if ((*doc)["role"] == "unit") {
    PrintUnit(out, *doc, live, now);
  } else {
    PrintCentral(out, *doc, live);
  }
  out << "conflicts:        " << Int(*doc, "conflicts_open") << " open"
      << (Int(*doc, "conflicts_open") > 0 ? " (see 'unitsyncctl conflicts')" : "") << "\n";
  PrintRejections(out, (*doc)["rejections"], now);
  if (live && (*doc)["role"] == "unit" && !(*doc)["link"]["last_error"].is_null()) {
    const Json& e = (*doc)["link"]["last_error"];
    out << "last problem:     " << ForTerminal(e["message"].get<std::string>()) << " ("
        << FormatAge(now - Int(e, "at_ms")) << " ago)\n"
        << "  hint:           " << ForTerminal(e["hint"].get<std::string>()) << "\n";
  }
  out << "database:         " << ForTerminal((*doc)["database"].get<std::string>()) << "\n";
  return {};
}

}  // namespace

void RegisterStatus(CLI::App& app, Context& ctx) {
  CLI::App* cmd = app.add_subcommand("status", "This node's sync state, at a glance");
  cmd->footer("Asks the running daemon; when it is down, reads the database (without link state).");
  cmd->callback([&ctx] { ctx.Finish(RunStatus(ctx)); });
}

}  // namespace unitsync::cli
