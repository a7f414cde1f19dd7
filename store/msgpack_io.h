// The store's one door to msgpack-c: strict unpacking with explicit limits.
// msgpack-c reports errors by throwing; they are caught here and nowhere
// else, and become Errc::kMalformed.
#pragma once

#include <cstdint>
#include <msgpack.hpp>
#include <span>
#include <string>

#include "common/error.h"

namespace unitsync::store {

struct UnpackLimits {
  size_t max_array = 1u << 20;  // Elements in one array (rows in one table block).
  size_t max_map = 16;          // Keys in one map.
  size_t max_str = 1u << 20;    // Bytes in one string.
  size_t max_bin = 4u << 20;    // Bytes in one binary value.
  size_t max_depth = 8;         // Nesting depth.
};

// Unpacks exactly one msgpack object that spans all of `bytes`. Trailing
// bytes, truncation, ext types and anything over a limit are refused with
// `what` in the message. The handle owns the memory the object points into.
Result<msgpack::object_handle> UnpackStrict(std::span<const uint8_t> bytes, std::string_view what,
                                            const UnpackLimits& limits = {});

}  // namespace unitsync::store
