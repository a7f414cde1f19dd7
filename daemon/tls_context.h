// TLS contexts for unitsyncd: TLS 1.3 only, mutual authentication against the
// deployment CA, no early data. Central also checks the CA's CRL on every client
// certificate. OpenSSL errors are translated here.
#pragma once

#include <boost/asio/ssl/context.hpp>
#include <boost/system/error_code.hpp>
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

// Checks the peer certificate of an established server-side session again, against
// `ctx`'s trust store as it is now (chain, validity period, CRL): for a reload that
// brought a new CRL. kRejected with OpenSSL's reason when it no longer verifies.
Status VerifyClientAgain(boost::asio::ssl::context& ctx, SSL* ssl);

// Log fields saying why a server handshake on `ssl` failed with `ec`:
// reason="..." always; verify="..." when the client certificate did not verify
// (expired, revoked, unknown CA, ...); claimed_unit=ID when that certificate names a
// well-formed node id (unverified: for the operator, never trusted). REQUIRES: `ssl`
// comes from a MakeServerContext context (its verify callback notes the claimed id).
std::string HandshakeRefusal(SSL* ssl, const boost::system::error_code& ec);

}  // namespace unitsync::daemon
