// The one place where msgpack-c parses untrusted bytes (internal to protocol/).
//
// msgpack-c reports errors by throwing; UnpackStrict catches every exception here and
// turns it into an Error, so no exception leaves this file.
#pragma once

#include <cstddef>
#include <msgpack.hpp>

#include "common/error.h"
#include "protocol/bytes.h"

namespace unitsync::protocol {

// Parses exactly one msgpack object from `body` under the limits of FORMAT.md section 4
// (depth, map/array/str sizes, no ext) with bin payloads up to `max_bin` bytes.
// Fails with kMalformed when the bytes are not one complete msgpack object, a limit is
// exceeded, or bytes follow the object (trailing bytes). Fails with kInternal only if
// memory runs out.
// The returned handle references str/bin payloads inside `body` instead of copying
// them: `body` must outlive the handle.
Result<msgpack::object_handle> UnpackStrict(ByteView body, size_t max_bin);

}  // namespace unitsync::protocol
