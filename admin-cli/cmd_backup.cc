// unitsyncctl backup: an online, consistent, sealed copy of this node's replica, taken
// while the daemon keeps running (recovery/backup_file.h).
#include <unistd.h>

#include <chrono>
#include <memory>

#include "admin-cli/cli.h"
#include "control/wire.h"
#include "recovery/backup_file.h"
#include "store/backup.h"
#include "store/replica.h"

namespace unitsync::cli {
namespace {

struct BackupOptions {
  std::string out;
  std::string bundle;
};

std::string Mib(uint64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f MiB", static_cast<double>(bytes) / (1024.0 * 1024.0));
  return buf;
}

// The snapshot to copy, with every captured write stamped. While the daemon runs only
// its clock may stamp, so it is asked to; otherwise this process owns the replica.
Result<store::PinnedSnapshot> PinSnapshot(Context& ctx, const std::string& db) {
  if (!ctx.DaemonAnswers()) {
    auto replica = store::Replica::Open(db);
    if (!replica) return tl::unexpected(replica.error());
    return store::PinStampedSnapshot(*replica);
  }
  auto lock = store::Db::Open(db, /*create=*/false);
  if (!lock) return tl::unexpected(lock.error());
  return store::PinStampedSnapshot(*lock, db, [&ctx]() -> Status {
    auto r = control::Call(ctx.SocketPath(),
                           control::Request{control::cmd::kStamp, nlohmann::json::object()},
                           std::chrono::seconds(60), {});
    if (!r) return tl::unexpected(r.error());
    return {};
  });
}

Status RunBackup(Context& ctx, const BackupOptions& opts) {
  const std::string db = ctx.DatabasePath();
  if (db.empty()) {
    return Fail(Errc::kInvalidArgument, "no replica to back up",
                "name it with --db, or --config naming the daemon's config");
  }
  auto key = ctx.LoadNodeKey(opts.bundle);
  if (!key) return tl::unexpected(key.error());

  auto snapshot = PinSnapshot(ctx, db);
  if (!snapshot) return tl::unexpected(snapshot.error());

  recovery::BackupRequest req;
  req.out_path = opts.out;
  req.key = &key->key;
  req.expect_node = key->node_id;
  req.now_ms = control::WallNowMs();
  const bool tty = ::isatty(STDERR_FILENO) != 0 && !ctx.global.json;
  if (tty) {
    req.on_progress = [&ctx](const recovery::BackupProgress& p) {
      const int pct = p.bytes_total ? static_cast<int>(100 * p.bytes_done / p.bytes_total) : 100;
      ctx.err() << "\r" << p.phase << " " << pct << "%\x1b[K" << std::flush;
    };
  }
  const auto start = std::chrono::steady_clock::now();
  auto info = recovery::WriteBackup(req, std::move(*snapshot));
  if (tty) ctx.err() << "\r\x1b[K" << std::flush;
  if (!info) return tl::unexpected(info.error());
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const auto& m = info->manifest;
  const char* role = m.role == protocol::BackupRole::kCentral ? "central" : "unit";
  if (ctx.global.json) {
    PrintJson(ctx.out(), {{"out", opts.out},
                          {"node", m.node_id},
                          {"role", role},
                          {"schema", m.schema_version},
                          {"created", FormatTimeMs(m.created_ms)},
                          {"database_bytes", m.database_bytes},
                          {"file_bytes", info->file_bytes},
                          {"seconds", seconds}});
    return {};
  }
  ctx.out() << "backed up " << role << " " << m.node_id << " (schema " << m.schema_version
            << "): " << Mib(m.database_bytes) << " in " << info->header.records - 1
            << " sealed chunks -> " << opts.out << " (" << Mib(info->file_bytes) << ", "
            << static_cast<int>(seconds * 1000) << " ms)\n"
            << "restore with: unitsyncctl restore " << opts.out << "\n";
  return {};
}

}  // namespace

void RegisterBackup(CLI::App& app, Context& ctx) {
  auto opts = std::make_shared<BackupOptions>();
  CLI::App* cmd = app.add_subcommand(
      "backup", "Take a consistent, sealed backup of this node's replica (the daemon may run)");
  cmd->add_option("--out", opts->out, "The backup file to create (never overwritten)")->required();
  cmd->add_option("--bundle", opts->bundle,
                  "Enrollment bundle holding the node's secret (default: the config's [tls] "
                  "bundle)");
  cmd->footer(
      "The copy is one instant of the replica (SQLite online backup) while the daemon keeps\n"
      "syncing. The file is encrypted and authenticated with the node's secret: it can be\n"
      "kept anywhere, and only this node's bundle restores it. The unencrypted copy exists\n"
      "only briefly, beside the replica.\n"
      "Example:\n"
      "  unitsyncctl backup --out /mnt/usb/unit-0042-$(date +%F).usbk");
  cmd->callback([&ctx, opts] { ctx.Finish(RunBackup(ctx, *opts)); });
}

}  // namespace unitsync::cli
