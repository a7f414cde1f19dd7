// Keys and secrets never show up in an Error, whatever goes wrong around them.
#include "pki/bundle.h"
#include "pki/ca.h"
#include "pki/registry.h"
#include "pki/test_util.h"

namespace unitsync::pki {
namespace {

using testing::Must;
using testing::PemBodyLines;
using testing::ReadFile;
using testing::ScopedUmask;
using testing::TempDir;
using testing::WriteFile;

TEST(pki_secrecy, NoErrorMessageOrHintCarriesKeyOrSecretMaterial) {
  ScopedUmask umask(022);
  TempDir dir;
  const std::string ca = dir.File("ca");
  Must(InitCa(ca, "Test"));
  const IssuedBundle b = Must(EnrollUnit(ca, "unit-0001", dir.File("b")));
  const std::string secret = ReadFile(b.dir + "/secret");
  const std::string secret_hex = Must(SealingSecret::FromBytes(secret)).ToHex();
  std::vector<std::string> needles = {secret, secret_hex, secret_hex.substr(0, 16),
                                      secret_hex.substr(40)};
  for (const std::string& pem : {ReadFile(b.dir + "/key.pem"), ReadFile(ca + "/ca.key")}) {
    for (const std::string& line : PemBodyLines(pem)) needles.push_back(line.substr(0, 24));
  }

  std::vector<Error> errors;
  auto collect = [&](const auto& result) {
    if (!result) errors.push_back(result.error());
  };
  // Registration damaged in its secret: one digit made invalid, one removed.
  const std::string reg = ReadFile(b.registration_path);
  std::string bad_digit = reg;
  bad_digit[bad_digit.find(secret_hex) + 63] = 'z';
  WriteFile(b.registration_path, bad_digit);
  collect(LoadRegistrations(ca));
  std::string short_secret = reg;
  short_secret.erase(short_secret.find(secret_hex) + 10, 1);
  WriteFile(b.registration_path, short_secret);
  collect(LoadRegistrations(ca));
  std::string not_toml = reg;
  not_toml.insert(not_toml.find(secret_hex) + 20, "\"\n= ");
  WriteFile(b.registration_path, not_toml);
  collect(LoadRegistrations(ca));
  collect(ListEnrolled(ca));
  WriteFile(b.registration_path, reg);
  ASSERT_EQ(::chmod(b.registration_path.c_str(), 0644), 0);
  collect(LoadRegistrations(ca));
  ASSERT_EQ(::chmod(b.registration_path.c_str(), 0600), 0);

  // Bundle: open modes, a damaged key, a secret of the wrong size, mixed files.
  ASSERT_EQ(::chmod((b.dir + "/secret").c_str(), 0644), 0);
  collect(LoadBundle(b.dir));
  ASSERT_EQ(::chmod((b.dir + "/secret").c_str(), 0600), 0);
  WriteFile(b.dir + "/secret", secret + "x");
  collect(LoadBundle(b.dir));
  WriteFile(b.dir + "/secret", secret.substr(0, 20));
  collect(LoadBundle(b.dir));
  const std::string key = ReadFile(b.dir + "/key.pem");
  std::string damaged = key;
  damaged[damaged.size() / 2] = '!';
  WriteFile(b.dir + "/key.pem", damaged);
  collect(LoadBundle(b.dir));
  WriteFile(b.dir + "/key.pem", "-----BEGIN PRIVATE KEY-----\n" + key.substr(60, 40) + "\n");
  collect(LoadBundle(b.dir));

  // CA key damaged or exposed while issuing and revoking.
  const std::string ca_key = ReadFile(ca + "/ca.key");
  WriteFile(ca + "/ca.key", ca_key.substr(0, ca_key.size() / 2));
  collect(EnrollUnit(ca, "unit-0002", dir.File("c")));
  collect(Revoke(ca, "unit-0001"));
  WriteFile(ca + "/ca.key", ca_key);
  ASSERT_EQ(::chmod((ca + "/ca.key").c_str(), 0640), 0);
  collect(EnrollUnit(ca, "unit-0002", dir.File("c")));

  ASSERT_GE(errors.size(), 13u);
  for (const Error& e : errors) {
    const std::string text = e.ToString();
    for (const std::string& needle : needles) {
      ASSERT_FALSE(needle.empty());
      EXPECT_EQ(text.find(needle), std::string::npos) << "leak in: " << text;
    }
    EXPECT_FALSE(e.message.empty());
  }
}

}  // namespace
}  // namespace unitsync::pki
