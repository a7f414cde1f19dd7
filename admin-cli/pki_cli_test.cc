// Runs the real unitsyncctl binary for 'pki' and checks what an admin or a script
// sees: files, modes, stdout, stderr, exit codes, and that no key or secret is ever
// printed. The openssl command line tool checks the results independently.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "admin-cli/cli_test_util.h"
#include "admin-cli/exit_codes.h"
#include "pki/secret.h"
#include "pki/test_util.h"

namespace unitsync::cli {
namespace {

using nlohmann::json;
using pki::testing::ModeOf;
using pki::testing::PemBodyLines;
using pki::testing::ReadFile;
using pki::testing::RunProcess;
using pki::testing::ScopedUmask;
using pki::testing::TempDir;

using testing::CliResult;

class PkiCliTest : public ::testing::Test {
 protected:
  PkiCliTest() : umask_(022) {}

  // Runs unitsyncctl; every output is kept for the secrecy check.
  CliResult Run(const std::vector<std::string>& args) {
    CliResult r = testing::RunUnitsyncctl(args, dir_.File(""));
    transcript_ += r.out + r.err;
    return r;
  }

  std::string Ok(const std::vector<std::string>& args) {
    CliResult r = Run(args);
    EXPECT_EQ(r.code, kExitOk) << "stderr: " << r.err;
    EXPECT_EQ(r.err, "");
    return r.out;
  }

  json OkJson(std::vector<std::string> args) {
    args.push_back("--json");
    return json::parse(Ok(args));
  }

  // Exit code `code`, nothing on stdout, an error line on stderr.
  CliResult Fails(const std::vector<std::string>& args, int code) {
    CliResult r = Run(args);
    EXPECT_EQ(r.code, code) << "stdout: " << r.out << "\nstderr: " << r.err;
    EXPECT_EQ(r.out, "");
    EXPECT_NE(r.err.find("unitsyncctl: error: "), std::string::npos) << r.err;
    return r;
  }

  std::string Path(const std::string& name) const { return dir_.File(name); }
  std::string Ca() const { return Path("ca"); }

  // Every secret and key byte sequence of the CA and `bundles`, as it could leak.
  std::vector<std::string> SecretNeedles(const std::vector<std::string>& bundles) const {
    std::vector<std::string> needles;
    for (const std::string& line : PemBodyLines(ReadFile(Ca() + "/ca.key"))) {
      needles.push_back(line.substr(0, 24));
    }
    for (const std::string& b : bundles) {
      for (const std::string& line : PemBodyLines(ReadFile(b + "/key.pem"))) {
        needles.push_back(line.substr(0, 24));
      }
      if (ModeOf(b + "/secret") < 0) continue;
      const std::string secret = ReadFile(b + "/secret");
      const std::string hex = pki::SealingSecret::FromBytes(secret).value().ToHex();
      needles.push_back(secret);
      needles.push_back(hex.substr(0, 16));
      needles.push_back(hex.substr(48));
    }
    return needles;
  }

  ScopedUmask umask_;
  TempDir dir_;
  std::string transcript_;  // everything every run printed
};

using pki_cli = PkiCliTest;

TEST_F(pki_cli, InitEnrollServerListRevokeEndToEnd) {
  const std::string init = Ok({"pki", "init-ca", "--dir", Ca(), "--name", "Exempelkommun"});
  EXPECT_NE(init.find("Exempelkommun"), std::string::npos) << init;
  EXPECT_NE(init.find(Ca() + "/ca.key"), std::string::npos) << init;
  EXPECT_NE(init.find("pki enroll --ca " + Ca()), std::string::npos) << init;
  EXPECT_EQ(ModeOf(Ca()), 0700);
  EXPECT_EQ(ModeOf(Ca() + "/ca.key"), 0600);

  const std::string unit = Path("unit-0001");
  const std::string enrolled =
      Ok({"pki", "enroll", "--ca", Ca(), "--unit", "unit-0001", "--out", unit});
  EXPECT_NE(enrolled.find("enrolled unit unit-0001"), std::string::npos) << enrolled;
  EXPECT_NE(enrolled.find("copy " + unit), std::string::npos) << enrolled;
  EXPECT_NE(enrolled.find("bundle = "), std::string::npos) << enrolled;
  EXPECT_NE(enrolled.find(Ca() + "/units/unit-0001.toml"), std::string::npos) << enrolled;
  EXPECT_EQ(ModeOf(unit), 0700);
  EXPECT_EQ(ModeOf(unit + "/key.pem"), 0600);
  EXPECT_EQ(ModeOf(unit + "/secret"), 0600);
  EXPECT_EQ(ReadFile(unit + "/secret").size(), 32u);
  EXPECT_EQ(ModeOf(Ca() + "/units/unit-0001.toml"), 0600);

  const std::string central = Path("central");
  const std::string server = Ok({"pki", "server", "--ca", Ca(), "--name", "central", "--host",
                                 "localhost", "--host", "127.0.0.1", "--out", central});
  EXPECT_NE(server.find("localhost, 127.0.0.1"), std::string::npos) << server;
  EXPECT_EQ(ModeOf(central + "/key.pem"), 0600);
  EXPECT_EQ(ModeOf(central + "/secret"), 0600);  // seals central's backups

  // Independent check with the openssl tool: chain, purpose, host name, CRL.
  const std::string ca_pem = Ca() + "/ca.pem", crl = Ca() + "/crl.pem";
  auto unit_ok = RunProcess({"openssl", "verify", "-CAfile", ca_pem, "-purpose", "sslclient",
                             "-crl_check", "-CRLfile", crl, unit + "/cert.pem"},
                            Path(""));
  EXPECT_EQ(unit_ok.code, 0) << unit_ok.output;
  auto central_ok = RunProcess({"openssl", "verify", "-CAfile", ca_pem, "-purpose", "sslserver",
                                "-verify_hostname", "localhost", central + "/cert.pem"},
                               Path(""));
  EXPECT_EQ(central_ok.code, 0) << central_ok.output;

  const std::string listed = Ok({"pki", "list", "--ca", Ca()});
  EXPECT_NE(listed.find("UNIT"), std::string::npos) << listed;
  EXPECT_NE(listed.find("unit-0001"), std::string::npos) << listed;
  EXPECT_NE(listed.find("1 unit(s) enrolled, 0 revoked"), std::string::npos) << listed;
  EXPECT_EQ(listed.find("central"), std::string::npos) << listed;

  const std::string revoked = Ok({"pki", "revoke", "--ca", Ca(), "--unit", "unit-0001"});
  EXPECT_NE(revoked.find("revoked unit unit-0001"), std::string::npos) << revoked;
  auto unit_revoked = RunProcess(
      {"openssl", "verify", "-CAfile", ca_pem, "-crl_check", "-CRLfile", crl, unit + "/cert.pem"},
      Path(""));
  EXPECT_NE(unit_revoked.code, 0) << unit_revoked.output;
  EXPECT_NE(unit_revoked.output.find("certificate revoked"), std::string::npos);
  EXPECT_NE(Ok({"pki", "list", "--ca", Ca()}).find("1 unit(s) enrolled, 1 revoked"),
            std::string::npos);

  for (const std::string& needle : SecretNeedles({unit, central})) {
    EXPECT_EQ(transcript_.find(needle), std::string::npos) << "printed: " << needle;
  }
}

TEST_F(pki_cli, JsonOutputForScripts) {
  const json ca = OkJson({"pki", "init-ca", "--dir", Ca(), "--name", "Test", "--days", "1000"});
  EXPECT_EQ(ca["dir"], Ca());
  EXPECT_EQ(ca["name"], "Test");
  EXPECT_EQ(ca["fingerprint_sha256"].get<std::string>().size(), 64u);

  const json unit = OkJson(
      {"pki", "enroll", "--ca", Ca(), "--unit", "unit-0002", "--out", Path("u2"), "--days", "30"});
  EXPECT_EQ(unit["unit"], "unit-0002");
  EXPECT_EQ(unit["bundle"], Path("u2"));
  EXPECT_EQ(unit["key_id"], 1);
  EXPECT_EQ(unit["serial"].get<std::string>().size(), 32u);
  EXPECT_FALSE(unit.contains("secret"));

  // --json may also come before the subcommand.
  const json list = json::parse(Ok({"--json", "pki", "list", "--ca", Ca()}));
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0]["unit"], "unit-0002");
  EXPECT_EQ(list[0]["serial"], unit["serial"]);
  EXPECT_EQ(list[0]["not_after"], unit["not_after"]);
  EXPECT_EQ(list[0]["revoked"], false);
  EXPECT_TRUE(list[0]["revoked_at"].is_null());
  for (const auto& [key, value] : list[0].items()) EXPECT_EQ(key.find("secret"), std::string::npos);

  const json revoked = OkJson({"pki", "revoke", "--ca", Ca(), "--unit", "unit-0002"});
  EXPECT_EQ(revoked["serial"], unit["serial"]);
  EXPECT_EQ(revoked["crl_entries"], 1);
  EXPECT_EQ(OkJson({"pki", "list", "--ca", Ca()})[0]["revoked"], true);

  const json server = OkJson({"pki", "server", "--ca", Ca(), "--name", "central", "--host",
                              "Sync.Example.org", "--host", "::1", "--out", Path("c")});
  EXPECT_EQ(server["hosts"], json({"sync.example.org", "::1"}));

  for (const std::string& needle : SecretNeedles({Path("u2"), Path("c")})) {
    EXPECT_EQ(transcript_.find(needle), std::string::npos) << "printed: " << needle;
  }
}

TEST_F(pki_cli, RefusalsGiveTheDocumentedExitCodes) {
  Ok({"pki", "init-ca", "--dir", Ca(), "--name", "Test"});
  const std::string key = ReadFile(Ca() + "/ca.key");
  Fails({"pki", "init-ca", "--dir", Ca()}, kExitRejected);
  EXPECT_EQ(ReadFile(Ca() + "/ca.key"), key);
  Ok({"pki", "enroll", "--ca", Ca(), "--unit", "unit-0001", "--out", Path("u1")});

  CliResult again = Fails(
      {"pki", "enroll", "--ca", Ca(), "--unit", "unit-0001", "--out", Path("u1b")}, kExitRejected);
  EXPECT_NE(again.err.find("already enrolled"), std::string::npos) << again.err;
  EXPECT_NE(again.err.find("unitsyncctl: hint: "), std::string::npos) << again.err;
  Fails({"pki", "enroll", "--ca", Ca(), "--unit", "unit-0002", "--out", Path("u1")}, kExitRejected);
  EXPECT_EQ(ModeOf(Ca() + "/units/unit-0002.toml"), -1);

  // Usage: ids outside the replica alphabet, bad days, missing flags, bad hosts.
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"pki", "enroll", "--ca", Ca(), "--unit", "Unit A", "--out", Path("x")},
           {"pki", "enroll", "--ca", Ca(), "--unit", "Unit-A", "--out", Path("x")},
           {"pki", "enroll", "--ca", Ca(), "--unit", "u3", "--out", Path("x"), "--days", "0"},
           {"pki", "enroll", "--ca", Ca(), "--unit", "u3", "--out", Path("x"), "--days", "9000"},
           {"pki", "enroll", "--unit", "u3", "--out", Path("x")},
           {"pki", "server", "--ca", Ca(), "--name", "central", "--out", Path("x")},
           {"pki", "server", "--ca", Ca(), "--name", "central", "--host", "bad_host", "--out",
            Path("x")},
           {"pki", "init-ca", "--dir", Path("x"), "--name", "semi;colon"},
           {"pki"}}) {
    CliResult r = Run(args);
    EXPECT_EQ(r.code, kExitUsage) << args[args.size() - 1] << ": " << r.err;
    EXPECT_EQ(r.out, "");
  }
  EXPECT_EQ(ModeOf(Path("x")), -1);

  CliResult unknown = Fails({"pki", "revoke", "--ca", Ca(), "--unit", "unit-0099"}, kExitNotFound);
  EXPECT_NE(unknown.err.find("pki list"), std::string::npos) << unknown.err;
  Ok({"pki", "revoke", "--ca", Ca(), "--unit", "unit-0001"});
  Fails({"pki", "revoke", "--ca", Ca(), "--unit", "unit-0001"}, kExitRejected);
  CliResult no_ca = Fails({"pki", "list", "--ca", Path("nowhere")}, kExitNotFound);
  EXPECT_NE(no_ca.err.find("init-ca"), std::string::npos) << no_ca.err;

  // An exposed CA key stops issuing, with the fix as the hint.
  ASSERT_EQ(::chmod((Ca() + "/ca.key").c_str(), 0644), 0);
  CliResult exposed = Fails(
      {"pki", "enroll", "--ca", Ca(), "--unit", "unit-0003", "--out", Path("u3")}, kExitRejected);
  EXPECT_NE(exposed.err.find("chmod 600"), std::string::npos) << exposed.err;
  // And an exposed registration (it holds a secret) stops 'list'.
  ASSERT_EQ(::chmod((Ca() + "/ca.key").c_str(), 0600), 0);
  ASSERT_EQ(::chmod((Ca() + "/units/unit-0001.toml").c_str(), 0640), 0);
  Fails({"pki", "list", "--ca", Ca()}, kExitRejected);

  for (const std::string& needle : SecretNeedles({Path("u1")})) {
    EXPECT_EQ(transcript_.find(needle), std::string::npos) << "printed: " << needle;
  }
}

TEST_F(pki_cli, HelpNamesEverySubcommand) {
  CliResult help = Run({"pki", "--help"});
  EXPECT_EQ(help.code, kExitOk);
  for (const char* word : {"init-ca", "enroll", "server", "revoke", "list"}) {
    EXPECT_NE(help.out.find(word), std::string::npos) << word;
  }
  CliResult top = Run({"--help"});
  EXPECT_NE(top.out.find("pki"), std::string::npos);
  CliResult enroll = Run({"pki", "enroll", "--help"});
  EXPECT_EQ(enroll.code, kExitOk);
  EXPECT_NE(enroll.out.find("--unit"), std::string::npos);
  EXPECT_NE(enroll.out.find("825"), std::string::npos) << enroll.out;
}

}  // namespace
}  // namespace unitsync::cli
