#include "pki/ca_dir.h"

#include "pki/files.h"
#include "pki/keys.h"
#include "pki/openssl_error.h"

namespace unitsync::pki {

std::string RegistrationPath(const std::string& ca_dir, std::string_view unit_id) {
  return JoinPath(JoinPath(ca_dir, kUnitsDir), std::string(unit_id) + ".toml");
}

Status CheckCaDir(const std::string& dir) {
  if (!PathExists(JoinPath(dir, kCaCertFile)) || !PathExists(JoinPath(dir, kUnitsDir))) {
    return Fail(Errc::kNotFound, dir + " is not a unitsync CA directory (no ca.pem or units/)",
                "create one with 'unitsyncctl pki init-ca --dir " + dir + "'");
  }
  return {};
}

Result<CaMaterial> OpenCa(const std::string& dir) {
  if (auto st = CheckCaDir(dir); !st) return tl::unexpected(st.error());
  const std::string key_path = JoinPath(dir, kCaKeyFile);
  if (auto st = CheckPrivateFile(key_path); !st) return tl::unexpected(st.error());
  auto cert = LoadCertificate(JoinPath(dir, kCaCertFile));
  if (!cert) return tl::unexpected(cert.error());
  auto key = LoadPrivateKey(key_path);
  if (!key) return tl::unexpected(key.error());
  if (X509_check_private_key(cert->get(), key->get()) != 1) {
    return FailOpenSsl(Errc::kCorrupt, key_path + " does not belong to " + dir + "/ca.pem",
                       "restore the CA directory from its backup");
  }
  if (X509_check_ca(cert->get()) == 0) {
    return Fail(Errc::kCorrupt, dir + "/ca.pem is not a CA certificate");
  }
  return CaMaterial{std::move(*cert), std::move(*key)};
}

}  // namespace unitsync::pki
