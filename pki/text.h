// Small text helpers of pki/ (internal): hex, the ISO-8601 UTC times written in
// registration and bundle files.
#pragma once

#include <cstdint>
#include <ctime>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace unitsync::pki {

// Lowercase hex.
std::string EncodeHex(std::span<const uint8_t> bytes);
// Decodes exactly out.size() bytes from 2*out.size() hex digits (either case); false
// (and `out` unspecified) on any other input.
bool DecodeHex(std::string_view hex, std::span<uint8_t> out);
// True for 1..`max` lowercase hex digits.
bool IsLowerHex(std::string_view s, size_t max);

// "2028-03-01T12:00:00Z".
std::string FormatUtc(std::time_t t);
// The inverse of FormatUtc (exactly that form); nullopt otherwise.
std::optional<std::time_t> ParseUtc(std::string_view text);

}  // namespace unitsync::pki
