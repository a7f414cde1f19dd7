#include "pki/toml_io.h"

#include <cstdio>

namespace unitsync::pki {
namespace {

tl::unexpected<Error> FieldError(std::string_view key, const std::string& path,
                                 std::string_view want) {
  return Fail(Errc::kCorrupt,
              path + ": '" + std::string(key) + "' is missing or not " + std::string(want),
              "the file was edited or damaged; restore it from a backup");
}

}  // namespace

Result<toml::table> ParseToml(std::string_view text, const std::string& path) {
  try {
    return toml::parse(text, path);
  } catch (const toml::parse_error& err) {
    // The description may quote the offending text; only the position is reported.
    const auto& where = err.source().begin;
    return Fail(Errc::kCorrupt,
                path + " is not valid TOML (line " + std::to_string(where.line) + ", column " +
                    std::to_string(where.column) + ")",
                "the file was edited or damaged; restore it from a backup");
  }
}

Result<std::string> TomlString(const toml::table& t, std::string_view key,
                               const std::string& path) {
  const auto* v = t.get_as<std::string>(key);
  if (v == nullptr) return FieldError(key, path, "a string");
  return v->get();
}

Result<int64_t> TomlInt(const toml::table& t, std::string_view key, const std::string& path) {
  const auto* v = t.get_as<int64_t>(key);
  if (v == nullptr) return FieldError(key, path, "an integer");
  return v->get();
}

Result<bool> TomlBool(const toml::table& t, std::string_view key, const std::string& path) {
  const auto* v = t.get_as<bool>(key);
  if (v == nullptr) return FieldError(key, path, "true or false");
  return v->get();
}

std::string TomlQuote(std::string_view s) {
  std::string out = "\"";
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += ch;
    } else if (c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += ch;
    }
  }
  out += '"';
  return out;
}

}  // namespace unitsync::pki
