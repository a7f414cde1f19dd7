// Text checks for fields that arrive from the wire (internal to protocol/).
#pragma once

#include <string_view>

namespace unitsync::protocol {

// True when `s` is well-formed UTF-8: no overlong forms, no surrogates, nothing above
// U+10FFFF, no truncated sequences.
bool IsValidUtf8(std::string_view s);

// True when every byte of `s` is in [A-Za-z0-9._:-] (node, generation and snapshot ids).
bool IsIdText(std::string_view s);

}  // namespace unitsync::protocol
