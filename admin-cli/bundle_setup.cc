#include "admin-cli/bundle_setup.h"

#include <cstdio>

#include "pki/bundle.h"
#include "recovery/sealed_io.h"

namespace unitsync::cli {

void AddBundleFlags(CLI::App* cmd, BundleFlags& flags) {
  cmd->add_option("--bundle", flags.bundle,
                  "A unit's enrollment bundle, holding its secret (default: the config's [tls] "
                  "bundle)");
  cmd->add_option("--ca", flags.ca,
                  "Central: the CA directory with every unit's secret (default: the config's "
                  "[tls] pki_dir)");
  cmd->add_option("--central", flags.central,
                  "A unit: central's node id (default: the config's [central] node_id, else "
                  "\"central\")")
      ->check(NodeId());
}

Result<BundleSetup> PrepareBundleWork(Context& ctx, const BundleFlags& flags) {
  const DaemonSettings& config = ctx.DaemonConfig();
  const std::string db = ctx.DatabasePath();
  if (db.empty()) {
    return Fail(Errc::kInvalidArgument, "no replica to work on",
                "name it with --db, or --config naming the daemon's config");
  }
  // With --db naming another file than the configured daemon's, that daemon is not ours.
  const bool daemon_elsewhere =
      ctx.global.db_given && !config.database.empty() && config.database != db;
  if (!daemon_elsewhere && ctx.DaemonAnswers()) {
    return Fail(Errc::kRejected,
                "unitsyncd is running on this replica: only one process may sync it",
                "stop it (systemctl stop unitsyncd), run this again, then start it; nothing "
                "waiting is lost and sync resumes from the cursors the bundle moved");
  }
  auto replica = ctx.OpenReplica();
  if (!replica) return tl::unexpected(replica.error());
  BundleSetup setup{std::move(*replica), {}, {}, {}, std::nullopt};
  if (config.max_frame > 0) setup.options.max_frame = config.max_frame;
  if (config.max_rows > 0) setup.options.max_rows = config.max_rows;

  if (setup.central()) {
    setup.central_node = setup.replica.node_id();
    const std::string dir = flags.ca.empty() ? config.pki_dir : flags.ca;
    if (dir.empty()) {
      return Fail(Errc::kInvalidArgument, "no CA directory: central reads each unit's secret there",
                  "give --ca DIR, or --config naming central's config ([tls] pki_dir)");
    }
    auto registry = pki::LoadRegistrations(dir);
    if (!registry) return tl::unexpected(registry.error());
    for (const auto& u : registry->units) {
      if (u.unit.revoked) continue;
      for (const auto& k : u.keys) {
        if (auto st = setup.keys.Add(u.unit.unit_id, k.secret.bytes(), k.key_id); !st) {
          return tl::unexpected(st.error());
        }
      }
    }
    setup.registry = std::move(*registry);
    return setup;
  }

  setup.central_node = flags.central.empty() ? config.central_node : flags.central;
  const std::string dir = flags.bundle.empty() ? config.bundle : flags.bundle;
  if (dir.empty()) {
    return Fail(Errc::kInvalidArgument, "no bundle: the unit's key is in its enrollment bundle",
                "give --bundle DIR, or --config naming the unit's config ([tls] bundle)");
  }
  auto bundle = pki::LoadBundle(dir);
  if (!bundle) return tl::unexpected(bundle.error());
  if (bundle->node_id != setup.replica.node_id()) {
    return Fail(Errc::kWrongNode,
                dir + " is the bundle of " + bundle->node_id + ", the replica is " +
                    setup.replica.node_id() + "'s",
                "use this unit's own enrollment bundle");
  }
  if (!bundle->sealing) return Fail(Errc::kNotFound, dir + " holds no sealing secret");
  if (auto st =
          setup.keys.Add(bundle->node_id, bundle->sealing->secret.bytes(), bundle->sealing->key_id);
      !st) {
    return tl::unexpected(st.error());
  }
  return setup;
}

Status CheckUnitAdmitted(const BundleSetup& setup, const std::string& unit) {
  const pki::UnitRegistration* r = setup.registry ? setup.registry->Find(unit) : nullptr;
  if (r == nullptr) {
    return Fail(Errc::kNotFound, unit + " is not enrolled in this deployment's CA",
                "check the unit id (unitsyncctl pki list)");
  }
  if (r->unit.revoked) {
    return Fail(Errc::kRejected, unit +
                                     " is revoked: its bundles are refused and none is "
                                     "written for it; nothing was applied");
  }
  return {};
}

std::string BundleOrigin(const std::string& path) {
  auto reader = recovery::SealedFileReader::Open(path);
  return reader ? reader->header().origin : std::string();
}

std::string KiB(uint64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f KiB", static_cast<double>(bytes) / 1024.0);
  return buf;
}

}  // namespace unitsync::cli
