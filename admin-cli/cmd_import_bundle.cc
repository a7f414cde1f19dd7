// unitsyncctl import-bundle: the other half of export-bundle. At central, a unit's bundle
// is verified whole, applied in order as its pushes would be over TLS, and answered with
// a reply bundle; at the unit, central's reply acknowledges the unit's pushes and brings
// central's changes (daemon/bundle_exchange.h).
#include <unistd.h>

#include <memory>

#include "admin-cli/bundle_setup.h"
#include "daemon/bundle_exchange.h"

namespace unitsync::cli {
namespace {

struct ImportBundleOptions {
  std::string file;
  std::string reply_out;
  BundleFlags flags;
};

// "DIR/name.usbn" -> "DIR/name-reply.usbn"; any other name gets "-reply.usbn" appended.
std::string DefaultReplyPath(const std::string& file) {
  const std::string ext = ".usbn";
  if (file.size() > ext.size() && file.compare(file.size() - ext.size(), ext.size(), ext) == 0) {
    return file.substr(0, file.size() - ext.size()) + "-reply" + ext;
  }
  return file + "-reply.usbn";
}

daemon::BundleProgress Progress(Context& ctx) {
  if (ctx.global.json || ::isatty(STDERR_FILENO) == 0) return {};
  return [&ctx](uint64_t done, uint64_t total) {
    ctx.err() << "\rapplying changeset " << done + 1 << " of " << total << "\x1b[K" << std::flush;
  };
}

void EndProgress(Context& ctx) {
  if (!ctx.global.json && ::isatty(STDERR_FILENO) != 0) ctx.err() << "\r\x1b[K" << std::flush;
}

Status ImportAtCentral(Context& ctx, BundleSetup& setup, const ImportBundleOptions& opts) {
  // Named before anything is verified, for a clear refusal; the bundle itself is checked
  // whole (and a forged name opens nothing) by ImportPushes.
  const std::string origin = BundleOrigin(opts.file);
  if (!origin.empty() && origin != setup.replica.node_id()) {
    if (auto st = CheckUnitAdmitted(setup, origin); !st) return st;
  }
  const std::string reply = opts.reply_out.empty() ? DefaultReplyPath(opts.file) : opts.reply_out;
  auto r = daemon::ImportPushes(setup.replica, setup.keys, opts.file, reply, control::WallNowMs(),
                                setup.options, Progress(ctx));
  EndProgress(ctx);
  if (!r) return tl::unexpected(r.error());
  const auto& m = r->reply.bundle.manifest;
  if (ctx.global.json) {
    PrintJson(ctx.out(), {{"file", opts.file},
                          {"unit", r->unit},
                          {"changesets", r->pushes},
                          {"applied", r->applied},
                          {"already_applied", r->already},
                          {"rows_rejected", r->rows_rejected},
                          {"applied_seq", r->applied_seq},
                          {"reply",
                           {{"out", reply},
                            {"changesets", m.records.size()},
                            {"rows", r->reply.rows},
                            {"after_pull", r->reply.after_pull},
                            {"file_bytes", r->reply.bundle.file_bytes}}}});
    return {};
  }
  ctx.out() << "imported " << opts.file << " from " << r->unit << ": applied " << r->applied
            << " of " << r->pushes << " changeset(s)";
  if (r->already > 0) ctx.out() << " (" << r->already << " applied before, skipped)";
  ctx.out() << "; " << r->unit << "'s pushes are applied up to " << r->applied_seq << "\n";
  if (r->rows_rejected > 0) {
    ctx.out() << "  " << r->rows_rejected
              << " row(s) refused by authorization (unitsyncctl status shows them)\n";
  }
  ctx.out() << "reply for " << r->unit << ": " << m.records.size() << " changeset(s), "
            << r->reply.rows << " row(s) -> " << reply << " (" << KiB(r->reply.bundle.file_bytes)
            << ")\n"
            << "at " << r->unit << " run: unitsyncctl import-bundle " << reply << "\n";
  return {};
}

Status ImportAtUnit(Context& ctx, BundleSetup& setup, const ImportBundleOptions& opts) {
  if (!opts.reply_out.empty()) {
    return Fail(Errc::kInvalidArgument, "--reply-out is for central",
                "a unit imports central's reply and writes nothing back");
  }
  auto r = daemon::ImportReply(setup.replica, setup.keys, setup.central_node, opts.file,
                               setup.options, Progress(ctx));
  EndProgress(ctx);
  if (!r) return tl::unexpected(r.error());
  if (ctx.global.json) {
    PrintJson(ctx.out(), {{"file", opts.file},
                          {"node", setup.replica.node_id()},
                          {"acked_seq", r->acked_after},
                          {"acked_seq_before", r->acked_before},
                          {"pull_seq", r->pull_after},
                          {"pull_seq_before", r->pull_before},
                          {"changesets", r->changes},
                          {"applied", r->applied},
                          {"rows_rejected", r->rows_rejected},
                          {"resynced", r->resynced},
                          {"generation", r->generation}});
    return {};
  }
  ctx.out() << "imported central's reply " << opts.file << ": pushes acknowledged up to "
            << r->acked_after << " (was " << r->acked_before << "); applied " << r->applied
            << " of " << r->changes << " changeset(s), central's log applied up to "
            << r->pull_after << " (was " << r->pull_before << ")\n";
  if (r->rows_rejected > 0) {
    ctx.out() << "  " << r->rows_rejected
              << " row(s) refused by this unit's schema (unitsyncctl status shows them)\n";
  }
  if (r->resynced) {
    ctx.out() << "central's cursors no longer match this unit's (central restored, or this "
                 "unit): every row of this unit is queued to be sent again\n"
              << "export a new bundle now and import it at central\n";
  }
  return {};
}

Status RunImportBundle(Context& ctx, const ImportBundleOptions& opts) {
  auto setup = PrepareBundleWork(ctx, opts.flags);
  if (!setup) return tl::unexpected(setup.error());
  return setup->central() ? ImportAtCentral(ctx, *setup, opts) : ImportAtUnit(ctx, *setup, opts);
}

}  // namespace

void RegisterImportBundle(CLI::App& app, Context& ctx) {
  auto opts = std::make_shared<ImportBundleOptions>();
  CLI::App* cmd = app.add_subcommand(
      "import-bundle", "Apply a bundle from export-bundle (central: and write the reply)");
  cmd->add_option("file", opts->file, "The bundle (from 'unitsyncctl export-bundle')")->required();
  cmd->add_option("--reply-out", opts->reply_out,
                  "Central: the reply to create (default: FILE's name with -reply, beside it)");
  AddBundleFlags(cmd, opts->flags);
  cmd->footer(
      "Every byte of the bundle is authenticated before anything is applied. Changes apply\n"
      "exactly as they would over TLS: in order, each unit's rows authorized at central,\n"
      "nothing applied twice. At central the reply acknowledges the unit's changes and holds\n"
      "central's changes for it; at the unit it moves the unit's cursors.\n"
      "A bundle imported before, an older reply, a bundle for another node or a changed or\n"
      "truncated file: an error, and nothing is applied (exit 4: already imported or\n"
      "older; 5: another node's, changed or truncated; 1: not a bundle). unitsyncd must be\n"
      "stopped.\n"
      "Examples:\n"
      "  unitsyncctl import-bundle /mnt/usb/unit-0042-2026-11-20.usbn      # at central\n"
      "  unitsyncctl import-bundle /mnt/usb/unit-0042-2026-11-20-reply.usbn  # at the unit");
  cmd->callback([&ctx, opts] { ctx.Finish(RunImportBundle(ctx, *opts)); });
}

}  // namespace unitsync::cli
