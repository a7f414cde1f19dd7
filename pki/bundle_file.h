// bundle.toml (internal to pki/): writing it. LoadBundle (bundle.h) reads it.
#pragma once

#include <cstdint>
#include <ctime>
#include <string>

#include "pki/bundle.h"

namespace unitsync::pki {

inline constexpr int64_t kBundleFormat = 1;

struct BundleDescription {
  std::string node_id;
  NodeRole role = NodeRole::kUnit;
  uint32_t key_id = 0;  // of `secret`; 0: the bundle has none (central bundles before 0.2)
  std::string serial_hex;
  std::time_t not_after = 0;
};

std::string FormatBundleToml(const BundleDescription& d);

}  // namespace unitsync::pki
