// EnrollUnit and IssueServer: leaf certificates and the bundles that carry them.
#include <arpa/inet.h>

#include <algorithm>

#include "pki/bundle_file.h"
#include "pki/ca.h"
#include "pki/ca_dir.h"
#include "pki/cert_builder.h"
#include "pki/cert_info.h"
#include "pki/files.h"
#include "pki/identity.h"
#include "pki/keys.h"
#include "pki/registration.h"
#include "pki/text.h"

namespace unitsync::pki {
namespace {

constexpr long kSecondsPerDay = 24 * 60 * 60;

Status CheckNodeId(const std::string& id, std::string_view what) {
  if (IsValidNodeId(id)) return {};
  return Fail(Errc::kInvalidArgument, "invalid " + std::string(what),
              "use 1-64 of A-Z a-z 0-9 . _ : -");
}

Status CheckDays(int days, const X509* ca) {
  if (days < 1 || days > kMaxDays) {
    return Fail(Errc::kInvalidArgument,
                "a certificate's validity must be 1-" + std::to_string(kMaxDays) + " days");
  }
  auto ca_end = NotAfter(ca);
  if (!ca_end) return tl::unexpected(ca_end.error());
  const std::time_t now = std::time(nullptr);
  if (now + static_cast<std::time_t>(days) * kSecondsPerDay > *ca_end) {
    const long left = std::max<long>(0, static_cast<long>((*ca_end - now) / kSecondsPerDay));
    return Fail(Errc::kInvalidArgument,
                "a certificate valid " + std::to_string(days) + " days would outlive the CA (" +
                    FormatUtc(*ca_end) + ")",
                left > 0 ? "use --days " + std::to_string(left) + " or less"
                         : "the CA has expired; create a new one with 'pki init-ca'");
  }
  return {};
}

// "IP:<canonical>" for an IPv4/IPv6 literal, "DNS:<lowercase>" for a host name.
Result<std::string> AltNameForHost(std::string_view host) {
  const std::string h(host);
  unsigned char addr[16];
  char text[INET6_ADDRSTRLEN];
  for (const int family : {AF_INET, AF_INET6}) {
    if (inet_pton(family, h.c_str(), addr) == 1 &&
        inet_ntop(family, addr, text, sizeof text) != nullptr) {
      return "IP:" + std::string(text);
    }
  }
  auto bad = [] {
    return Fail(Errc::kInvalidArgument, "invalid --host",
                "a DNS name (labels of a-z 0-9 -, dot-separated) or an IPv4/IPv6 address");
  };
  if (h.empty() || h.size() > 253) return bad();
  std::string lower;
  size_t label = 0;
  for (size_t i = 0; i < h.size(); ++i) {
    char c = h[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c == '.') {
      if (label == 0 || lower.back() == '-') return bad();
      label = 0;
    } else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-') {
      if (c == '-' && label == 0) return bad();
      if (++label > 63) return bad();
    } else {
      return bad();
    }
    lower += c;
  }
  if (label == 0 || lower.back() == '-') return bad();
  return "DNS:" + lower;
}

struct Leaf {
  X509Ptr cert;
  PkeyPtr key;
  std::string serial_hex;
  std::string fingerprint;
  std::time_t not_after = 0;
};

Result<Leaf> IssueLeaf(const CertRequest& request, const CaMaterial& ca) {
  Leaf leaf;
  auto key = GenerateP256Key();
  if (!key) return tl::unexpected(key.error());
  leaf.key = std::move(*key);
  auto cert = IssueCertificate(request, leaf.key.get(), ca.cert.get(), ca.key.get());
  if (!cert) return tl::unexpected(cert.error());
  leaf.cert = std::move(*cert);
  auto serial = CertSerialHex(leaf.cert.get());
  auto fingerprint = FingerprintSha256(leaf.cert.get());
  auto not_after = NotAfter(leaf.cert.get());
  if (!serial) return tl::unexpected(serial.error());
  if (!fingerprint) return tl::unexpected(fingerprint.error());
  if (!not_after) return tl::unexpected(not_after.error());
  leaf.serial_hex = *serial;
  leaf.fingerprint = *fingerprint;
  leaf.not_after = *not_after;
  return leaf;
}

// Writes a bundle into `out_dir` (prepared by the caller), registering every file in
// `created`.
Status WriteBundle(const std::string& out_dir, const Leaf& leaf, const X509* ca_cert,
                   const SealingSecret* secret, const BundleDescription& description,
                   CreatedPaths& created) {
  auto cert_pem = CertificatePem(leaf.cert.get());
  if (!cert_pem) return tl::unexpected(cert_pem.error());
  auto ca_pem = CertificatePem(ca_cert);
  if (!ca_pem) return tl::unexpected(ca_pem.error());
  auto key_pem = PrivateKeyPem(leaf.key.get());
  if (!key_pem) return tl::unexpected(key_pem.error());

  auto write = [&](std::string_view name, std::string_view bytes, mode_t mode) -> Status {
    const std::string path = JoinPath(out_dir, name);
    if (auto st = WriteNewFile(path, bytes, mode); !st) return st;
    created.AddFile(path);
    return {};
  };
  if (auto st = write(kBundleKeyFile, key_pem->str(), kPrivateFileMode); !st) return st;
  if (secret != nullptr) {
    if (auto st = write(kBundleSecretFile, secret->view(), kPrivateFileMode); !st) return st;
  }
  if (auto st = write(kBundleCertFile, *cert_pem, kPublicFileMode); !st) return st;
  if (auto st = write(kBundleCaFile, *ca_pem, kPublicFileMode); !st) return st;
  return write(kBundleFile, FormatBundleToml(description), kPublicFileMode);
}

}  // namespace

Result<IssuedBundle> EnrollUnit(const std::string& ca_dir, const std::string& unit_id,
                                const std::string& out_dir, int days) {
  if (auto st = CheckNodeId(unit_id, "unit id"); !st) return tl::unexpected(st.error());
  auto ca = OpenCa(ca_dir);
  if (!ca) return tl::unexpected(ca.error());
  if (auto st = CheckDays(days, ca->cert.get()); !st) return tl::unexpected(st.error());
  auto lock = DirLock::Acquire(ca_dir);
  if (!lock) return tl::unexpected(lock.error());

  const std::string registration_path = RegistrationPath(ca_dir, unit_id);
  if (PathExists(registration_path)) {
    return Fail(Errc::kAlreadyExists, "unit " + unit_id + " is already enrolled in " + ca_dir,
                "a unit id is issued once; 'pki list --ca " + ca_dir +
                    "' shows it. Its bundle was written at enrollment; restore it from backup");
  }
  CreatedPaths created;
  auto made_dir = PreparePrivateDir(out_dir);
  if (!made_dir) return tl::unexpected(made_dir.error());
  if (*made_dir) created.AddDir(out_dir);

  CertRequest request;
  request.profile = CertProfile::kUnit;
  request.common_name = unit_id;
  request.days = days;
  request.alt_names = {"URI:" + std::string(kUnitUriPrefix) + unit_id};
  auto leaf = IssueLeaf(request, *ca);
  if (!leaf) return tl::unexpected(leaf.error());
  auto secret = SealingSecret::Generate();
  if (!secret) return tl::unexpected(secret.error());

  BundleDescription description;
  description.node_id = unit_id;
  description.role = NodeRole::kUnit;
  description.key_id = kFirstKeyId;
  description.serial_hex = leaf->serial_hex;
  description.not_after = leaf->not_after;
  if (auto st = WriteBundle(out_dir, *leaf, ca->cert.get(), &*secret, description, created); !st) {
    return tl::unexpected(st.error());
  }

  UnitRegistration registration{EnrolledUnit{unit_id, leaf->serial_hex, leaf->fingerprint,
                                             leaf->not_after, std::time(nullptr), false, 0},
                                {UnitKey{kFirstKeyId, *secret}}};
  const WipedString text = FormatRegistration(registration);
  // Last: a unit is registered only once its bundle is complete.
  if (auto st = WriteNewFile(registration_path, text.str(), kPrivateFileMode); !st) {
    return tl::unexpected(st.error());
  }
  created.Commit();

  IssuedBundle out;
  out.dir = out_dir;
  out.node_id = unit_id;
  out.role = NodeRole::kUnit;
  out.serial_hex = leaf->serial_hex;
  out.fingerprint_sha256 = leaf->fingerprint;
  out.not_after = leaf->not_after;
  out.registration_path = registration_path;
  return out;
}

Result<IssuedBundle> IssueServer(const std::string& ca_dir, const std::string& node_id,
                                 const std::vector<std::string>& hosts, const std::string& out_dir,
                                 int days) {
  if (auto st = CheckNodeId(node_id, "node id"); !st) return tl::unexpected(st.error());
  if (hosts.empty()) {
    return Fail(Errc::kInvalidArgument, "a server certificate needs at least one --host",
                "name every DNS name and IP address units use to reach central");
  }
  std::vector<std::string> alt_names;
  for (const std::string& host : hosts) {
    auto name = AltNameForHost(host);
    if (!name) return tl::unexpected(name.error());
    if (std::find(alt_names.begin(), alt_names.end(), *name) == alt_names.end()) {
      alt_names.push_back(*name);
    }
  }
  auto ca = OpenCa(ca_dir);
  if (!ca) return tl::unexpected(ca.error());
  if (auto st = CheckDays(days, ca->cert.get()); !st) return tl::unexpected(st.error());

  CreatedPaths created;
  auto made_dir = PreparePrivateDir(out_dir);
  if (!made_dir) return tl::unexpected(made_dir.error());
  if (*made_dir) created.AddDir(out_dir);

  CertRequest request;
  request.profile = CertProfile::kServer;
  request.common_name = node_id;
  request.days = days;
  request.alt_names = alt_names;
  auto leaf = IssueLeaf(request, *ca);
  if (!leaf) return tl::unexpected(leaf.error());

  BundleDescription description;
  description.node_id = node_id;
  description.role = NodeRole::kCentral;
  description.key_id = kFirstKeyId;
  description.serial_hex = leaf->serial_hex;
  description.not_after = leaf->not_after;
  // Central's own secret seals its backups (units' secrets stay in the CA directory).
  auto secret = SealingSecret::Generate();
  if (!secret) return tl::unexpected(secret.error());
  if (auto st = WriteBundle(out_dir, *leaf, ca->cert.get(), &*secret, description, created); !st) {
    return tl::unexpected(st.error());
  }
  created.Commit();

  IssuedBundle out;
  out.dir = out_dir;
  out.node_id = node_id;
  out.role = NodeRole::kCentral;
  out.serial_hex = leaf->serial_hex;
  out.fingerprint_sha256 = leaf->fingerprint;
  out.not_after = leaf->not_after;
  for (const std::string& name : alt_names) out.hosts.push_back(name.substr(name.find(':') + 1));
  return out;
}

}  // namespace unitsync::pki
