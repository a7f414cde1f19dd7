// TOML reading and writing for pki/ files (internal). toml++ throws on parse errors;
// this is the one place that catches them. Errors name the file, the key and the
// position, never a value: registration files hold secrets.
#pragma once

#include <toml++/toml.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "common/error.h"

namespace unitsync::pki {

// Parses `text`, read from `path`. kCorrupt with line and column on a syntax error.
Result<toml::table> ParseToml(std::string_view text, const std::string& path);

// Required fields. kCorrupt ("PATH: KEY is missing or not a string") otherwise.
Result<std::string> TomlString(const toml::table& t, std::string_view key, const std::string& path);
Result<int64_t> TomlInt(const toml::table& t, std::string_view key, const std::string& path);
Result<bool> TomlBool(const toml::table& t, std::string_view key, const std::string& path);

// `s` as a TOML basic string, quotes included, with every control character,
// quote and backslash escaped.
std::string TomlQuote(std::string_view s);

}  // namespace unitsync::pki
