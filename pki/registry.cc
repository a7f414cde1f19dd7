#include "pki/registry.h"

#include <algorithm>

#include "pki/ca_dir.h"
#include "pki/cert_info.h"
#include "pki/files.h"
#include "pki/identity.h"
#include "pki/registration.h"

namespace unitsync::pki {
namespace {

constexpr std::string_view kTomlSuffix = ".toml";

}  // namespace

const UnitRegistration* Registry::Find(std::string_view unit_id) const {
  auto it = std::lower_bound(
      units.begin(), units.end(), unit_id,
      [](const UnitRegistration& r, std::string_view id) { return r.unit.unit_id < id; });
  if (it == units.end() || it->unit.unit_id != unit_id) return nullptr;
  return &*it;
}

Result<Registry> LoadRegistrations(const std::string& ca_dir) {
  if (auto st = CheckCaDir(ca_dir); !st) return tl::unexpected(st.error());
  Registry registry;
  registry.ca_cert_path = JoinPath(ca_dir, kCaCertFile);
  registry.crl_path = JoinPath(ca_dir, kCrlFile);
  const std::string units_dir = JoinPath(ca_dir, kUnitsDir);
  auto names = ListDir(units_dir);
  if (!names) return tl::unexpected(names.error());
  for (const std::string& name : *names) {
    // Only "<id>.toml": temp files of an interrupted update ("<id>.toml.tmp") and
    // anything else an admin put there are not registrations.
    if (name.size() <= kTomlSuffix.size() || !name.ends_with(kTomlSuffix)) continue;
    const std::string unit = name.substr(0, name.size() - kTomlSuffix.size());
    if (!IsValidNodeId(unit)) continue;
    auto r = ReadRegistration(JoinPath(units_dir, name), unit);
    if (!r) return tl::unexpected(r.error());
    registry.units.push_back(std::move(*r));
  }
  // ListDir sorts by file name; "<id>.toml" sorts like "<id>" except where one id is
  // a prefix of another followed by a character below '.', so sort by id explicitly.
  std::sort(registry.units.begin(), registry.units.end(),
            [](const UnitRegistration& a, const UnitRegistration& b) {
              return a.unit.unit_id < b.unit.unit_id;
            });
  return registry;
}

Result<std::vector<EnrolledUnit>> ListEnrolled(const std::string& ca_dir) {
  auto registry = LoadRegistrations(ca_dir);
  if (!registry) return tl::unexpected(registry.error());
  std::vector<EnrolledUnit> out;
  out.reserve(registry->units.size());
  for (auto& r : registry->units) out.push_back(std::move(r.unit));
  return out;
}

Result<std::string> AuthenticateUnit(const Registry& registry, const X509* peer) {
  auto id = UnitIdFromCertificate(peer);
  if (!id) return id;
  const UnitRegistration* r = registry.Find(*id);
  if (r == nullptr) {
    return Fail(Errc::kRejected, "unit " + *id + " is not enrolled at this central node",
                "enroll it with 'unitsyncctl pki enroll'");
  }
  if (r->unit.revoked) {
    return Fail(Errc::kRejected, "unit " + *id + "'s certificate is revoked",
                "a revoked unit stays locked out; see pki/DESIGN.md for re-enrolling");
  }
  auto fingerprint = FingerprintSha256(peer);
  if (!fingerprint) return tl::unexpected(fingerprint.error());
  if (*fingerprint != r->unit.fingerprint_sha256) {
    return Fail(Errc::kRejected,
                "unit " + *id + " presented a certificate other than its enrolled one (serial " +
                    r->unit.serial_hex + ")",
                "use the bundle from 'unitsyncctl pki enroll' for this unit");
  }
  return id;
}

}  // namespace unitsync::pki
