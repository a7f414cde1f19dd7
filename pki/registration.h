// The registration file format, D/units/<ID>.toml (internal to pki/; pki/DESIGN.md
// has the format).
#pragma once

#include <string>

#include "common/error.h"
#include "pki/registry.h"
#include "pki/secret.h"

namespace unitsync::pki {

inline constexpr int64_t kRegistrationFormat = 1;

// The file's text. Holds the secrets: the buffer wipes itself.
// REQUIRES: `r` is valid (ids, hex, at least one key).
WipedString FormatRegistration(const UnitRegistration& r);

// Reads and validates one registration file (mode checked first: kRejected when group
// or others may read it). The unit id must equal the file's name. Errors as
// LoadRegistrations.
Result<UnitRegistration> ReadRegistration(const std::string& path,
                                          const std::string& expected_unit);

}  // namespace unitsync::pki
