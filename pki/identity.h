// Who a certificate speaks for. The daemon's TLS code calls UnitIdFromCertificate on
// the verified peer certificate of every session; central binds the session to that
// id and ignores any id the peer claims later (DESIGN.md, Protocol).
//
// Thread-safe: pure functions.
#pragma once

#include <openssl/x509.h>

#include <cstddef>
#include <string>
#include <string_view>

#include "common/error.h"

namespace unitsync::pki {

inline constexpr size_t kMaxNodeIdSize = 64;
// A unit certificate carries SAN URI "unitsync:unit:<ID>" beside CN = <ID>.
inline constexpr std::string_view kUnitUriPrefix = "unitsync:unit:";

// True for 1..64 bytes of [A-Za-z0-9._:-]: the wire's node id alphabet
// (protocol/FORMAT.md, "id"). Replicas are stricter (store::IsValidNodeId:
// lowercase, no ':'); unitsyncctl enforces that stricter form when it enrolls.
bool IsValidNodeId(std::string_view id);

// The node id `cert` was issued to: its subject CN, which must occur exactly once and
// be a valid node id. When the certificate has SAN URIs with the "unitsync:unit:"
// prefix, every one of them must name the same id.
// Fails with kRejected (message names the problem, not the raw certificate text) when
// there is no CN, more than one, an invalid one, a SAN URI that disagrees, or the SAN
// extension is malformed or duplicated. kInvalidArgument when `cert` is null.
//
// This only reads the certificate: chain, validity period, extended key usage and
// revocation are checked by the TLS verification (ca.pem, crl.pem), and central
// checks the id against its registrations (registry.h, AuthenticateUnit).
Result<std::string> UnitIdFromCertificate(const X509* cert);

}  // namespace unitsync::pki
