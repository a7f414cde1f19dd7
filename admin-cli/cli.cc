#include "admin-cli/cli.h"

#include <toml++/toml.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <iostream>

#include "control/wire.h"
#include "pki/bundle.h"

namespace unitsync::cli {
namespace {

constexpr const char* kProgram = "unitsyncctl";

size_t DisplayWidth(std::string_view s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xc0) != 0x80;  // Count code points, not bytes.
  return n;
}

void PrintError(std::ostream& err, const Error& e) {
  err << kProgram << ": error: " << e.message << "\n";
  if (!e.hint.empty()) err << kProgram << ": hint: " << e.hint << "\n";
}

}  // namespace

Result<store::Replica> Context::OpenReplica(bool read_only) {
  if (global.db.empty()) {
    return Fail(Errc::kInvalidArgument, "--db PATH is required",
                "name the replica file with --db or $UNITSYNC_DB");
  }
  store::ReplicaOptions options;
  options.read_only = read_only;
  auto replica = store::Replica::Open(global.db, options);
  if (!replica && replica.error().code == Errc::kNotFound) {
    // A missing --db file is a problem with the replica, not a missing row:
    // scripts must not mistake it for "the action you asked for is gone".
    return Fail(Errc::kNotAReplica, replica.error().message, replica.error().hint);
  }
  return replica;
}

const DaemonSettings& Context::DaemonConfig() {
  if (daemon_config_) return *daemon_config_;
  DaemonSettings& s = daemon_config_.emplace();
  std::error_code ec;
  if (!std::filesystem::exists(global.config, ec)) return s;
  try {
    const toml::table t = toml::parse_file(global.config);
    if (auto v = t["control"]["socket"].value<std::string>()) s.socket = *v;
    if (auto v = t["database"].value<std::string>()) s.database = *v;
    if (auto v = t["tls"]["bundle"].value<std::string>()) s.bundle = *v;
    if (auto v = t["tls"]["pki_dir"].value<std::string>()) s.pki_dir = *v;
    if (auto v = t["central"]["node_id"].value<std::string>()) s.central_node = *v;
    // Out-of-range values are the daemon's to report ('unitsyncd --check-config').
    if (auto v = t["sync"]["max_frame"].value<int64_t>(); v && *v >= 1024 && *v <= (64 << 20)) {
      s.max_frame = static_cast<size_t>(*v);
    }
    if (auto v = t["sync"]["max_rows_per_changeset"].value<int64_t>();
        v && *v >= 1 && *v <= 100'000) {
      s.max_rows = static_cast<size_t>(*v);
    }
  } catch (const toml::parse_error&) {
    // The daemon reports a broken config itself ('unitsyncd --check-config').
    err() << kProgram << ": note: cannot read " << global.config
          << "; using the default control socket\n";
  }
  return s;
}

std::string Context::DatabasePath() {
  if (global.db.empty()) global.db = DaemonConfig().database;
  return global.db;
}

Result<NodeKey> Context::LoadNodeKey(const std::string& bundle_dir) {
  const std::string dir = bundle_dir.empty() ? DaemonConfig().bundle : bundle_dir;
  if (dir.empty()) {
    return Fail(Errc::kInvalidArgument, "no bundle: the node's key is in its enrollment bundle",
                "give --bundle DIR, or --config naming the daemon's config ([tls] bundle)");
  }
  auto bundle = pki::LoadBundle(dir);
  if (!bundle) return tl::unexpected(bundle.error());
  if (!bundle->sealing) {
    return Fail(Errc::kNotFound, dir + " holds no secret to seal with",
                "central bundles issued before backups existed have none: issue a new one "
                "with 'unitsyncctl pki server'");
  }
  auto key = protocol::DeriveChangesetKey(bundle->sealing->secret.bytes(), bundle->sealing->key_id);
  if (!key) return tl::unexpected(key.error());
  return NodeKey{bundle->node_id, std::move(*key)};
}

std::string Context::SocketPath() {
  return global.socket_given ? global.socket : DaemonConfig().socket;
}

bool Context::DaemonAnswers() {
  auto r =
      control::Call(SocketPath(), control::Request{control::cmd::kStatus, nlohmann::json::object()},
                    std::chrono::seconds(5), {});
  return r.has_value() || r.error().code != Errc::kUnavailable;
}

Result<nlohmann::json> Context::Ask(const std::string& command, const nlohmann::json& args,
                                    const AskOptions& options) {
  auto from_database = [&]() -> Result<nlohmann::json> {
    answered_by_ = AnsweredBy::kDatabase;
    auto replica = OpenReplica(/*read_only=*/!options.fallback_writes);
    if (!replica) return tl::unexpected(replica.error());
    return options.fallback(*replica);
  };
  if (global.db_given && !global.socket_given) {
    if (options.fallback) return from_database();
    return Fail(Errc::kInvalidArgument, "this command needs the running daemon, not --db",
                "drop --db (the daemon's socket is found from its config), or give --socket");
  }
  const DaemonSettings& config = DaemonConfig();
  const std::string socket = SocketPath();
  control::ProgressFn progress;
  const bool tty = ::isatty(STDERR_FILENO) != 0;
  if (options.progress && tty) {
    progress = [this](const nlohmann::json& p) {
      err() << "\r" << p.value("done", 0) << "/" << p.value("total", 0) << " "
            << ForTerminal(p.value("what", std::string())) << "\x1b[K" << std::flush;
    };
  }
  auto result =
      control::Call(socket, control::Request{command, args}, std::chrono::seconds(150), progress);
  if (options.progress && tty) err() << "\r\x1b[K" << std::flush;
  answered_by_ = AnsweredBy::kDaemon;
  if (result || result.error().code != Errc::kUnavailable || !options.fallback) return result;
  if (global.db.empty()) global.db = config.database;
  if (global.db.empty()) {
    Error e = result.error();
    e.hint = "start unitsyncd, or name the replica with --db to read it directly";
    return tl::unexpected(e);
  }
  err() << kProgram << ": note: " << result.error().message << "; answering from " << global.db
        << " (no live link state)\n";
  return from_database();
}

void Context::Finish(const Status& status) {
  if (status) {
    exit_code_ = kExitOk;
    return;
  }
  PrintError(err(), status.error());
  exit_code_ = ExitCodeFor(status.error().code);
}

void BuildApp(CLI::App& app, Context& ctx) {
  app.name(kProgram);
  app.set_version_flag("--version", std::string(kProgram) + " " + UNITSYNC_VERSION,
                       "Print the version and exit");
  app.description(
      "unitsyncctl administers a unitsync replica: the SQLite file that a unit or the central "
      "node keeps in sync.\nOutput is a table for people, or one JSON document with --json.");
  CLI::Option* db = app.add_option("--db", ctx.global.db, "Replica file (SQLite) to work on")
                        ->envname("UNITSYNC_DB")
                        ->type_name("PATH");
  CLI::Option* socket =
      app.add_option("--socket", ctx.global.socket,
                     "The daemon's control socket (default: [control] socket of --config)")
          ->envname("UNITSYNC_SOCKET")
          ->type_name("PATH");
  CLI::Option* config =
      app.add_option("--config", ctx.global.config, "The daemon's configuration file")
          ->envname("UNITSYNC_CONFIG")
          ->type_name("PATH")
          ->capture_default_str();
  app.parse_complete_callback([&ctx, db, socket, config] {
    ctx.global.db_given = db->count() > 0 || !ctx.global.db.empty();
    ctx.global.socket_given = socket->count() > 0 || !ctx.global.socket.empty();
    ctx.global.config_given = config->count() > 0;
  });
  app.add_flag("--json", ctx.global.json, "Print one JSON document instead of a table");
  app.require_subcommand(1);
  app.fallthrough();  // Global flags may also follow the subcommand.
  app.footer(
      "Commands that the daemon answers (status, units, conflicts, history, digest) read\n"
      "the database directly when it is not running; --db works on a file directly.\n"
      "Exit codes: 0 ok, 1 operational error, 2 usage error, 3 not found,\n"
      "            4 rejected in the current state, 5 replica unusable (missing, not a\n"
      "            replica, other node, newer schema, damaged), 6 the daemon is needed\n"
      "            and not running.\n"
      "Run 'unitsyncctl COMMAND --help' for a command's flags.");
  RegisterInit(app, ctx);
  RegisterAction(app, ctx);
  RegisterChanges(app, ctx);
  RegisterConflicts(app, ctx);
  RegisterDigest(app, ctx);
  RegisterPki(app, ctx);
  RegisterStatus(app, ctx);
  RegisterUnits(app, ctx);
  RegisterHistory(app, ctx);
  RegisterLinkControl(app, ctx);
  RegisterVerify(app, ctx);
  RegisterBackup(app, ctx);
  RegisterRestore(app, ctx);
  RegisterReseed(app, ctx);
  RegisterPurge(app, ctx);
  RegisterExportBundle(app, ctx);
  RegisterImportBundle(app, ctx);
}

int Run(CLI::App& app, Context& ctx, int argc, const char* const* argv) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e, ctx.out(), ctx.err());
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e, ctx.out(), ctx.err());
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e, ctx.out(), ctx.err());
  } catch (const CLI::ExtrasError&) {
    // Flags are safe to name; other extra words may be pieces of a
    // mis-quoted free-text value, so they are only counted.
    std::string flags;
    size_t others = 0;
    for (const std::string& arg : app.remaining(true)) {
      if (arg.size() > 1 && arg[0] == '-') {
        flags += " " + arg;
      } else {
        ++others;
      }
    }
    ctx.err() << kProgram << ": error: unexpected argument(s):";
    if (!flags.empty()) ctx.err() << flags;
    if (others > 0) ctx.err() << " (" << others << " other word(s), not shown)";
    ctx.err() << "\n"
              << kProgram
              << ": hint: quote values that contain spaces; see 'unitsyncctl COMMAND --help'\n";
    return kExitUsage;
  } catch (const CLI::ParseError& e) {
    ctx.err() << kProgram << ": error: " << e.what() << "\n"
              << kProgram << ": hint: see 'unitsyncctl --help'\n";
    return kExitUsage;
  }
  return ctx.exit_code();
}

std::string ForTerminal(std::string_view text, bool keep_newlines) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if ((c < 0x20 && !(keep_newlines && c == '\n')) || c == 0x7f) {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    } else if (c == 0xc2 && i + 1 < text.size() &&
               (static_cast<unsigned char>(text[i + 1]) & 0xe0) == 0x80) {
      const auto c1 = static_cast<unsigned char>(text[++i]);  // U+0080..U+009F.
      out += "\\u00";
      out += kHex[c1 >> 4];
      out += kHex[c1 & 0xf];
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

void TextTable::Print(std::ostream& out) const {
  std::vector<std::vector<std::string>> rows;
  for (const auto& row : rows_) {
    std::vector<std::string> safe;
    for (const auto& cell : row) safe.push_back(ForTerminal(cell));
    rows.push_back(std::move(safe));
  }
  std::vector<size_t> width(headers_.size(), 0);
  for (size_t i = 0; i < headers_.size(); ++i) width[i] = DisplayWidth(headers_[i]);
  for (const auto& row : rows) {
    for (size_t i = 0; i < row.size() && i < width.size(); ++i) {
      width[i] = std::max(width[i], DisplayWidth(row[i]));
    }
  }
  auto line = [&](const std::vector<std::string>& cells, bool upper) {
    std::string text;
    for (size_t i = 0; i < cells.size() && i < width.size(); ++i) {
      std::string cell = cells[i];
      if (upper) {
        for (char& c : cell) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      }
      text += cell;
      if (i + 1 < cells.size()) text += std::string(width[i] - DisplayWidth(cell) + 2, ' ');
    }
    out << text << "\n";
  };
  line(headers_, true);
  for (const auto& row : rows) line(row, false);
}

void PrintJson(std::ostream& out, const nlohmann::json& doc) {
  out << doc.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
}

std::string FormatAge(int64_t age_ms) {
  if (age_ms < -1000) return "-";
  const int64_t s = std::max<int64_t>(age_ms, 0) / 1000;
  char buf[32];
  if (s < 60) {
    std::snprintf(buf, sizeof buf, "%llds", static_cast<long long>(s));
  } else if (s < 3600) {
    std::snprintf(buf, sizeof buf, "%lldm", static_cast<long long>(s / 60));
  } else if (s < 86400) {
    std::snprintf(buf, sizeof buf, "%lldh%02lldm", static_cast<long long>(s / 3600),
                  static_cast<long long>(s % 3600 / 60));
  } else {
    std::snprintf(buf, sizeof buf, "%lldd%02lldh", static_cast<long long>(s / 86400),
                  static_cast<long long>(s % 86400 / 3600));
  }
  return buf;
}

std::string FormatWhen(int64_t unix_ms, int64_t now_ms) {
  if (unix_ms <= 0) return "never";
  return FormatTimeMs(unix_ms) + " (" + FormatAge(now_ms - unix_ms) + " ago)";
}

std::string FormatVersion(const nlohmann::json& v, const char* none) {
  if (v.is_null() || v.value("hlc", uint64_t{0}) == 0) return none;
  return v["wall_time"].get<std::string>() + "+" + std::to_string(v["counter"].get<uint64_t>()) +
         " @" + v["origin"].get<std::string>();
}

int64_t JsonInt(const nlohmann::json& doc, const char* key) {
  auto it = doc.find(key);
  return it != doc.end() && it->is_number() ? it->get<int64_t>() : 0;
}

std::string FormatVersion(const store::Version& v) {
  if (v.empty()) return "(none)";
  return FormatTimeMs(store::HlcWallMs(v.hlc)) + "+" + std::to_string(store::HlcCounter(v.hlc)) +
         " @" + v.origin;
}

std::string FormatValue(const store::Value& v) {
  if (store::IsNull(v)) return "NULL";
  if (auto* i = std::get_if<int64_t>(&v)) return std::to_string(*i);
  if (auto* d = std::get_if<double>(&v)) return std::to_string(*d);
  if (auto* s = std::get_if<std::string>(&v)) return ForTerminal(*s, /*keep_newlines=*/true);
  return "<blob " + std::to_string(std::get<store::Blob>(v).size()) + " bytes>";
}

bool IsIsoDate(std::string_view s) {
  if (s.size() != 10 || s[4] != '-' || s[7] != '-') return false;
  for (size_t i : {0, 1, 2, 3, 5, 6, 8, 9}) {
    if (s[i] < '0' || s[i] > '9') return false;
  }
  auto num = [&](size_t pos, size_t len) {
    int n = 0;
    for (size_t i = pos; i < pos + len; ++i) n = n * 10 + (s[i] - '0');
    return n;
  };
  const std::chrono::year_month_day ymd{std::chrono::year{num(0, 4)},
                                        std::chrono::month{static_cast<unsigned>(num(5, 2))},
                                        std::chrono::day{static_cast<unsigned>(num(8, 2))}};
  return ymd.ok();
}

CLI::Validator OneOf(std::vector<std::string> allowed) {
  std::string list;
  for (const auto& a : allowed) list += (list.empty() ? "" : "|") + a;
  return CLI::Validator(
      [allowed, list](std::string& value) -> std::string {
        for (const auto& a : allowed) {
          if (value == a) return {};
        }
        return "must be one of " + list;
      },
      list);
}

CLI::Validator IsoDate() {
  return CLI::Validator(
      [](std::string& value) -> std::string {
        return IsIsoDate(value) ? std::string() : "must be a date written YYYY-MM-DD";
      },
      "YYYY-MM-DD");
}

CLI::Validator NodeId() {
  return CLI::Validator(
      [](std::string& value) -> std::string {
        return store::IsValidNodeId(value)
                   ? std::string()
                   : "must be 1-64 of a-z 0-9 . _ -, starting with a letter or digit";
      },
      "NODE-ID");
}

}  // namespace unitsync::cli
