// Byte buffers used across the protocol module.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace unitsync::protocol {

using Bytes = std::vector<uint8_t>;
using ByteView = std::span<const uint8_t>;

}  // namespace unitsync::protocol
