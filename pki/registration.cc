#include "pki/registration.h"

#include <set>

#include "pki/files.h"
#include "pki/identity.h"
#include "pki/text.h"
#include "pki/toml_io.h"

namespace unitsync::pki {
namespace {

constexpr size_t kMaxRegistrationFile = 64 * 1024;

tl::unexpected<Error> Bad(const std::string& path, const std::string& what) {
  return Fail(Errc::kCorrupt, path + ": " + what,
              "the file was edited or damaged; restore it from the CA directory's backup");
}

Result<std::time_t> TimeField(const toml::table& t, std::string_view key, const std::string& path) {
  auto text = TomlString(t, key, path);
  if (!text) return tl::unexpected(text.error());
  auto when = ParseUtc(*text);
  if (!when) return Bad(path, "'" + std::string(key) + "' is not a time like 2026-01-31T12:00:00Z");
  return *when;
}

}  // namespace

WipedString FormatRegistration(const UnitRegistration& r) {
  const EnrolledUnit& u = r.unit;
  WipedString out;
  std::string& s = out.mutable_str();
  s.reserve(1024);
  s += "# unitsync unit registration, written by 'unitsyncctl pki enroll'.\n";
  s += "# Central's unitsyncd reads it. It holds the unit's sealing secret: keep it mode 0600.\n";
  s += "format = " + std::to_string(kRegistrationFormat) + "\n";
  s += "unit = " + TomlQuote(u.unit_id) + "\n";
  s += "serial = " + TomlQuote(u.serial_hex) + "\n";
  s += "fingerprint_sha256 = " + TomlQuote(u.fingerprint_sha256) + "\n";
  s += "not_after = " + TomlQuote(FormatUtc(u.not_after)) + "\n";
  s += "enrolled_at = " + TomlQuote(FormatUtc(u.enrolled_at)) + "\n";
  s += std::string("revoked = ") + (u.revoked ? "true" : "false") + "\n";
  if (u.revoked) s += "revoked_at = " + TomlQuote(FormatUtc(u.revoked_at)) + "\n";
  for (const UnitKey& k : r.keys) {
    s += "\n[[keys]]\nkey_id = " + std::to_string(k.key_id) + "\n";
    s += "secret = \"";
    WipedString hex(k.secret.ToHex());
    s += hex.str();
    s += "\"\n";
  }
  return out;
}

Result<UnitRegistration> ReadRegistration(const std::string& path,
                                          const std::string& expected_unit) {
  if (auto st = CheckPrivateFile(path); !st) return tl::unexpected(st.error());
  auto raw = ReadSmallFile(path, kMaxRegistrationFile);
  if (!raw) return tl::unexpected(raw.error());
  WipedString text(std::move(*raw));
  auto parsed = ParseToml(text.str(), path);
  if (!parsed) return tl::unexpected(parsed.error());
  toml::table& t = *parsed;

  auto format = TomlInt(t, "format", path);
  if (!format) return tl::unexpected(format.error());
  if (*format != kRegistrationFormat) {
    return Fail(Errc::kCorrupt,
                path + " has format " + std::to_string(*format) + ", expected " +
                    std::to_string(kRegistrationFormat),
                "it was written by another unitsync version");
  }
  UnitRegistration r;
  EnrolledUnit& u = r.unit;
  auto unit = TomlString(t, "unit", path);
  if (!unit) return tl::unexpected(unit.error());
  if (!IsValidNodeId(*unit) || *unit != expected_unit) {
    return Bad(path, "'unit' is not the unit id in the file's name");
  }
  u.unit_id = *unit;
  auto serial = TomlString(t, "serial", path);
  if (!serial) return tl::unexpected(serial.error());
  if (!IsLowerHex(*serial, 40)) return Bad(path, "'serial' is not 1-40 lowercase hex digits");
  u.serial_hex = *serial;
  auto fingerprint = TomlString(t, "fingerprint_sha256", path);
  if (!fingerprint) return tl::unexpected(fingerprint.error());
  if (fingerprint->size() != 64 || !IsLowerHex(*fingerprint, 64)) {
    return Bad(path, "'fingerprint_sha256' is not 64 lowercase hex digits");
  }
  u.fingerprint_sha256 = *fingerprint;
  auto not_after = TimeField(t, "not_after", path);
  if (!not_after) return tl::unexpected(not_after.error());
  u.not_after = *not_after;
  auto enrolled_at = TimeField(t, "enrolled_at", path);
  if (!enrolled_at) return tl::unexpected(enrolled_at.error());
  u.enrolled_at = *enrolled_at;
  auto revoked = TomlBool(t, "revoked", path);
  if (!revoked) return tl::unexpected(revoked.error());
  u.revoked = *revoked;
  if (u.revoked) {
    auto at = TimeField(t, "revoked_at", path);
    if (!at) return tl::unexpected(at.error());
    u.revoked_at = *at;
  } else if (t.contains("revoked_at")) {
    return Bad(path, "'revoked_at' is set but 'revoked' is false");
  }

  toml::array* keys = t.get_as<toml::array>("keys");
  if (keys == nullptr || keys->empty()) return Bad(path, "no [[keys]] entry");
  std::set<int64_t> seen;
  for (toml::node& node : *keys) {
    toml::table* k = node.as_table();
    if (k == nullptr) return Bad(path, "a [[keys]] entry is not a table");
    auto key_id = TomlInt(*k, "key_id", path);
    if (!key_id) return tl::unexpected(key_id.error());
    if (*key_id < 1 || *key_id > UINT32_MAX || !seen.insert(*key_id).second ||
        (!r.keys.empty() && *key_id < r.keys.back().key_id)) {
      return Bad(path, "'key_id' values must be ascending, unique, 1..4294967295");
    }
    auto* hex = k->get_as<std::string>("secret");
    if (hex == nullptr) return Bad(path, "a [[keys]] entry has no 'secret' string");
    auto secret = SealingSecret::FromHex(hex->get());
    // The parsed tree holds the hex too: wipe it there as well.
    WipedString wipe(std::move(hex->get()));
    if (!secret) return Bad(path, "key " + std::to_string(*key_id) + ": " + secret.error().message);
    r.keys.push_back({static_cast<uint32_t>(*key_id), std::move(*secret)});
  }
  return r;
}

}  // namespace unitsync::pki
