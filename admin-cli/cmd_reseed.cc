// unitsyncctl reseed: a unit gets its whole scope streamed from central again (FORMAT.md
// section 6, "Re-seed") — after a lost disk, onto an emptied or untrusted replica. The
// daemon does the streaming; this command prepares the replica and follows the progress.
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <memory>
#include <thread>

#include "admin-cli/cli.h"
#include "control/wire.h"
#include "pki/files.h"
#include "store/change_log.h"
#include "store/sync_state.h"

namespace unitsync::cli {
namespace {

struct ReseedOptions {
  std::string bundle;
  bool force = false;
  bool no_wait = false;
};

// What central never acknowledged in the replica being set aside: it cannot be synced
// from a set-aside file, so the admin is told, never left to find out.
struct Unacknowledged {
  int64_t changes = 0;
  int64_t oldest_ms = 0;
};

Result<Unacknowledged> CountUnacknowledged(store::Replica& replica) {
  auto outbox = store::GetOutboxState(replica);
  if (!outbox) return tl::unexpected(outbox.error());
  auto stats = store::GetChangeLogStats(replica, outbox->acked_log_seq);
  if (!stats) return tl::unexpected(stats.error());
  return Unacknowledged{stats->pending, stats->oldest_wall_ms};
}

// Moves the replica (checkpointed first, so the -wal holds nothing) aside.
Result<std::string> SetAside(const std::string& db, int64_t now_ms) {
  const std::string aside = db + ".reseeded-" + std::to_string(now_ms / 1000);
  for (const char* suffix : {"", "-wal", "-shm"}) {
    const std::string from = db + suffix;
    if (!pki::PathExists(from)) continue;
    if (::rename(from.c_str(), (aside + suffix).c_str()) != 0) {
      return Fail(Errc::kIo, "move " + from + " aside: " + std::strerror(errno),
                  "check the directory's permissions; nothing was changed");
    }
  }
  return aside;
}

// Polls the daemon's status until the re-seed is done (or, with --no-wait, once).
Status Follow(Context& ctx, bool once) {
  const bool tty = ::isatty(STDERR_FILENO) != 0 && !ctx.global.json;
  for (;;) {
    auto doc = control::Call(ctx.SocketPath(),
                             control::Request{control::cmd::kStatus, nlohmann::json::object()},
                             std::chrono::seconds(30), {});
    if (!doc) return tl::unexpected(doc.error());
    if (!doc->contains("seed")) {
      if (tty) ctx.err() << "\r\x1b[K" << std::flush;
      if (ctx.global.json) {
        PrintJson(ctx.out(), {{"seeded", true}, {"pulled_seq", (*doc)["incoming"]["pulled_seq"]}});
      } else {
        ctx.out() << "re-seed complete: the unit holds its scope and pulls central's log from seq "
                  << (*doc)["incoming"].value("pulled_seq", int64_t{0}) << "\n";
      }
      return {};
    }
    const nlohmann::json& s = (*doc)["seed"];
    const int64_t done = s.value("rows_applied", int64_t{0});
    const int64_t total = s.value("rows_total", int64_t{0});
    const std::string link = (*doc)["link"].value("state", std::string("?"));
    if (once) {
      if (ctx.global.json) {
        PrintJson(ctx.out(), {{"seeded", false}, {"seed", s}, {"link", link}});
      } else {
        ctx.out() << "re-seed under way: " << done << " of about " << total << " rows ("
                  << s.value("chunks_applied", int64_t{0}) << " chunks), link " << link << "\n";
      }
      return {};
    }
    if (tty) {
      ctx.err() << "\rre-seed: " << done << "/" << total << " rows, link " << link << "\x1b[K"
                << std::flush;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
}

Status RunReseed(Context& ctx, const ReseedOptions& opts) {
  const std::string db = ctx.DatabasePath();
  if (db.empty()) {
    return Fail(Errc::kInvalidArgument, "no replica path",
                "name it with --db, or --config naming the daemon's config");
  }
  if (!ctx.global.db_given && ctx.DaemonAnswers()) {
    auto doc = control::Call(ctx.SocketPath(),
                             control::Request{control::cmd::kStatus, nlohmann::json::object()},
                             std::chrono::seconds(30), {});
    if (!doc) return tl::unexpected(doc.error());
    if (doc->value("role", std::string()) != "unit") {
      return Fail(Errc::kInvalidArgument, "only a unit is re-seeded",
                  "central is recovered from a backup: unitsyncctl restore");
    }
    if (!doc->contains("seed")) {
      return Fail(Errc::kRejected, "unitsyncd is running on a replica that holds data",
                  "stop it, run 'unitsyncctl reseed --force' (the replica is kept aside), "
                  "start it again");
    }
    return Follow(ctx, opts.no_wait);
  }

  auto key = ctx.LoadNodeKey(opts.bundle);
  if (!key) return tl::unexpected(key.error());
  std::string aside;
  Unacknowledged lost;
  if (pki::PathExists(db)) {
    {  // closed again before anything is moved: SQLite names its -wal after the path
      store::ReplicaOptions options;
      options.expect_node_id = key->node_id;
      auto replica = store::Replica::Open(db, options);
      if (!replica) {
        if (!opts.force) {
          return Fail(replica.error().code, replica.error().message,
                      "--force sets the file aside (kept, never deleted) and re-seeds");
        }
      } else {
        if (replica->role() != store::Role::kUnit) {
          return Fail(Errc::kInvalidArgument, "only a unit is re-seeded",
                      "central is recovered from a backup: unitsyncctl restore");
        }
        auto pristine = store::IsPristine(*replica);
        if (!pristine) return tl::unexpected(pristine.error());
        auto seed = store::GetSeedState(*replica);
        if (!seed) return tl::unexpected(seed.error());
        if (*pristine || seed->wanted || !seed->snapshot.empty()) {
          if (auto st = store::RequestSeed(*replica); !st) return st;
          ctx.out() << db << " will be seeded from central when unitsyncd connects\n";
          return {};
        }
        if (!opts.force) {
          return Fail(Errc::kAlreadyExists, db + " holds this unit's data",
                      "--force sets it aside (kept, never deleted) and re-seeds a new replica");
        }
        auto counted = CountUnacknowledged(*replica);
        if (!counted) return tl::unexpected(counted.error());
        lost = *counted;
        (void)replica->db().Exec("PRAGMA wal_checkpoint(TRUNCATE)");
      }
    }
    auto moved = SetAside(db, control::WallNowMs());
    if (!moved) return tl::unexpected(moved.error());
    aside = *moved;
  }
  {
    auto replica = store::Replica::Create(db, store::Role::kUnit, key->node_id);
    if (!replica) return tl::unexpected(replica.error());
    if (auto st = store::RequestSeed(*replica); !st) return st;
  }
  if (ctx.global.json) {
    PrintJson(ctx.out(),
              {{"replica", db},
               {"node", key->node_id},
               {"previous_kept_as", aside.empty() ? nlohmann::json() : nlohmann::json(aside)},
               {"unacknowledged_changes", lost.changes}});
    return {};
  }
  ctx.out() << "new empty replica for " << key->node_id << " at " << db << "\n";
  if (!aside.empty()) {
    ctx.out() << "the previous replica is kept as " << aside << "\n";
    if (lost.changes > 0) {
      ctx.out() << "WARNING: it holds " << lost.changes
                << " change(s) central never acknowledged (oldest " << FormatTimeMs(lost.oldest_ms)
                << "); they are not in the new replica. Inspect them with: unitsyncctl --db "
                << aside << " changes\n";
    }
  }
  ctx.out() << "start unitsyncd: it streams this unit's rows from central (resumable), then "
               "syncs as usual; follow with 'unitsyncctl reseed'\n";
  return {};
}

}  // namespace

void RegisterReseed(CLI::App& app, Context& ctx) {
  auto opts = std::make_shared<ReseedOptions>();
  CLI::App* cmd = app.add_subcommand(
      "reseed", "Stream this unit's rows from central again (lost disk, untrusted replica)");
  cmd->add_option("--bundle", opts->bundle,
                  "The unit's enrollment bundle (default: the config's [tls] bundle)");
  cmd->add_flag("--force", opts->force,
                "Set an existing replica aside (kept as REPLICA.reseeded-<time>) and start empty");
  cmd->add_flag("--no-wait", opts->no_wait, "Show the progress once instead of following it");
  cmd->footer(
      "With unitsyncd stopped: prepares the replica (a missing one is created; one holding\n"
      "data needs --force and is kept aside, with a count of what central never got). With\n"
      "unitsyncd running: follows a re-seed under way until it completes. A new or empty\n"
      "replica is re-seeded by the daemon without being asked.\n"
      "Example (new disk):\n"
      "  unitsyncctl reseed && systemctl start unitsyncd && unitsyncctl reseed");
  cmd->callback([&ctx, opts] { ctx.Finish(RunReseed(ctx, *opts)); });
}

}  // namespace unitsync::cli
