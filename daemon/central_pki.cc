#include "daemon/central_pki.h"

#include "daemon/tls_context.h"
#include "pki/bundle.h"

namespace unitsync::daemon {

Result<CentralPki> LoadCentralPki(const Config& config) {
  auto bundle = pki::LoadBundle(config.bundle);
  if (!bundle) return tl::unexpected(bundle.error());
  if (bundle->node_id != config.node_id) {
    return Fail(Errc::kInvalidArgument,
                "the bundle is for " + bundle->node_id + ", node_id is " + config.node_id,
                "use this node's own bundle");
  }
  auto registry = pki::LoadRegistrations(config.pki_dir);
  if (!registry) return tl::unexpected(registry.error());
  KeyRing keys;
  for (const auto& u : registry->units) {
    for (const auto& k : u.keys) {
      if (auto st = keys.Add(u.unit.unit_id, k.secret.bytes(), k.key_id); !st) {
        return tl::unexpected(st.error());
      }
    }
  }
  auto tls = MakeServerContext(*bundle, registry->ca_cert_path, registry->crl_path);
  if (!tls) return tl::unexpected(tls.error());
  return CentralPki{std::move(*registry), std::move(*tls), std::move(keys), bundle->not_after};
}

}  // namespace unitsync::daemon
