// What central knows about enrolled units: one registration file per unit in the CA
// directory (D/units/<ID>.toml, written by EnrollUnit, updated by Revoke; format in
// pki/DESIGN.md). Central's unitsyncd builds its key ring from the secrets and refuses
// a certificate that is unknown, revoked or not the enrolled one.
//
// Thread-safe: the functions share no state. Reads race benignly with an admin's
// enroll or revoke (files are created whole or replaced by rename); call
// LoadRegistrations again to see them.
#pragma once

#include <openssl/x509.h>

#include <cstdint>
#include <ctime>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"
#include "pki/secret.h"

namespace unitsync::pki {

// A registration without its secrets: what `pki list` shows.
struct EnrolledUnit {
  std::string unit_id;
  std::string serial_hex;          // the unit certificate's serial, lowercase hex
  std::string fingerprint_sha256;  // SHA-256 of the DER certificate, lowercase hex
  std::time_t not_after = 0;
  std::time_t enrolled_at = 0;
  bool revoked = false;
  std::time_t revoked_at = 0;  // 0 unless revoked
};

struct UnitKey {
  uint32_t key_id = 0;
  SealingSecret secret;
};

struct UnitRegistration {
  EnrolledUnit unit;
  std::vector<UnitKey> keys;  // ascending key id; the last is current. Never empty.
};

struct Registry {
  std::string ca_cert_path;             // D/ca.pem: trust anchor for unit client certificates
  std::string crl_path;                 // D/crl.pem: load with X509_V_FLAG_CRL_CHECK
  std::vector<UnitRegistration> units;  // ascending unit id

  // nullptr when `unit_id` was never enrolled.
  const UnitRegistration* Find(std::string_view unit_id) const;
};

// Reads every D/units/*.toml. Fails (and returns nothing) when any registration is
// unreadable: kNotFound when `ca_dir` is not a CA directory (hint: pki init-ca);
// kRejected (hint "chmod 600 FILE") when a registration file is accessible to group or
// others; kCorrupt when one does not parse or breaks the format (message names the
// file and field, never a value); kIo for other file errors. Errors never hold secrets.
Result<Registry> LoadRegistrations(const std::string& ca_dir);

// The registrations without their secrets, ascending unit id. Fails as
// LoadRegistrations.
Result<std::vector<EnrolledUnit>> ListEnrolled(const std::string& ca_dir);

// Central's decision for a TLS peer whose chain (ca.pem) and revocation (crl.pem)
// already verified: returns the unit id when the certificate names an enrolled,
// unrevoked unit and is exactly the enrolled certificate (same SHA-256 fingerprint).
// kRejected otherwise (unknown unit, revoked, another certificate, no valid id);
// kInvalidArgument for a null `peer`.
Result<std::string> AuthenticateUnit(const Registry& registry, const X509* peer);

}  // namespace unitsync::pki
