#include "common/error.h"

namespace unitsync {

std::string_view ErrcName(Errc code) {
  switch (code) {
    case Errc::kInvalidArgument:
      return "invalid_argument";
    case Errc::kNotFound:
      return "not_found";
    case Errc::kAlreadyExists:
      return "already_exists";
    case Errc::kNotAReplica:
      return "not_a_replica";
    case Errc::kWrongNode:
      return "wrong_node";
    case Errc::kSchemaTooNew:
      return "schema_too_new";
    case Errc::kCorrupt:
      return "corrupt";
    case Errc::kMalformed:
      return "malformed";
    case Errc::kRejected:
      return "rejected";
    case Errc::kConstraint:
      return "constraint";
    case Errc::kBusy:
      return "busy";
    case Errc::kDiskFull:
      return "disk_full";
    case Errc::kIo:
      return "io";
    case Errc::kInternal:
      return "internal";
    case Errc::kUnavailable:
      return "unavailable";
  }
  return "unknown";
}

std::optional<Errc> ErrcFromName(std::string_view name) {
  for (int i = 0; i <= static_cast<int>(Errc::kUnavailable); ++i) {
    const auto code = static_cast<Errc>(i);
    if (ErrcName(code) == name) return code;
  }
  return std::nullopt;
}

std::string Error::ToString() const {
  if (hint.empty()) return message;
  return message + " (hint: " + hint + ")";
}

}  // namespace unitsync
