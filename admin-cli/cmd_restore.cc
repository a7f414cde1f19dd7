// unitsyncctl restore: puts a sealed backup (cmd_backup.cc) back as this node's replica,
// verified before anything is replaced; the replica that was there is kept, not deleted.
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>

#include "admin-cli/cli.h"
#include "pki/files.h"
#include "recovery/backup_file.h"
#include "store/sync_state.h"

namespace unitsync::cli {
namespace {

struct RestoreOptions {
  std::string file;
  std::string bundle;
  bool force = false;
};

// Moves the replica at `db` (and its -wal/-shm) aside; returns the new name.
Result<std::string> MoveAside(const std::string& db, int64_t now_ms) {
  const std::string aside = db + ".replaced-" + std::to_string(now_ms / 1000);
  for (const char* suffix : {"", "-wal", "-shm"}) {
    const std::string from = db + suffix;
    if (!pki::PathExists(from)) continue;
    if (::rename(from.c_str(), (aside + suffix).c_str()) != 0) {
      return Fail(Errc::kIo, "move " + from + " aside: " + std::strerror(errno),
                  "check the directory's permissions; nothing was restored");
    }
  }
  return aside;
}

Status RunRestore(Context& ctx, const RestoreOptions& opts) {
  const std::string db = ctx.DatabasePath();
  if (db.empty()) {
    return Fail(Errc::kInvalidArgument, "no replica path to restore to",
                "name it with --db, or --config naming the daemon's config");
  }
  if (!ctx.global.db_given && ctx.DaemonAnswers()) {
    return Fail(Errc::kRejected, "unitsyncd is running on this replica",
                "stop it first (systemctl stop unitsyncd), restore, then start it");
  }
  auto key = ctx.LoadNodeKey(opts.bundle);
  if (!key) return tl::unexpected(key.error());
  const recovery::KeyLookup keys = [&key](uint32_t id) -> Result<const protocol::ChangesetKey*> {
    if (id != key->key.key_id()) {
      return Fail(Errc::kNotFound,
                  "the backup is sealed under key id " + std::to_string(id) +
                      ", the bundle holds key id " + std::to_string(key->key.key_id()),
                  "use the bundle the node had when the backup was taken");
    }
    return &key->key;
  };

  const bool had_replica = pki::PathExists(db);
  if (had_replica && !opts.force) {
    return Fail(Errc::kAlreadyExists, db + " already holds a replica",
                "--force restores anyway and keeps the current one as " + db +
                    ".replaced-<time>; nothing is deleted");
  }
  // A restore interrupted before the swap leaves only this file: ours to replace.
  const std::string staging = db + ".restoring";
  for (const char* suffix : {"", "-wal", "-shm", "-journal"}) ::unlink((staging + suffix).c_str());

  auto info = recovery::UnsealBackup(opts.file, keys, key->node_id, staging);
  if (!info) return tl::unexpected(info.error());
  std::string generation;
  {
    store::ReplicaOptions options;
    options.expect_node_id = key->node_id;
    auto replica = store::Replica::Open(staging, options);  // migrates an older schema
    if (!replica) return tl::unexpected(replica.error());
    if (replica->role() == store::Role::kCentral) {
      // Units trust central's cursors only within one generation: a new one makes every
      // unit resend what this older copy lacks (FORMAT.md section 6).
      if (auto st = store::NewGeneration(*replica); !st) return st;
      auto g = store::GetGeneration(*replica);
      if (!g) return tl::unexpected(g.error());
      generation = *g;
    } else if (auto st = store::RequestSeed(*replica); !st) {
      // What this unit wrote after the backup reached central: a snapshot brings it back.
      return st;
    }
  }
  std::string aside;
  if (had_replica) {
    auto moved = MoveAside(db, control::WallNowMs());
    if (!moved) return tl::unexpected(moved.error());
    aside = *moved;
  }
  if (::rename(staging.c_str(), db.c_str()) != 0) {
    return Fail(Errc::kIo, "rename " + staging + " to " + db + ": " + std::strerror(errno),
                "the verified copy is at " + staging + "; move it into place by hand");
  }

  const auto& m = info->manifest;
  if (ctx.global.json) {
    PrintJson(ctx.out(),
              {{"restored", db},
               {"node", m.node_id},
               {"backup_created", FormatTimeMs(m.created_ms)},
               {"schema", m.schema_version},
               {"previous_kept_as", aside.empty() ? nlohmann::json() : nlohmann::json(aside)},
               {"generation", generation.empty() ? nlohmann::json() : nlohmann::json(generation)}});
    return {};
  }
  ctx.out() << "restored " << m.node_id << " from the backup taken " << FormatTimeMs(m.created_ms)
            << " (schema " << m.schema_version << ", integrity checked)\n";
  if (!aside.empty()) ctx.out() << "the replica that was there is kept as " << aside << "\n";
  if (!generation.empty()) {
    ctx.out() << "new generation " << generation
              << ": each unit resends what this copy lacks when it reconnects\n";
  } else {
    ctx.out() << "start unitsyncd: it resends what central lacks, and re-seeds from central "
                 "what this copy lacks (its own later writes included)\n";
  }
  return {};
}

}  // namespace

void RegisterRestore(CLI::App& app, Context& ctx) {
  auto opts = std::make_shared<RestoreOptions>();
  CLI::App* cmd = app.add_subcommand("restore", "Restore this node's replica from a sealed backup");
  cmd->add_option("file", opts->file, "The backup (from 'unitsyncctl backup')")->required();
  cmd->add_option("--bundle", opts->bundle,
                  "Enrollment bundle holding the node's secret (default: the config's [tls] "
                  "bundle)");
  cmd->add_flag("--force", opts->force,
                "Replace an existing replica (it is kept as REPLICA.replaced-<time>)");
  cmd->footer(
      "Every chunk is authenticated and the database passes PRAGMA integrity_check before\n"
      "anything is replaced. The daemon must be stopped. At central a restore starts a new\n"
      "generation, so every unit resends what the backup lacks; a restored unit resends what\n"
      "central lacks. Nothing is lost to going back in time.\n"
      "Example:\n"
      "  systemctl stop unitsyncd\n"
      "  unitsyncctl restore /mnt/usb/central-2026-11-20.usbk --force\n"
      "  systemctl start unitsyncd");
  cmd->callback([&ctx, opts] { ctx.Finish(RunRestore(ctx, *opts)); });
}

}  // namespace unitsync::cli
