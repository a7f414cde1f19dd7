// The CA directory's layout and opening it (internal to pki/). Layout: pki/DESIGN.md.
#pragma once

#include <string>
#include <string_view>

#include "common/error.h"
#include "pki/handles.h"

namespace unitsync::pki {

inline constexpr std::string_view kCaKeyFile = "ca.key";
inline constexpr std::string_view kCaCertFile = "ca.pem";
inline constexpr std::string_view kCrlFile = "crl.pem";
inline constexpr std::string_view kUnitsDir = "units";

// D/units/<unit_id>.toml
std::string RegistrationPath(const std::string& ca_dir, std::string_view unit_id);

// kNotFound ("D is not a unitsync CA directory", hint: pki init-ca) unless `dir` holds
// ca.pem and units/.
Status CheckCaDir(const std::string& dir);

struct CaMaterial {
  X509Ptr cert;
  PkeyPtr key;
};

// Loads ca.pem and ca.key for signing. ca.key must be mode 0600 or stricter
// (kRejected otherwise), match ca.pem and ca.pem must be a CA certificate (kCorrupt).
Result<CaMaterial> OpenCa(const std::string& dir);

}  // namespace unitsync::pki
