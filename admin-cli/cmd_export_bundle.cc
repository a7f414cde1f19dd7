// unitsyncctl export-bundle: sync without a network. At a unit, the changes central has
// not acknowledged, sealed exactly as they would travel over TLS, in one file to carry to
// central; at central (--unit), a reply for a unit whose first reply got lost
// (daemon/bundle_exchange.h).
#include <memory>

#include "admin-cli/bundle_setup.h"
#include "daemon/bundle_exchange.h"

namespace unitsync::cli {
namespace {

using Json = nlohmann::json;

struct ExportBundleOptions {
  std::string out;
  std::string unit;
  std::optional<uint64_t> after;
  BundleFlags flags;
};

Status ExportAtUnit(Context& ctx, BundleSetup& setup, const ExportBundleOptions& opts) {
  auto r = daemon::ExportPushes(setup.replica, setup.keys, setup.central_node, opts.out,
                                control::WallNowMs(), setup.options);
  if (!r) return tl::unexpected(r.error());
  const auto& records = r->bundle.manifest.records;
  if (ctx.global.json) {
    PrintJson(ctx.out(), {{"out", opts.out},
                          {"kind", "pushes"},
                          {"node", setup.replica.node_id()},
                          {"destination", setup.central_node},
                          {"file_id", r->bundle.header.file_id},
                          {"changesets", records.size()},
                          {"first_seq", records.empty() ? 0 : records.front().seq_from},
                          {"last_seq", records.empty() ? 0 : records.back().seq_to},
                          {"acked_seq", r->acked_seq},
                          {"pull_seq", r->pull_seq},
                          {"file_bytes", r->bundle.file_bytes}});
    return {};
  }
  if (records.empty()) {
    ctx.out() << "nothing of " << setup.replica.node_id()
              << " waits for central: the bundle carries only where this unit stands, so "
                 "central's reply can bring what it has for it\n";
  } else {
    ctx.out() << "exported " << records.size() << " changeset(s) of " << setup.replica.node_id()
              << " (pushes " << records.front().seq_from << ".." << records.back().seq_to
              << ", sealed for " << setup.central_node << ")\n";
  }
  ctx.out() << "  " << opts.out << " (" << KiB(r->bundle.file_bytes)
            << "); central acknowledged pushes up to " << r->acked_seq
            << ", this unit has central's log up to " << r->pull_seq << "\n"
            << "at central run: unitsyncctl import-bundle " << opts.out << "\n";
  return {};
}

Status ExportAtCentral(Context& ctx, BundleSetup& setup, const ExportBundleOptions& opts) {
  if (auto st = CheckUnitAdmitted(setup, opts.unit); !st) return st;
  auto r = daemon::ExportReply(setup.replica, setup.keys, opts.unit, opts.after, opts.out,
                               control::WallNowMs(), setup.options);
  if (!r) return tl::unexpected(r.error());
  const auto& m = r->bundle.manifest;
  if (ctx.global.json) {
    PrintJson(ctx.out(), {{"out", opts.out},
                          {"kind", "reply"},
                          {"node", setup.replica.node_id()},
                          {"destination", opts.unit},
                          {"file_id", r->bundle.header.file_id},
                          {"changesets", m.records.size()},
                          {"rows", r->rows},
                          {"after_pull", r->after_pull},
                          {"applied_seq", m.applied},
                          {"log_head", m.pull},
                          {"generation", m.generation},
                          {"file_bytes", r->bundle.file_bytes}});
    return {};
  }
  ctx.out() << "wrote a reply for " << opts.unit << ": " << m.records.size() << " changeset(s), "
            << r->rows << " row(s) of central's log after " << r->after_pull
            << "; acknowledges pushes up to " << m.applied << "\n"
            << "  " << opts.out << " (" << KiB(r->bundle.file_bytes) << ")\n"
            << "at " << opts.unit << " run: unitsyncctl import-bundle " << opts.out << "\n";
  return {};
}

Status RunExportBundle(Context& ctx, const ExportBundleOptions& opts) {
  auto setup = PrepareBundleWork(ctx, opts.flags);
  if (!setup) return tl::unexpected(setup.error());
  if (setup->central()) {
    if (opts.unit.empty()) {
      return Fail(Errc::kInvalidArgument, "at central, name the unit the reply is for: --unit UNIT",
                  "units export their own changes; central writes replies");
    }
    return ExportAtCentral(ctx, *setup, opts);
  }
  if (!opts.unit.empty() || opts.after) {
    return Fail(Errc::kInvalidArgument, "--unit and --after are for central",
                "at a unit, export-bundle --out FILE exports the unit's own changes");
  }
  return ExportAtUnit(ctx, *setup, opts);
}

}  // namespace

void RegisterExportBundle(CLI::App& app, Context& ctx) {
  auto opts = std::make_shared<ExportBundleOptions>();
  CLI::App* cmd = app.add_subcommand(
      "export-bundle", "Write what the other side lacks to a sealed file (sync without network)");
  cmd->add_option("--out", opts->out, "The bundle file to create (never overwritten)")->required();
  cmd->add_option("--unit", opts->unit, "Central: the unit to write a reply for")->check(NodeId());
  cmd->add_option("--after", opts->after,
                  "Central: send central's log after this seq (default: what the unit last "
                  "acknowledged)");
  AddBundleFlags(cmd, opts->flags);
  cmd->footer(
      "At a unit: every change central has not acknowledged, sealed as it would go over\n"
      "TLS (encrypted, bound to this unit and central), in one file. Carry it to central and\n"
      "import it there; central writes a reply to carry back. A unit with nothing waiting\n"
      "still writes a bundle: it tells central where the unit stands.\n"
      "At central (--unit): a reply for a unit without a bundle from it, e.g. when the\n"
      "first reply got lost.\n"
      "unitsyncd must be stopped: only one process may sync a replica.\n"
      "Examples:\n"
      "  systemctl stop unitsyncd\n"
      "  unitsyncctl export-bundle --out /mnt/usb/unit-0042-$(date +%F).usbn\n"
      "  systemctl start unitsyncd\n"
      "  unitsyncctl export-bundle --unit unit-0042 --out /mnt/usb/unit-0042-reply.usbn");
  cmd->callback([&ctx, opts] { ctx.Finish(RunExportBundle(ctx, *opts)); });
}

}  // namespace unitsync::cli
