// The engine's numbers kept as text in _us_meta (cursors, stamped_seq, seed progress).
#pragma once

#include <cstdint>
#include <string_view>

#include "common/error.h"
#include "store/replica.h"

namespace unitsync::store {

// The value of `key` as a non-negative decimal number; 0 when the key is absent.
// kCorrupt when it is anything else (empty, a sign, spaces, trailing bytes, out of
// range): the message names the key, never the bytes found. Errors of the read as
// they come (kIo, kBusy, ...).
Result<int64_t> GetMetaNumber(Replica& replica, std::string_view key);

}  // namespace unitsync::store
