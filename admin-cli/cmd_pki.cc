// unitsyncctl pki: the deployment's certificate authority. init-ca, enroll (a unit's
// certificate, key and sealing secret, registered for central), server (central's
// certificate), revoke, list. The work is in pki/ (pki/ca.h); this file owns flags,
// usage and output. Output names files and serials, never key or secret bytes.
#include <unistd.h>

#include <ctime>
#include <filesystem>
#include <memory>

#include "admin-cli/cli.h"
#include "pki/ca.h"
#include "pki/registry.h"

namespace unitsync::cli {
namespace {

struct InitCaOptions {
  std::string dir;
  std::string name;
  int days = pki::kDefaultCaDays;
};

struct EnrollOptions {
  std::string ca;
  std::string unit;
  std::string out;
  int days = pki::kDefaultLeafDays;
};

struct ServerOptions {
  std::string ca;
  std::string name;
  std::vector<std::string> hosts;
  std::string out;
  int days = pki::kDefaultLeafDays;
};

struct RevokeOptions {
  std::string ca;
  std::string unit;
};

std::string Time(std::time_t t) { return FormatTimeMs(static_cast<int64_t>(t) * 1000); }

// Paths are made absolute first, so what the output says to copy or configure names
// the same place from any directory.
std::string Absolute(const std::string& path) {
  std::error_code ec;
  const std::filesystem::path abs = std::filesystem::absolute(path, ec);
  return ec ? path : abs.lexically_normal().string();
}

// The CA's default name: this host's short name, which is usually the central server
// the CA lives on.
std::string DefaultCaName() {
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) != 0) return "unitsync";
  std::string name(host);
  name = name.substr(0, name.find('.')).substr(0, pki::kMaxCaNameSize);
  return pki::IsValidCaName(name) ? name : "unitsync";
}

Status RunInitCa(Context& ctx, const InitCaOptions& opts) {
  const std::string name = opts.name.empty() ? DefaultCaName() : opts.name;
  auto ca = pki::InitCa(Absolute(opts.dir), name, opts.days);
  if (!ca) return tl::unexpected(ca.error());
  if (ctx.global.json) {
    PrintJson(ctx.out(), {{"dir", ca->dir},
                          {"name", ca->name},
                          {"certificate", ca->cert_path},
                          {"private_key", ca->key_path},
                          {"crl", ca->crl_path},
                          {"serial", ca->serial_hex},
                          {"fingerprint_sha256", ca->fingerprint_sha256},
                          {"not_after", Time(ca->not_after)}});
    return {};
  }
  TextTable files({"file", "what"});
  files.AddRow({ca->key_path, "CA private key (0600): stays here; back up the directory offline"});
  files.AddRow({ca->cert_path, "CA certificate: every node trusts it"});
  files.AddRow({ca->crl_path, "revocation list, read by central"});
  files.AddRow({ca->dir + "/units/", "one registration per enrolled unit, read by central"});
  ctx.out() << "created deployment CA \"" << ca->name << "\" in " << ca->dir << " (valid until "
            << Time(ca->not_after) << ")\n";
  files.Print(ctx.out());
  ctx.out() << "CA fingerprint (sha256): " << ca->fingerprint_sha256 << "\n"
            << "next:\n"
            << "  unitsyncctl pki server --ca " << ca->dir
            << " --name central --host HOST --out DIR   (central's certificate)\n"
            << "  unitsyncctl pki enroll --ca " << ca->dir
            << " --unit UNIT-ID --out DIR   (once per unit)\n";
  return {};
}

Status RunEnroll(Context& ctx, const EnrollOptions& opts) {
  auto b = pki::EnrollUnit(Absolute(opts.ca), opts.unit, Absolute(opts.out), opts.days);
  if (!b) return tl::unexpected(b.error());
  if (ctx.global.json) {
    PrintJson(ctx.out(), {{"unit", b->node_id},
                          {"bundle", b->dir},
                          {"registration", b->registration_path},
                          {"serial", b->serial_hex},
                          {"fingerprint_sha256", b->fingerprint_sha256},
                          {"not_after", Time(b->not_after)},
                          {"key_id", pki::kFirstKeyId}});
    return {};
  }
  ctx.out() << "enrolled unit " << b->node_id << ": certificate serial " << b->serial_hex
            << ", valid until " << Time(b->not_after) << "\n"
            << "  bundle " << b->dir
            << " (mode 0700): cert.pem, key.pem (0600), ca.pem, secret (0600), bundle.toml\n"
            << "  registered for central: " << b->registration_path << "\n"
            << "next: copy " << b->dir
            << " to the unit server keeping its modes (tar, or scp -rp), owned by the user\n"
            << "      unitsyncd runs as, e.g. to /etc/unitsync/bundle; set bundle = "
               "\"/etc/unitsync/bundle\"\n"
            << "      in that server's unitsyncd.toml. Keep a copy offline (a unit id is issued\n"
            << "      only once) and delete this one. Central reads the registration from\n"
            << "      " << Absolute(opts.ca) << ".\n";
  return {};
}

Status RunServer(Context& ctx, const ServerOptions& opts) {
  auto b =
      pki::IssueServer(Absolute(opts.ca), opts.name, opts.hosts, Absolute(opts.out), opts.days);
  if (!b) return tl::unexpected(b.error());
  if (ctx.global.json) {
    PrintJson(ctx.out(), {{"node", b->node_id},
                          {"bundle", b->dir},
                          {"hosts", b->hosts},
                          {"serial", b->serial_hex},
                          {"fingerprint_sha256", b->fingerprint_sha256},
                          {"not_after", Time(b->not_after)}});
    return {};
  }
  std::string hosts;
  for (const auto& h : b->hosts) hosts += (hosts.empty() ? "" : ", ") + h;
  ctx.out() << "issued central's server certificate for " << b->node_id << ": serial "
            << b->serial_hex << ", valid until " << Time(b->not_after) << "\n"
            << "  names: " << hosts << "\n"
            << "  bundle " << b->dir
            << " (mode 0700): cert.pem, key.pem (0600), ca.pem, bundle.toml\n"
            << "next: on central, set bundle = \"" << b->dir
            << "\" in unitsyncd.toml (and the CA directory " << Absolute(opts.ca)
            << "\n      for unit registrations and the CRL); units must reach central by one of "
               "the names above.\n";
  return {};
}

Status RunRevoke(Context& ctx, const RevokeOptions& opts) {
  auto r = pki::Revoke(Absolute(opts.ca), opts.unit);
  if (!r) return tl::unexpected(r.error());
  if (ctx.global.json) {
    PrintJson(ctx.out(), {{"unit", r->unit_id},
                          {"serial", r->serial_hex},
                          {"revoked_at", Time(r->revoked_at)},
                          {"crl", r->crl_path},
                          {"crl_number", r->crl_number},
                          {"crl_entries", r->crl_entries}});
    return {};
  }
  ctx.out() << "revoked unit " << r->unit_id << " (serial " << r->serial_hex << ") at "
            << Time(r->revoked_at) << "\n"
            << "  " << r->crl_path << " re-signed: " << r->crl_entries
            << " revoked serial(s), CRL number " << r->crl_number << "\n"
            << "next: central refuses the unit once unitsyncd there re-reads " << Absolute(opts.ca)
            << "; the unit id is not issued again\n";
  return {};
}

Status RunList(Context& ctx, const std::string& ca) {
  auto units = pki::ListEnrolled(Absolute(ca));
  if (!units) return tl::unexpected(units.error());
  if (ctx.global.json) {
    auto doc = nlohmann::json::array();
    for (const auto& u : *units) {
      doc.push_back({{"unit", u.unit_id},
                     {"serial", u.serial_hex},
                     {"fingerprint_sha256", u.fingerprint_sha256},
                     {"enrolled_at", Time(u.enrolled_at)},
                     {"not_after", Time(u.not_after)},
                     {"revoked", u.revoked},
                     {"revoked_at", u.revoked ? nlohmann::json(Time(u.revoked_at)) : nullptr}});
    }
    PrintJson(ctx.out(), doc);
    return {};
  }
  const std::time_t now = std::time(nullptr);
  TextTable table({"unit", "serial", "not_after", "revoked"});
  size_t revoked = 0, expired = 0;
  for (const auto& u : *units) {
    revoked += u.revoked;
    expired += !u.revoked && u.not_after < now;
    table.AddRow({u.unit_id, u.serial_hex,
                  Time(u.not_after) + (u.not_after < now ? " (expired)" : ""),
                  u.revoked ? Time(u.revoked_at) : "-"});
  }
  table.Print(ctx.out());
  ctx.out() << units->size() << " unit(s) enrolled, " << revoked << " revoked, " << expired
            << " expired\n";
  return {};
}

CLI::Option* AddCaOption(CLI::App* cmd, std::string& ca) {
  return cmd->add_option("--ca", ca, "The CA directory (made by 'pki init-ca')")
      ->required()
      ->type_name("DIR");
}

CLI::Option* AddDaysOption(CLI::App* cmd, int& days, const char* what) {
  return cmd->add_option("--days", days, what)
      ->check(CLI::Range(1, pki::kMaxDays))
      ->capture_default_str();
}

// Wire-legal unit ids that a replica would refuse (upper case, ':') are refused here
// too: a certificate for a node that cannot exist is no use (see pki/identity.h).
void AddNodeIdCheck(CLI::Option* option) { option->check(NodeId()); }

}  // namespace

void RegisterPki(CLI::App& app, Context& ctx) {
  CLI::App* pki = app.add_subcommand(
      "pki", "The deployment's CA: init-ca, enroll a unit, central's certificate, revoke, list");
  pki->require_subcommand(1);
  pki->footer(
      "Keys and secrets are written mode 0600 into 0700 directories and are never printed;\n"
      "nothing existing is ever overwritten. Layout and formats: pki/DESIGN.md.");

  auto init = std::make_shared<InitCaOptions>();
  CLI::App* init_cmd = pki->add_subcommand("init-ca", "Create the deployment's CA directory");
  init_cmd->add_option("--dir", init->dir, "Directory to create (mode 0700)")
      ->required()
      ->type_name("DIR");
  init_cmd
      ->add_option("--name", init->name,
                   "Names the CA in its certificate (default: this host's name)")
      ->check(CLI::Validator(
          [](std::string& v) -> std::string {
            return pki::IsValidCaName(v) ? std::string()
                                         : "must be 1-64 of A-Z a-z 0-9 space . _ -";
          },
          "NAME"));
  AddDaysOption(init_cmd, init->days, "Validity of the CA certificate in days");
  init_cmd->footer(
      "Example:\n  unitsyncctl pki init-ca --dir /etc/unitsync/ca --name \"Exempelkommun\"");
  init_cmd->callback([&ctx, init] { ctx.Finish(RunInitCa(ctx, *init)); });

  auto enroll = std::make_shared<EnrollOptions>();
  CLI::App* enroll_cmd = pki->add_subcommand(
      "enroll", "Issue a unit its bundle (certificate, key, sealing secret) and register it");
  AddCaOption(enroll_cmd, enroll->ca);
  AddNodeIdCheck(enroll_cmd->add_option("--unit", enroll->unit, "The unit's node id")
                     ->required()
                     ->type_name("UNIT-ID"));
  enroll_cmd->add_option("--out", enroll->out, "Bundle directory to create (mode 0700)")
      ->required()
      ->type_name("DIR");
  AddDaysOption(enroll_cmd, enroll->days, "Validity of the unit certificate in days");
  enroll_cmd->footer(
      "A unit id is enrolled once; refuses an existing --out that is not empty (exit 4).\n"
      "Example:\n"
      "  unitsyncctl pki enroll --ca /etc/unitsync/ca --unit unit-0042 --out ./unit-0042");
  enroll_cmd->callback([&ctx, enroll] { ctx.Finish(RunEnroll(ctx, *enroll)); });

  auto server = std::make_shared<ServerOptions>();
  CLI::App* server_cmd = pki->add_subcommand("server", "Issue central's server certificate bundle");
  AddCaOption(server_cmd, server->ca);
  AddNodeIdCheck(server_cmd->add_option("--name", server->name, "Central's node id")
                     ->required()
                     ->type_name("NODE-ID"));
  server_cmd
      ->add_option("--host", server->hosts,
                   "A DNS name or IP address units connect to (repeat for several)")
      ->required()
      ->type_name("HOST");
  server_cmd->add_option("--out", server->out, "Bundle directory to create (mode 0700)")
      ->required()
      ->type_name("DIR");
  AddDaysOption(server_cmd, server->days, "Validity of the server certificate in days");
  server_cmd->footer(
      "Example:\n"
      "  unitsyncctl pki server --ca /etc/unitsync/ca --name central \\\n"
      "      --host sync.example.org --host 10.0.0.5 --out /etc/unitsync/bundle");
  server_cmd->callback([&ctx, server] { ctx.Finish(RunServer(ctx, *server)); });

  auto revoke = std::make_shared<RevokeOptions>();
  CLI::App* revoke_cmd =
      pki->add_subcommand("revoke", "Revoke a unit's certificate: central refuses it from then on");
  AddCaOption(revoke_cmd, revoke->ca);
  revoke_cmd->add_option("--unit", revoke->unit, "The unit's node id")
      ->required()
      ->type_name("UNIT-ID");
  revoke_cmd->footer("Exit 3 when the unit was never enrolled, 4 when it is already revoked.");
  revoke_cmd->callback([&ctx, revoke] { ctx.Finish(RunRevoke(ctx, *revoke)); });

  auto list_ca = std::make_shared<std::string>();
  CLI::App* list_cmd = pki->add_subcommand("list", "List enrolled units (never their secrets)");
  AddCaOption(list_cmd, *list_ca);
  list_cmd->callback([&ctx, list_ca] { ctx.Finish(RunList(ctx, *list_ca)); });
}

}  // namespace unitsync::cli
