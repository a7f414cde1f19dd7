// TLS contexts for unitsyncd: TLS 1.3 only, mutual authentication against the
// deployment CA, no early data. Central also checks the CA's CRL on every client
// certificate. OpenSSL errors are translated here.
#pragma once

#include <boost/asio/ssl/context.hpp>
#include <string>

#include "common/error.h"
#include "pki/bundle.h"

namespace unitsync::daemon {

// The unit's client context: presents the unit certificate, trusts only `bundle.ca_path`.
Result<boost::asio::ssl::context> MakeClientContext(const pki::Bundle& bundle);

// Central's server context: presents central's certificate, requires a client
// certificate chaining to `ca_path` and not listed in `crl_path`.
Result<boost::asio::ssl::context> MakeServerContext(const pki::Bundle& bundle,
                                                    const std::string& ca_path,
                                                    const std::string& crl_path);

// The verified peer's node id (certificate CN, cross-checked with its SAN URI).
Result<std::string> PeerNodeId(SSL* ssl);

}  // namespace unitsync::daemon
