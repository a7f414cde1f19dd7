// LoadBundle: what unitsyncd calls at start. It must hand back exactly what
// enrollment wrote and refuse anything a daemon should not run with.
#include "pki/bundle.h"

#include <filesystem>

#include "pki/ca.h"
#include "pki/test_util.h"

namespace unitsync::pki {
namespace {

using testing::ModeOf;
using testing::Must;
using testing::ReadFile;
using testing::ScopedUmask;
using testing::TempDir;
using testing::WriteFile;

class BundleFixture : public ::testing::Test {
 protected:
  BundleFixture() : umask_(022) {
    Must(InitCa(dir_.File("ca"), "Test"), "init");
    unit_ = Must(EnrollUnit(dir_.File("ca"), "unit-0007", dir_.File("unit")), "enroll");
  }

  // Copies a file replacing the destination, keeping the destination's mode.
  static void Replace(const std::string& from, const std::string& to) {
    WriteFile(to, ReadFile(from));
  }

  ScopedUmask umask_;
  TempDir dir_;
  IssuedBundle unit_;
};

using pki_bundle = BundleFixture;

TEST_F(pki_bundle, LoadBundleReturnsWhatEnrollmentWrote) {
  const Bundle b = Must(LoadBundle(unit_.dir));
  EXPECT_EQ(b.node_id, "unit-0007");
  EXPECT_EQ(b.role, NodeRole::kUnit);
  EXPECT_EQ(b.cert_path, unit_.dir + "/cert.pem");
  EXPECT_EQ(b.key_path, unit_.dir + "/key.pem");
  EXPECT_EQ(b.ca_path, unit_.dir + "/ca.pem");
  EXPECT_EQ(b.serial_hex, unit_.serial_hex);
  EXPECT_EQ(b.not_after, unit_.not_after);
  ASSERT_TRUE(b.sealing.has_value());
  EXPECT_EQ(b.sealing->key_id, kFirstKeyId);
  EXPECT_EQ(b.sealing->secret.view(), ReadFile(unit_.dir + "/secret"));
  // The same secret central holds for this unit: both derive the same keys.
  const Registry registry = Must(LoadRegistrations(dir_.File("ca")));
  EXPECT_TRUE(registry.Find("unit-0007")->keys.back().secret == b.sealing->secret);
  const std::string toml = ReadFile(unit_.dir + "/bundle.toml");
  EXPECT_NE(toml.find("role = \"unit\""), std::string::npos) << toml;
  EXPECT_NE(toml.find("key_id = 1"), std::string::npos) << toml;
}

// Central's secret seals its backups; it is its own, not any unit's.
TEST_F(pki_bundle, CentralsBundleHasItsOwnBackupSecret) {
  const IssuedBundle central =
      Must(IssueServer(dir_.File("ca"), "central", {"central.example.org"}, dir_.File("central")));
  const Bundle b = Must(LoadBundle(central.dir));
  EXPECT_EQ(b.role, NodeRole::kCentral);
  EXPECT_EQ(b.node_id, "central");
  ASSERT_TRUE(b.sealing.has_value());
  EXPECT_EQ(ModeOf(central.dir + "/secret"), 0600);
  EXPECT_EQ(b.sealing->secret.view(), ReadFile(central.dir + "/secret"));
  EXPECT_EQ(Must(LoadRegistrations(dir_.File("ca"))).Find("central"), nullptr)
      << "central's secret is not registered like a unit's";
}

// A central bundle issued before central had a secret still loads (and cannot seal
// backups, which says so where it matters).
TEST_F(pki_bundle, CentralsOlderBundleWithoutSecretStillLoads) {
  const IssuedBundle central =
      Must(IssueServer(dir_.File("ca"), "central", {"central.example.org"}, dir_.File("central")));
  const std::string toml_path = central.dir + "/bundle.toml";
  std::string toml = ReadFile(toml_path);
  for (const char* line : {"secret = \"secret\"\n", "key_id = 1\n"}) {
    const size_t at = toml.find(line);
    ASSERT_NE(at, std::string::npos) << toml;
    toml.erase(at, std::string(line).size());
  }
  std::ofstream(toml_path, std::ios::trunc) << toml;
  const Bundle b = Must(LoadBundle(central.dir));
  EXPECT_FALSE(b.sealing.has_value());
}

TEST_F(pki_bundle, AKeyOrSecretOthersCanReadIsRefused) {
  for (const char* file : {"key.pem", "secret"}) {
    for (const mode_t mode : {0644, 0640, 0604, 0660}) {
      const std::string path = unit_.dir + "/" + file;
      ASSERT_EQ(::chmod(path.c_str(), mode), 0);
      auto r = LoadBundle(unit_.dir);
      ASSERT_FALSE(r) << file << " " << std::oct << mode;
      EXPECT_EQ(r.error().code, Errc::kRejected);
      EXPECT_NE(r.error().hint.find("chmod 600 " + path), std::string::npos) << r.error().hint;
      ASSERT_EQ(::chmod(path.c_str(), 0600), 0);
    }
  }
  ASSERT_EQ(::chmod((unit_.dir + "/key.pem").c_str(), 0400), 0);  // Stricter is fine.
  EXPECT_TRUE(LoadBundle(unit_.dir));
}

TEST_F(pki_bundle, FilesFromDifferentEnrollmentsAreRefused) {
  const IssuedBundle other =
      Must(EnrollUnit(dir_.File("ca"), "unit-0008", dir_.File("other")), "enroll other");
  Must(InitCa(dir_.File("ca2"), "Other"));
  {
    // Another unit's certificate with this unit's key.
    Replace(other.dir + "/cert.pem", unit_.dir + "/cert.pem");
    auto r = LoadBundle(unit_.dir);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, Errc::kRejected) << r.error().ToString();
  }
  {
    // Another unit's certificate and key under this unit's bundle.toml.
    Replace(other.dir + "/key.pem", unit_.dir + "/key.pem");
    auto r = LoadBundle(unit_.dir);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, Errc::kRejected);
    EXPECT_NE(r.error().message.find("unit-0008"), std::string::npos) << r.error().message;
  }
  {
    // Another deployment's CA.
    Replace(dir_.File("ca2") + "/ca.pem", other.dir + "/ca.pem");
    auto r = LoadBundle(other.dir);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, Errc::kRejected);
  }
}

TEST_F(pki_bundle, DamagedOrMissingFilesAreReported) {
  EXPECT_EQ(LoadBundle(dir_.File("nowhere")).error().code, Errc::kNotFound);
  const std::string secret = unit_.dir + "/secret";
  WriteFile(secret, ReadFile(secret).substr(0, 31));
  EXPECT_EQ(LoadBundle(unit_.dir).error().code, Errc::kCorrupt);
  WriteFile(secret, std::string(33, 'x'));
  EXPECT_EQ(LoadBundle(unit_.dir).error().code, Errc::kCorrupt);

  const std::string toml = unit_.dir + "/bundle.toml";
  const std::string good = ReadFile(toml);
  WriteFile(toml, "node_id = \n");
  EXPECT_EQ(LoadBundle(unit_.dir).error().code, Errc::kCorrupt);
  // A bundle.toml cannot point outside the bundle.
  std::string escape = good;
  escape.replace(escape.find("\"key.pem\""), 9, "\"../../etc/key.pem\"");
  WriteFile(toml, escape);
  EXPECT_EQ(LoadBundle(unit_.dir).error().code, Errc::kCorrupt);
  std::filesystem::remove(unit_.dir + "/cert.pem");
  WriteFile(toml, good);
  EXPECT_EQ(LoadBundle(unit_.dir).error().code, Errc::kNotFound);
}

}  // namespace
}  // namespace unitsync::pki
