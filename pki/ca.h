// The deployment's certificate authority: the admin operations behind
// `unitsyncctl pki`. Creates the CA directory, issues unit bundles (certificate, key,
// sealing secret) and registers them for central, issues central's server
// certificate, revokes units. Layout, profiles and formats: pki/DESIGN.md.
//
// Every file holding a private key or a secret is created mode 0600 with O_EXCL (never
// chmod-ed afterwards, never overwritten), every directory 0700; files are fsync-ed.
// Operations that change a CA directory hold an exclusive lock on D/lock, so
// concurrent admins serialize. On failure an operation removes what it created;
// nothing that existed before is changed. Errors never carry key or secret bytes.
//
// Errors, common to all: kInvalidArgument for a bad id, name, host or day count (hint
// says what is allowed); kNotFound when the CA directory is not one (hint: init-ca);
// kRejected when ca.key is readable by group or others; kAlreadyExists when an output
// would overwrite something; kIo, kDiskFull from the file system; kCorrupt for a damaged
// CA directory; kInternal when OpenSSL fails.
#pragma once

#include <cstdint>
#include <ctime>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"
#include "pki/bundle.h"

namespace unitsync::pki {

inline constexpr int kDefaultCaDays = 3650;   // 10 years
inline constexpr int kDefaultLeafDays = 825;  // the CA/Browser Forum's old ceiling
inline constexpr int kMaxDays = 36500;        // 100 years, for either
inline constexpr size_t kMaxCaNameSize = 64;

// 1..64 of [A-Za-z0-9 ._-], not starting or ending with a space.
bool IsValidCaName(std::string_view name);

struct CaSummary {
  std::string dir;
  std::string name;
  std::string cert_path;  // D/ca.pem
  std::string key_path;   // D/ca.key
  std::string crl_path;   // D/crl.pem
  std::string serial_hex;
  std::string fingerprint_sha256;
  std::time_t not_after = 0;
};

// Creates the CA directory `dir` (mode 0700; an existing empty 0700 directory is used)
// with a new P-256 CA key, its self-signed certificate (CN "unitsync deployment CA
// <name>", valid `days`), an empty CRL and units/. kAlreadyExists when `dir` is not
// empty (an existing CA is never replaced); kRejected when it is accessible to others.
Result<CaSummary> InitCa(const std::string& dir, const std::string& name,
                         int days = kDefaultCaDays);

// What EnrollUnit and IssueServer wrote.
struct IssuedBundle {
  std::string dir;
  std::string node_id;
  NodeRole role = NodeRole::kUnit;
  std::string serial_hex;
  std::string fingerprint_sha256;
  std::time_t not_after = 0;
  std::string registration_path;   // unit: D/units/<ID>.toml; central: empty
  std::vector<std::string> hosts;  // central: the subjectAltNames, canonical form
};

// Issues unit `unit_id` a bundle in `out_dir` (created 0700; an existing empty 0700
// directory is used): cert.pem (CN and SAN URI unitsync:unit:<ID>, EKU clientAuth,
// valid `days`), key.pem (0600), ca.pem, secret (32 random bytes, 0600), bundle.toml;
// then registers it at D/units/<ID>.toml (0600; serial, fingerprint, not_after, the
// secret under key id 1). kAlreadyExists when the unit is already enrolled (revoked or
// not: a unit id is never reissued, see DESIGN.md) or `out_dir` is not empty;
// kInvalidArgument when the certificate would outlive the CA.
Result<IssuedBundle> EnrollUnit(const std::string& ca_dir, const std::string& unit_id,
                                const std::string& out_dir, int days = kDefaultLeafDays);

// Issues central node `node_id` its server bundle in `out_dir` (as above, with a secret
// that seals central's backups, without registration): CN = node id, SAN DNS or IP per host (IP
// literals detected, v4 or v6), EKU serverAuth. `hosts` must name at least one host.
Result<IssuedBundle> IssueServer(const std::string& ca_dir, const std::string& node_id,
                                 const std::vector<std::string>& hosts, const std::string& out_dir,
                                 int days = kDefaultLeafDays);

struct Revocation {
  std::string unit_id;
  std::string serial_hex;
  std::time_t revoked_at = 0;
  std::string crl_path;
  int64_t crl_number = 0;
  size_t crl_entries = 0;  // serials the new CRL lists
};

// Revokes unit `unit_id`: re-signs D/crl.pem with its serial added (and every serial
// revoked before), then marks the registration revoked. Both files are replaced
// atomically; after a crash in between, running it again completes it.
// kNotFound when the unit was never enrolled; kRejected when it is already revoked.
Result<Revocation> Revoke(const std::string& ca_dir, const std::string& unit_id);

}  // namespace unitsync::pki
