// Shared pieces of unitsyncctl: the context every subcommand runs in
// (global flags, opening the replica, reporting the outcome), output helpers
// (aligned tables, JSON, times, HLC versions) and flag validators.
//
// Each subcommand lives in its own file, cmd_<name>.cc, and registers itself
// with a Register<Name>(CLI::App&, Context&) function declared here. A
// subcommand's callback does its work through Result/Status values and ends
// with exactly one Context::Finish(); nothing throws out of a callback.
//
// Output contract: stdout carries the result (a table, or with --json one
// JSON document); stderr carries errors and hints, never a row value (no
// names, identity numbers, descriptions or other free text).
//
// Threading: single-threaded; one Context per process.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "admin-cli/exit_codes.h"
#include "common/error.h"
#include "control/format.h"
#include "control/wire.h"
#include "protocol/envelope.h"
#include "store/hlc.h"
#include "store/replica.h"
#include "store/value.h"

namespace unitsync::cli {

// Flags that every subcommand accepts (before or after the subcommand name).
struct GlobalOptions {
  std::string db;      // --db PATH (or $UNITSYNC_DB): the replica file.
  bool json = false;   // --json: one JSON document on stdout instead of a table.
  std::string socket;  // --socket PATH (or $UNITSYNC_SOCKET): the daemon's control socket.
  // --config PATH (or $UNITSYNC_CONFIG): the daemon's configuration, read for its control
  // socket and database when those are not given.
  std::string config = "/etc/unitsync/unitsyncd.toml";
  bool db_given = false;  // --db / $UNITSYNC_DB was set: work on that file directly
  bool socket_given = false;
  bool config_given = false;
};

// How a command that the daemon can answer is carried out (Context::Ask).
struct AskOptions {
  // Answers from the database when the daemon is not reachable (or with --db); null when
  // only the daemon can do it (sync-now, pause, resume, verify).
  std::function<Result<nlohmann::json>(store::Replica&)> fallback;
  bool fallback_writes = false;  // open the database read-write for the fallback
  bool progress = false;         // show the daemon's progress lines on a terminal
};

// What unitsyncctl reads from the daemon's config file (--config); fields the file does
// not set stay empty (the socket: the default path).
struct DaemonSettings {
  std::string socket = control::kDefaultSocketPath;
  std::string database;
  std::string bundle;  // [tls] bundle: the node's certificate, key and secret

  // For offline bundles (export-bundle, import-bundle):
  std::string pki_dir;                   // [tls] pki_dir (central): every unit's secret
  std::string central_node = "central";  // [central] node_id (a unit): its central's id
  // [sync] max_frame / max_rows_per_changeset: changesets built outside the daemon follow
  // the same limits; 0 = the daemon's default.
  size_t max_frame = 0;
  size_t max_rows = 0;
};

// The node's sealing key (backups; a unit's bundles) with the node it belongs to.
struct NodeKey {
  std::string node_id;
  protocol::ChangesetKey key;
};

// Where an answer came from (printers mention it when the daemon did not answer).
enum class AnsweredBy { kDaemon, kDatabase };

class Context {
 public:
  // `out` and `err` are not owned and must outlive the context.
  Context(std::ostream& out, std::ostream& err) : out_(&out), err_(&err) {}

  GlobalOptions global;

  // Opens the replica named by --db, migrating it when this binary's schema
  // is newer (as the daemon would). Fails with kInvalidArgument when --db is
  // missing; with kNotAReplica when no file is there or it is not a unitsync
  // replica; kWrongNode, kSchemaTooNew, kCorrupt as Replica::Open; storage
  // errors (kBusy, kIo) as they are.
  Result<store::Replica> OpenReplica(bool read_only = false);

  // Runs a control command. With --db (and no --socket) the database answers directly.
  // Otherwise the daemon at --socket (or the config's [control] socket) answers; when it
  // is not running, a note goes to stderr and the fallback answers from --db or the
  // config's database, opened read-only unless the command writes. Without a fallback a
  // daemon that is down is kUnavailable (exit code 6).
  Result<nlohmann::json> Ask(const std::string& command, const nlohmann::json& args,
                             const AskOptions& options);
  AnsweredBy answered_by() const { return answered_by_; }

  // The daemon's config (--config), read on first use; a file that is missing gives
  // defaults.
  const DaemonSettings& DaemonConfig();
  // The replica file: --db, else the config's database (remembered in global.db); empty
  // when neither names one.
  std::string DatabasePath();
  // The key sealed files of this node are sealed with, from `bundle_dir` or the config's
  // [tls] bundle. kInvalidArgument when neither names a bundle; LoadBundle's errors;
  // kNotFound for a bundle without a secret.
  Result<NodeKey> LoadNodeKey(const std::string& bundle_dir);
  // True when a daemon answers on the control socket (--socket or the config's).
  bool DaemonAnswers();
  // The daemon's control socket: --socket, else the config's [control] socket.
  std::string SocketPath();

  // Records the command's outcome: on failure prints the error (and its
  // hint) to stderr and sets the exit code from ExitCodeFor(). Call once.
  void Finish(const Status& status);

  std::ostream& out() { return *out_; }
  std::ostream& err() { return *err_; }
  int exit_code() const { return exit_code_; }

 private:
  std::ostream* out_;
  std::ostream* err_;
  int exit_code_ = kExitOk;
  AnsweredBy answered_by_ = AnsweredBy::kDaemon;
  std::optional<DaemonSettings> daemon_config_;
};

// Subcommands (one file each).
void RegisterInit(CLI::App& app, Context& ctx);         // cmd_init.cc
void RegisterAction(CLI::App& app, Context& ctx);       // cmd_action.cc
void RegisterChanges(CLI::App& app, Context& ctx);      // cmd_changes.cc
void RegisterConflicts(CLI::App& app, Context& ctx);    // cmd_conflicts.cc
void RegisterDigest(CLI::App& app, Context& ctx);       // cmd_digest.cc
void RegisterPki(CLI::App& app, Context& ctx);          // cmd_pki.cc
void RegisterStatus(CLI::App& app, Context& ctx);       // cmd_status.cc
void RegisterUnits(CLI::App& app, Context& ctx);        // cmd_units.cc
void RegisterHistory(CLI::App& app, Context& ctx);      // cmd_history.cc
void RegisterLinkControl(CLI::App& app, Context& ctx);  // cmd_link.cc: sync-now, pause, resume
void RegisterVerify(CLI::App& app, Context& ctx);       // cmd_verify.cc
void RegisterBackup(CLI::App& app, Context& ctx);       // cmd_backup.cc
void RegisterRestore(CLI::App& app, Context& ctx);      // cmd_restore.cc
void RegisterReseed(CLI::App& app, Context& ctx);       // cmd_reseed.cc
void RegisterPurge(CLI::App& app, Context& ctx);        // cmd_purge.cc

void RegisterExportBundle(CLI::App& app, Context& ctx);  // cmd_export_bundle.cc
void RegisterImportBundle(CLI::App& app, Context& ctx);  // cmd_import_bundle.cc

// Sets up the top-level app: name, description, global flags, every
// subcommand.
void BuildApp(CLI::App& app, Context& ctx);

// Parses argv and runs the chosen subcommand; returns the process exit code
// (see exit_codes.h). Command-line errors print a message to stderr and give
// kExitUsage; --help prints to stdout and gives kExitOk. Extra positional
// arguments are not echoed back: a mis-quoted free-text value would
// otherwise end up on the terminal and in logs.
int Run(CLI::App& app, Context& ctx, int argc, const char* const* argv);

// ---- Output -------------------------------------------------------------

// Stored text made safe for a terminal: control characters (C0, DEL, and
// C1 such as CSI) are written as \xNN / \u00NN, so a value synced from
// elsewhere cannot move the cursor, clear the screen or forge output.
// Newlines are kept only when `keep_newlines`.
std::string ForTerminal(std::string_view text, bool keep_newlines = false);

// A table printed with aligned columns, two spaces apart, headers in
// upper case. Cells pass through ForTerminal(). Widths count UTF-8 code
// points.
class TextTable {
 public:
  explicit TextTable(std::vector<std::string> headers) : headers_(std::move(headers)) {}
  // REQUIRES: cells.size() == number of headers.
  void AddRow(std::vector<std::string> cells) { rows_.push_back(std::move(cells)); }
  size_t size() const { return rows_.size(); }
  void Print(std::ostream& out) const;

 private:
  std::vector<std::string> headers_;
  std::vector<std::vector<std::string>> rows_;
};

// Pretty-printed JSON and a newline. Invalid UTF-8 in stored text is
// replaced (U+FFFD) rather than failing the command.
void PrintJson(std::ostream& out, const nlohmann::json& doc);

// FormatTimeMs, VersionJson, ValueJson: control/format.h (shared with the daemon).
using control::FormatTimeMs;
using control::ValueJson;
using control::VersionJson;
// A short age: "45s", "12m", "3h05m", "9d04h"; "-" for a time in the future
// by more than a second.
std::string FormatAge(int64_t age_ms);
// A time and how long ago: "2026-05-28T10:13:20.000Z (3m ago)"; "never" for 0.
std::string FormatWhen(int64_t unix_ms, int64_t now_ms);
// The same for a version as control::VersionJson wrote it; `none` for null or hlc 0.
std::string FormatVersion(const nlohmann::json& v, const char* none = "(none)");
// An integer field of a control document; 0 when absent, null or not a number.
int64_t JsonInt(const nlohmann::json& doc, const char* key);
// "2026-05-28T10:13:20.000Z+3 @unit-0001": wall time, counter, origin.
std::string FormatVersion(const store::Version& v);
// A value for people: text through ForTerminal (newlines kept), numbers,
// "NULL", "<blob N bytes>".
std::string FormatValue(const store::Value& v);
// The first `n` characters of a hex digest, for human tables.
inline std::string ShortHash(const std::string& hex, size_t n = 16) { return hex.substr(0, n); }

// ---- Validation ---------------------------------------------------------

// True for a real calendar date written YYYY-MM-DD.
bool IsIsoDate(std::string_view s);

// Flag validators whose messages never repeat the rejected value.
CLI::Validator OneOf(std::vector<std::string> allowed);
CLI::Validator IsoDate();
CLI::Validator NodeId();

}  // namespace unitsync::cli
