// What unitsync issues is ordinary X.509: the openssl command line tool accepts it,
// including the CRL, so operators can inspect and check it with standard tools.
#include "pki/ca.h"
#include "pki/test_util.h"

namespace unitsync::pki {
namespace {

using testing::Must;
using testing::RunProcess;
using testing::ScopedUmask;
using testing::TempDir;

TEST(pki_openssl, OpensslVerifiesWhatWeIssueAndHonoursTheCrl) {
  ScopedUmask umask(022);
  TempDir dir;
  const std::string ca = dir.File("ca");
  Must(InitCa(ca, "Test"));
  const IssuedBundle unit = Must(EnrollUnit(ca, "unit-0001", dir.File("unit")));
  const IssuedBundle central =
      Must(IssueServer(ca, "central", {"localhost", "127.0.0.1"}, dir.File("central")));
  const std::string ca_pem = ca + "/ca.pem", crl = ca + "/crl.pem";

  auto verify = [&](std::vector<std::string> extra, const std::string& cert) {
    std::vector<std::string> args = {"openssl", "verify", "-CAfile", ca_pem};
    args.insert(args.end(), extra.begin(), extra.end());
    args.push_back(cert);
    return RunProcess(args, dir.File(""));
  };
  const std::string unit_cert = unit.dir + "/cert.pem";
  const std::string central_cert = central.dir + "/cert.pem";
  auto plain = verify({}, unit_cert);
  EXPECT_EQ(plain.code, 0) << plain.output;
  EXPECT_NE(plain.output.find(": OK"), std::string::npos) << plain.output;
  EXPECT_EQ(verify({"-purpose", "sslclient", "-crl_check", "-CRLfile", crl}, unit_cert).code, 0);
  auto server = verify({"-purpose", "sslserver", "-verify_hostname", "localhost"}, central_cert);
  EXPECT_EQ(server.code, 0) << server.output;
  EXPECT_NE(verify({"-purpose", "sslserver"}, unit_cert).code, 0);
  EXPECT_NE(verify({"-purpose", "sslclient"}, central_cert).code, 0);

  // The CRL itself is well-formed and signed by the CA.
  auto crl_check =
      RunProcess({"openssl", "crl", "-in", crl, "-CAfile", ca_pem, "-noout"}, dir.File(""));
  EXPECT_EQ(crl_check.code, 0) << crl_check.output;
  EXPECT_NE(crl_check.output.find("verify OK"), std::string::npos) << crl_check.output;
  // The key files are plain PKCS#8 PEM that openssl reads without a passphrase.
  EXPECT_EQ(
      RunProcess({"openssl", "pkey", "-in", unit.dir + "/key.pem", "-noout", "-passin", "pass:"},
                 dir.File(""))
          .code,
      0);

  Must(Revoke(ca, "unit-0001"));
  auto revoked = verify({"-crl_check", "-CRLfile", crl}, unit_cert);
  EXPECT_NE(revoked.code, 0) << revoked.output;
  EXPECT_NE(revoked.output.find("certificate revoked"), std::string::npos) << revoked.output;
  auto serials = RunProcess({"openssl", "crl", "-in", crl, "-noout", "-text"}, dir.File(""));
  std::string upper = unit.serial_hex;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  EXPECT_NE(serials.output.find(upper), std::string::npos) << serials.output;
  // The server certificate is unaffected.
  EXPECT_EQ(verify({"-crl_check", "-CRLfile", crl}, central_cert).code, 0);
}

}  // namespace
}  // namespace unitsync::pki
