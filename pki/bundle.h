// An enrollment bundle: the directory `unitsyncctl pki enroll` (unit) or `pki server`
// (central) writes, copied as is to the node that uses it. unitsyncd calls LoadBundle
// at start to find its certificate, key, trust anchor and (at a unit) its sealing
// secret. Layout and bundle.toml: pki/DESIGN.md.
//
// Thread-safe: no shared state.
#pragma once

#include <ctime>
#include <optional>
#include <string>
#include <string_view>

#include "common/error.h"
#include "pki/registry.h"

namespace unitsync::pki {

enum class NodeRole { kUnit, kCentral };
std::string_view NodeRoleName(NodeRole role);  // "unit" | "central"

inline constexpr std::string_view kBundleFile = "bundle.toml";
inline constexpr std::string_view kBundleCertFile = "cert.pem";
inline constexpr std::string_view kBundleKeyFile = "key.pem";
inline constexpr std::string_view kBundleCaFile = "ca.pem";
inline constexpr std::string_view kBundleSecretFile = "secret";

struct Bundle {
  std::string dir;
  std::string node_id;  // equals the certificate's CN (and SAN URI for a unit)
  NodeRole role = NodeRole::kUnit;
  std::string cert_path;  // this node's certificate (PEM)
  std::string key_path;   // its private key (PEM, mode 0600)
  std::string ca_path;    // the deployment CA: trust anchor for the peer
  // A unit: its changeset sealing secret and key id. Central: the secret that seals its
  // backups (nullopt in a bundle issued before there was one); central reads every
  // unit's secret from the CA directory (registry.h).
  std::optional<UnitKey> sealing;
  std::string serial_hex;
  std::time_t not_after = 0;  // the daemon may warn as it approaches
};

// Reads `dir`/bundle.toml and checks, before the daemon relies on any of it:
// - key.pem and secret are regular files not accessible to group or others:
//   kRejected with hint "chmod 600 FILE" (the daemon refuses to start);
// - the certificate matches the key, chains to ca.pem (the signature; the validity
//   period is left to TLS, so a wrong clock does not stop the daemon from starting),
//   has the role's extended key usage, and names `node_id`: kRejected otherwise;
// - secret is exactly 32 bytes: kCorrupt otherwise.
// kNotFound when dir or a file is missing; kCorrupt when bundle.toml or a PEM file does
// not parse. On failure nothing is returned; no error carries key or secret bytes.
Result<Bundle> LoadBundle(const std::string& dir);

}  // namespace unitsync::pki
