// What `export-bundle` and `import-bundle` share: the replica they work on (opened for
// writing, never while unitsyncd runs on it), the keys for the node's role and the sync
// limits from the daemon's config. The exchange itself is daemon/bundle_exchange.h.
#pragma once

#include <optional>
#include <string>

#include "admin-cli/cli.h"
#include "daemon/key_ring.h"
#include "daemon/sync_executor.h"
#include "pki/registry.h"
#include "store/replica.h"

namespace unitsync::cli {

// Flags both commands take.
struct BundleFlags {
  std::string bundle;   // a unit: its enrollment bundle (default: the config's [tls] bundle)
  std::string ca;       // central: the CA directory (default: the config's [tls] pki_dir)
  std::string central;  // a unit: central's node id (default: [central] node_id, "central")
};

// Adds the flags above to `cmd`.
void AddBundleFlags(CLI::App* cmd, BundleFlags& flags);

struct BundleSetup {
  store::Replica replica;
  // A unit: its own key; central: every enrolled unit's keys, revoked units left out (their
  // bundles are refused and nothing is written for them).
  daemon::KeyRing keys;
  std::string central_node;  // a unit: its central's id; central: its own
  daemon::ExecutorOptions options;
  std::optional<pki::Registry> registry;  // central: the enrolled units
  bool central() const { return replica.role() == store::Role::kCentral; }
};

// Opens the replica (--db, or the config's database) for a bundle exchange. Fails with
// kInvalidArgument when no replica or no key source is named; kRejected when unitsyncd
// answers on the control socket for this replica (its sync core holds the cursors in
// memory and stamps writes with its own clock: only one process may sync a replica);
// the replica's errors (Context::OpenReplica); pki's errors for the bundle or CA
// directory; kWrongNode when the unit's bundle is another node's.
Result<BundleSetup> PrepareBundleWork(Context& ctx, const BundleFlags& flags);

// kRejected when `unit` is revoked at central, kNotFound when it was never enrolled.
Status CheckUnitAdmitted(const BundleSetup& setup, const std::string& unit);

// The origin named in the plain header of the bundle at `path` (unauthenticated: only to
// word errors; the bundle is verified when it is read). Empty when it cannot be read.
std::string BundleOrigin(const std::string& path);

// "12.3 KiB"
std::string KiB(uint64_t bytes);

}  // namespace unitsync::cli
