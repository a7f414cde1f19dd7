// What central loads from its bundle and the CA directory (tls.pki_dir), at start and
// again on SIGHUP: the registrations (which units are enrolled, which revoked, their
// sealing secrets), the TLS server context (central's certificate, the CA, the CRL), and
// the changeset keys derived from the secrets. Either all of it loads or nothing does.
//
// Thread-safe (no shared state); reads files, so unitsyncd calls it at start and, on a
// reload, on the store thread (never on the I/O thread).
#pragma once

#include <boost/asio/ssl/context.hpp>
#include <ctime>

#include "common/error.h"
#include "daemon/config.h"
#include "daemon/key_ring.h"
#include "pki/registry.h"

namespace unitsync::daemon {

struct CentralPki {
  pki::Registry registry;
  boost::asio::ssl::context tls;
  KeyRing keys;  // every key of every registered unit, revoked ones too (old envelopes)
  std::time_t certificate_not_after = 0;  // central's own certificate (the bundle's)
};

// Loads config.bundle (must be a central bundle for config.node_id) and
// config.pki_dir. Fails with the first problem; the error says which part
// (bundle, registrations, TLS) and never holds a secret.
Result<CentralPki> LoadCentralPki(const Config& config);

}  // namespace unitsync::daemon
