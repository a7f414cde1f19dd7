#include "pki/bundle.h"

#include "pki/bundle_file.h"
#include "pki/cert_info.h"
#include "pki/files.h"
#include "pki/identity.h"
#include "pki/keys.h"
#include "pki/openssl_error.h"
#include "pki/text.h"
#include "pki/toml_io.h"

namespace unitsync::pki {
namespace {

constexpr size_t kMaxBundleToml = 64 * 1024;

tl::unexpected<Error> Bad(const std::string& path, const std::string& what) {
  return Fail(Errc::kCorrupt, path + ": " + what,
              "copy the bundle again from where 'unitsyncctl pki enroll' wrote it");
}

// A file name inside the bundle: no directories, so a bundle cannot point elsewhere.
Result<std::string> BundleMember(const toml::table& t, std::string_view key, const std::string& dir,
                                 const std::string& toml_path) {
  auto name = TomlString(t, key, toml_path);
  if (!name) return tl::unexpected(name.error());
  if (name->empty() || name->find('/') != std::string::npos || *name == "." || *name == "..") {
    return Bad(toml_path, "'" + std::string(key) + "' must be a file name inside the bundle");
  }
  return JoinPath(dir, *name);
}

// The signature chain only (see LoadBundle): OpenSSL's verifier without the time check,
// with the purpose the role needs.
Status VerifyIssuedBy(X509* cert, X509* ca, NodeRole role, const std::string& cert_path,
                      const std::string& ca_path) {
  X509StorePtr store(X509_STORE_new());
  X509StoreCtxPtr ctx(X509_STORE_CTX_new());
  if (!store || !ctx || X509_STORE_add_cert(store.get(), ca) != 1 ||
      X509_STORE_CTX_init(ctx.get(), store.get(), cert, nullptr) != 1) {
    return FailOpenSsl(Errc::kInternal, "cannot set up certificate verification");
  }
  X509_STORE_CTX_set_flags(ctx.get(), X509_V_FLAG_NO_CHECK_TIME | X509_V_FLAG_X509_STRICT);
  X509_STORE_CTX_set_purpose(
      ctx.get(), role == NodeRole::kUnit ? X509_PURPOSE_SSL_CLIENT : X509_PURPOSE_SSL_SERVER);
  if (X509_verify_cert(ctx.get()) != 1) {
    const int err = X509_STORE_CTX_get_error(ctx.get());
    ClearOpenSslErrors();
    return Fail(Errc::kRejected,
                cert_path + " does not verify against " + ca_path + ": " +
                    X509_verify_cert_error_string(err),
                "the bundle's files come from different enrollments; copy the whole bundle again");
  }
  return {};
}

}  // namespace

std::string_view NodeRoleName(NodeRole role) {
  return role == NodeRole::kCentral ? "central" : "unit";
}

std::string FormatBundleToml(const BundleDescription& d) {
  std::string s;
  s += "# unitsync enrollment bundle for " + std::string(NodeRoleName(d.role)) + " " + d.node_id +
       ", written by 'unitsyncctl pki'.\n";
  s += "# Copy this directory as is (modes kept) and point unitsyncd.toml's 'bundle' at it.\n";
  s += "format = " + std::to_string(kBundleFormat) + "\n";
  s += "node_id = " + TomlQuote(d.node_id) + "\n";
  s += "role = " + TomlQuote(NodeRoleName(d.role)) + "\n";
  s += "certificate = " + TomlQuote(kBundleCertFile) + "\n";
  s += "private_key = " + TomlQuote(kBundleKeyFile) + "\n";
  s += "ca = " + TomlQuote(kBundleCaFile) + "\n";
  if (d.key_id != 0) {
    s += "secret = " + TomlQuote(kBundleSecretFile) + "\n";
    s += "key_id = " + std::to_string(d.key_id) + "\n";
  }
  s += "serial = " + TomlQuote(d.serial_hex) + "\n";
  s += "not_after = " + TomlQuote(FormatUtc(d.not_after)) + "\n";
  return s;
}

Result<Bundle> LoadBundle(const std::string& dir) {
  const std::string toml_path = JoinPath(dir, kBundleFile);
  auto text = ReadSmallFile(toml_path, kMaxBundleToml);
  if (!text) {
    Error e = text.error();
    if (e.code == Errc::kNotFound) {
      e.hint = "is " + dir + " a bundle written by 'unitsyncctl pki enroll'?";
    }
    return tl::unexpected(std::move(e));
  }
  auto parsed = ParseToml(*text, toml_path);
  if (!parsed) return tl::unexpected(parsed.error());
  const toml::table& t = *parsed;
  auto format = TomlInt(t, "format", toml_path);
  if (!format) return tl::unexpected(format.error());
  if (*format != kBundleFormat) {
    return Bad(toml_path,
               "format " + std::to_string(*format) + " is not " + std::to_string(kBundleFormat));
  }

  Bundle b;
  b.dir = dir;
  auto node = TomlString(t, "node_id", toml_path);
  if (!node) return tl::unexpected(node.error());
  if (!IsValidNodeId(*node)) return Bad(toml_path, "'node_id' is not a node id");
  b.node_id = *node;
  auto role = TomlString(t, "role", toml_path);
  if (!role) return tl::unexpected(role.error());
  if (*role == "unit") {
    b.role = NodeRole::kUnit;
  } else if (*role == "central") {
    b.role = NodeRole::kCentral;
  } else {
    return Bad(toml_path, "'role' is neither \"unit\" nor \"central\"");
  }
  auto cert_path = BundleMember(t, "certificate", dir, toml_path);
  auto key_path = BundleMember(t, "private_key", dir, toml_path);
  auto ca_path = BundleMember(t, "ca", dir, toml_path);
  if (!cert_path) return tl::unexpected(cert_path.error());
  if (!key_path) return tl::unexpected(key_path.error());
  if (!ca_path) return tl::unexpected(ca_path.error());
  b.cert_path = *cert_path;
  b.key_path = *key_path;
  b.ca_path = *ca_path;

  // Modes before contents: a key that others could read is refused even if it is fine.
  if (auto st = CheckPrivateFile(b.key_path); !st) return tl::unexpected(st.error());
  std::string secret_path;
  // A unit's bundle always has its sealing secret; central's has its backup secret
  // unless it was issued before there was one.
  const bool has_secret = b.role == NodeRole::kUnit || t.contains("secret");
  if (has_secret) {
    auto p = BundleMember(t, "secret", dir, toml_path);
    if (!p) return tl::unexpected(p.error());
    secret_path = *p;
    if (auto st = CheckPrivateFile(secret_path); !st) return tl::unexpected(st.error());
  }

  auto cert = LoadCertificate(b.cert_path);
  if (!cert) return tl::unexpected(cert.error());
  auto ca = LoadCertificate(b.ca_path);
  if (!ca) return tl::unexpected(ca.error());
  {
    auto key = LoadPrivateKey(b.key_path);
    if (!key) return tl::unexpected(key.error());
    if (X509_check_private_key(cert->get(), key->get()) != 1) {
      return FailOpenSsl(Errc::kRejected, b.key_path + " is not the key of " + b.cert_path,
                         "copy the whole bundle again; its files belong together");
    }
  }
  if (auto st = VerifyIssuedBy(cert->get(), ca->get(), b.role, b.cert_path, b.ca_path); !st) {
    return tl::unexpected(st.error());
  }
  auto named = UnitIdFromCertificate(cert->get());
  if (!named) return tl::unexpected(named.error());
  if (*named != b.node_id) {
    return Fail(Errc::kRejected,
                b.cert_path + " was issued to " + *named + ", bundle.toml says " + b.node_id,
                "copy the whole bundle again; its files belong together");
  }
  auto serial = CertSerialHex(cert->get());
  if (!serial) return tl::unexpected(serial.error());
  b.serial_hex = *serial;
  auto not_after = NotAfter(cert->get());
  if (!not_after) return tl::unexpected(not_after.error());
  b.not_after = *not_after;

  if (has_secret) {
    auto key_id = TomlInt(t, "key_id", toml_path);
    if (!key_id) return tl::unexpected(key_id.error());
    if (*key_id < 1 || *key_id > UINT32_MAX) return Bad(toml_path, "'key_id' is out of range");
    auto raw = ReadSmallFile(secret_path, kSealingSecretSize);
    if (!raw) return tl::unexpected(raw.error());
    WipedString bytes(std::move(*raw));
    auto secret = SealingSecret::FromBytes(bytes.str());
    if (!secret) {
      return Fail(Errc::kCorrupt, secret_path + ": " + secret.error().message,
                  "copy the whole bundle again");
    }
    b.sealing = UnitKey{static_cast<uint32_t>(*key_id), std::move(*secret)};
  }
  return b;
}

}  // namespace unitsync::pki
