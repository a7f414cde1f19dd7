// InitCa and Revoke: the CA directory's own life cycle. Issuing is in enroll.cc.
#include "pki/ca.h"

#include <map>

#include "pki/ca_dir.h"
#include "pki/cert_builder.h"
#include "pki/cert_info.h"
#include "pki/crl.h"
#include "pki/files.h"
#include "pki/identity.h"
#include "pki/keys.h"
#include "pki/registration.h"
#include "pki/text.h"

namespace unitsync::pki {

bool IsValidCaName(std::string_view name) {
  if (name.empty() || name.size() > kMaxCaNameSize || name.front() == ' ' || name.back() == ' ') {
    return false;
  }
  for (const char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == ' ' || c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

Result<CaSummary> InitCa(const std::string& dir, const std::string& name, int days) {
  if (!IsValidCaName(name)) {
    return Fail(Errc::kInvalidArgument, "invalid CA name",
                "use 1-" + std::to_string(kMaxCaNameSize) +
                    " of A-Z a-z 0-9 space . _ -, e.g. the municipality's name");
  }
  if (days < 1 || days > kMaxDays) {
    return Fail(Errc::kInvalidArgument,
                "the CA's validity must be 1-" + std::to_string(kMaxDays) + " days");
  }
  CreatedPaths created;
  auto made_dir = PreparePrivateDir(dir);
  if (!made_dir) return tl::unexpected(made_dir.error());
  if (*made_dir) created.AddDir(dir);

  auto key = GenerateP256Key();
  if (!key) return tl::unexpected(key.error());
  CertRequest request;
  request.profile = CertProfile::kCa;
  request.common_name = "unitsync deployment CA " + name;
  request.days = days;
  auto cert = IssueCertificate(request, key->get(), nullptr, key->get());
  if (!cert) return tl::unexpected(cert.error());
  auto cert_pem = CertificatePem(cert->get());
  if (!cert_pem) return tl::unexpected(cert_pem.error());
  auto key_pem = PrivateKeyPem(key->get());
  if (!key_pem) return tl::unexpected(key_pem.error());
  auto crl_pem = BuildCrlPem(cert->get(), key->get(), 1, {});
  if (!crl_pem) return tl::unexpected(crl_pem.error());

  CaSummary out;
  out.dir = dir;
  out.name = name;
  out.cert_path = JoinPath(dir, kCaCertFile);
  out.key_path = JoinPath(dir, kCaKeyFile);
  out.crl_path = JoinPath(dir, kCrlFile);
  const std::string units = JoinPath(dir, kUnitsDir);

  if (auto st = WriteNewFile(out.key_path, key_pem->str(), kPrivateFileMode); !st) {
    return tl::unexpected(st.error());
  }
  created.AddFile(out.key_path);
  if (auto st = WriteNewFile(out.cert_path, *cert_pem, kPublicFileMode); !st) {
    return tl::unexpected(st.error());
  }
  created.AddFile(out.cert_path);
  if (auto st = WriteNewFile(out.crl_path, *crl_pem, kPublicFileMode); !st) {
    return tl::unexpected(st.error());
  }
  created.AddFile(out.crl_path);
  // units/ last: CheckCaDir treats ca.pem + units/ as "a CA lives here".
  if (auto st = MakeDir(units, kPrivateDirMode); !st) return tl::unexpected(st.error());
  created.AddDir(units);

  auto serial = CertSerialHex(cert->get());
  auto fingerprint = FingerprintSha256(cert->get());
  auto not_after = NotAfter(cert->get());
  if (!serial) return tl::unexpected(serial.error());
  if (!fingerprint) return tl::unexpected(fingerprint.error());
  if (!not_after) return tl::unexpected(not_after.error());
  out.serial_hex = *serial;
  out.fingerprint_sha256 = *fingerprint;
  out.not_after = *not_after;
  created.Commit();
  return out;
}

Result<Revocation> Revoke(const std::string& ca_dir, const std::string& unit_id) {
  if (!IsValidNodeId(unit_id)) {
    return Fail(Errc::kInvalidArgument, "invalid unit id", "use 1-64 of A-Z a-z 0-9 . _ : -");
  }
  auto ca = OpenCa(ca_dir);
  if (!ca) return tl::unexpected(ca.error());
  auto lock = DirLock::Acquire(ca_dir);
  if (!lock) return tl::unexpected(lock.error());

  const std::string path = RegistrationPath(ca_dir, unit_id);
  if (!PathExists(path)) {
    return Fail(Errc::kNotFound, "unit " + unit_id + " is not enrolled in " + ca_dir,
                "'unitsyncctl pki list --ca " + ca_dir + "' shows the enrolled units");
  }
  auto target = ReadRegistration(path, unit_id);
  if (!target) return tl::unexpected(target.error());
  if (target->unit.revoked) {
    return Fail(Errc::kRejected, "unit " + unit_id + " is already revoked",
                "it was revoked at " + FormatUtc(target->unit.revoked_at) + "; nothing to do");
  }
  auto registry = LoadRegistrations(ca_dir);
  if (!registry) return tl::unexpected(registry.error());

  // The new CRL lists everything revoked so far: every revoked registration and every
  // serial the current CRL already lists (a serial never leaves the CRL).
  const std::string crl_path = JoinPath(ca_dir, kCrlFile);
  CrlContents current;
  if (auto read = ReadCrl(crl_path, ca->cert.get())) {
    current = std::move(*read);
  } else if (read.error().code != Errc::kNotFound) {
    return tl::unexpected(read.error());
  }
  const std::time_t now = std::time(nullptr);
  std::map<std::string, std::time_t> revoked;
  for (const RevokedSerial& r : current.revoked) revoked.emplace(r.serial_hex, r.revoked_at);
  for (const UnitRegistration& r : registry->units) {
    if (r.unit.revoked) revoked.emplace(r.unit.serial_hex, r.unit.revoked_at);
  }
  revoked.emplace(target->unit.serial_hex, now);
  std::vector<RevokedSerial> entries;
  for (const auto& [serial, when] : revoked) entries.push_back({serial, when});

  Revocation out;
  out.unit_id = unit_id;
  out.serial_hex = target->unit.serial_hex;
  out.revoked_at = revoked.at(target->unit.serial_hex);
  out.crl_path = crl_path;
  out.crl_number = current.number + 1;
  out.crl_entries = entries.size();
  auto crl_pem = BuildCrlPem(ca->cert.get(), ca->key.get(), out.crl_number, entries);
  if (!crl_pem) return tl::unexpected(crl_pem.error());
  // CRL first: once it is out, the certificate is refused whatever happens next.
  if (auto st = ReplaceFile(crl_path, *crl_pem, kPublicFileMode); !st) {
    return tl::unexpected(st.error());
  }
  target->unit.revoked = true;
  target->unit.revoked_at = out.revoked_at;
  const WipedString text = FormatRegistration(*target);
  if (auto st = ReplaceFile(path, text.str(), kPrivateFileMode); !st) {
    return tl::unexpected(st.error());
  }
  return out;
}

}  // namespace unitsync::pki
