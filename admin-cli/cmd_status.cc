// unitsyncctl status: this node's sync state — the link (from the daemon), what waits to
// go out and how old it is, cursors, conflicts, rows refused, the last error with a hint.
#include <sstream>

#include "admin-cli/cli.h"
#include "control/views.h"
#include "control/wire.h"

namespace unitsync::cli {
namespace {

using Json = nlohmann::json;

void PrintRejections(std::ostream& out, const Json& rejections, int64_t now) {
  out << "rejected rows:    " << JsonInt(rejections, "total") << " on record\n";
  for (const auto& p : rejections["by_peer"]) {
    const bool by_peer = p["direction"] == "refused_by_peer";
    out << "  " << JsonInt(p, "rows") << " row(s) " << (by_peer ? "refused by " : "refused from ")
        << ForTerminal(p["peer"].get<std::string>()) << ", newest "
        << FormatWhen(JsonInt(p, "last_ms"), now) << "\n";
  }
  if (rejections["recent"].empty()) return;
  TextTable table({"table", "id", "reason", "peer", "seq", "when"});
  for (const auto& r : rejections["recent"]) {
    table.AddRow({r["table"], r["id"], r["reason_name"], r["peer"],
                  std::to_string(JsonInt(r, "seq")),
                  FormatAge(now - JsonInt(r, "detected_ms")) + " ago"});
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
    if (JsonInt(link, "since_ms") > 0)
      out << ", since " << FormatWhen(JsonInt(link, "since_ms"), now);
    out << "\n";
    out << "last contact:     " << FormatWhen(JsonInt(link, "last_contact_ms"), now) << "\n"
        << "last sync:        " << FormatWhen(JsonInt(link, "last_sync_ms"), now) << "\n";
  } else {
    out << "link:             unknown (the daemon is not running)\n";
  }
  const Json& o = doc["outgoing"];
  out << "outgoing:         " << JsonInt(o, "pending_changes") << " change(s) not yet acknowledged";
  if (JsonInt(o, "oldest_pending_ms") > 0) {
    out << ", oldest " << FormatAge(now - JsonInt(o, "oldest_pending_ms")) << " old";
  }
  out << " (" << JsonInt(o, "outbox_pending") << " changeset(s) built and waiting";
  if (live) out << ", " << JsonInt(doc["link"], "in_flight") << " in flight";
  out << ")\n";
  out << "incoming:         central's log applied up to seq "
      << JsonInt(doc["incoming"], "pulled_seq") << "\n";
  if (doc.contains("quarantined_as")) {
    out << "QUARANTINED:      the replica failed its integrity check and was replaced; the "
           "damaged file is kept as "
        << ForTerminal(doc["quarantined_as"].get<std::string>()) << "\n";
  }
  if (doc.contains("seed")) {
    const Json& s = doc["seed"];
    out << "re-seed:          ";
    if (JsonInt(s, "chunks_applied") == 0) {
      out << "waiting to stream this unit's rows from central";
    } else {
      out << JsonInt(s, "rows_applied") << " of about " << JsonInt(s, "rows_total")
          << " rows streamed from central (" << JsonInt(s, "chunks_applied")
          << " chunks; resumes there if interrupted)";
    }
    if (s.value("forced", false)) {
      out << "; central's log no longer reached this unit's cursor (offline past central's "
             "log retention): rows the snapshot leaves out are removed here at its end";
    }
    out << "\n";
  }
  out << "cursors:          pushes built " << JsonInt(o, "built_seq") << ", acknowledged "
      << JsonInt(o, "acked_seq") << " (change log seq " << JsonInt(o, "acked_log_seq") << " of "
      << JsonInt(o, "log_head_seq") << ")\n";
}

// The replica's storage condition, from the daemon: a line only when it is not ok, or
// when a storage problem happened since the daemon started (then when it cleared).
void PrintStorage(std::ostream& out, const Json& daemon, int64_t now) {
  if (!daemon.contains("storage")) return;
  const Json& s = daemon["storage"];
  const std::string condition = s["condition"];
  if (condition == "ok") {
    if (s["last_error"].is_null()) return;
    out << "storage:          ok (last problem "
        << FormatAge(now - JsonInt(s["last_error"], "at_ms"))
        << " ago: " << ForTerminal(s["last_error"]["message"].get<std::string>()) << ")\n";
    return;
  }
  out << "storage:          " << (condition == "disk_full" ? "DISK FULL" : "I/O ERRORS")
      << " since " << FormatWhen(JsonInt(s, "since_ms"), now) << " — "
      << ForTerminal(s["database"].get<std::string>()) << "\n"
      << "  error:          " << ForTerminal(s["last_error"]["message"].get<std::string>())
      << " (in " << ForTerminal(s["last_error"]["work"].get<std::string>()) << ")\n"
      << "  hint:           " << ForTerminal(s["hint"].get<std::string>()) << "\n";
}

void PrintCentral(std::ostream& out, const Json& doc, bool live) {
  out << ForTerminal(doc["node_id"].get<std::string>()) << " (central)\n";
  if (live) {
    out << "listening:        " << ForTerminal(doc["listening"].get<std::string>())
        << (doc.value("paused", false) ? " (PAUSED: units are refused)" : "") << "\n"
        << "sessions:         " << JsonInt(doc, "sessions") << " unit(s) connected\n";
  } else {
    out << "sessions:         unknown (the daemon is not running)\n";
  }
  out << "units known:      " << JsonInt(doc, "units_known") << " (see 'unitsyncctl units')\n"
      << "log head:         seq " << JsonInt(doc, "log_head_seq") << ", generation "
      << ForTerminal(doc["generation"].get<std::string>()) << "\n";
  if (doc.contains("log_gc")) {
    const Json& gc = doc["log_gc"];
    out << "change log:       " << JsonInt(gc, "entries") << " entries, trimmed up to seq "
        << JsonInt(gc, "trimmed_upto") << "; " << JsonInt(gc, "tombstones")
        << " tombstones, collected up to seq " << JsonInt(gc, "tombstones_trimmed_upto") << "\n";
  }
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
  out << "conflicts:        " << JsonInt(*doc, "conflicts_open") << " open"
      << (JsonInt(*doc, "conflicts_open") > 0 ? " (see 'unitsyncctl conflicts')" : "") << "\n";
  PrintRejections(out, (*doc)["rejections"], now);
  if (live && (*doc)["role"] == "unit" && !(*doc)["link"]["last_error"].is_null()) {
    const Json& e = (*doc)["link"]["last_error"];
    out << "last problem:     " << ForTerminal(e["message"].get<std::string>()) << " ("
        << FormatAge(now - JsonInt(e, "at_ms")) << " ago)\n"
        << "  hint:           " << ForTerminal(e["hint"].get<std::string>()) << "\n";
  }
  if (live) PrintStorage(out, (*doc)["daemon"], now);
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
