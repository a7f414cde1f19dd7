#include "protocol/sealed_file.h"

#include <gtest/gtest.h>

namespace unitsync::protocol {
namespace {

SealedFileHeader SampleHeader() {
  return {SealedFileKind::kBundle, "unit-1", "central", "b-0192a", 3};
}

TEST(SealedFileHeader, RoundTripsAndSaysHowLongItIs) {
  auto bytes = EncodeSealedFileHeader(SampleHeader());
  ASSERT_TRUE(bytes) << bytes.error().ToString();
  Bytes file = *bytes;
  file.push_back(0xAA);  // the first record's length starts here
  size_t consumed = 0;
  auto back = DecodeSealedFileHeader(file, consumed);
  ASSERT_TRUE(back) << back.error().ToString();
  EXPECT_EQ(*back, SampleHeader());
  EXPECT_EQ(consumed, bytes->size());
  EXPECT_LE(consumed, kMaxSealedFileHeader);
  EXPECT_EQ(std::string(file.begin(), file.begin() + 4), "USBN");
}

TEST(SealedFileHeader, RefusesOtherFilesAndDamage) {
  Bytes good = *EncodeSealedFileHeader(SampleHeader());
  size_t consumed = 0;
  Bytes text = {'S', 'Q', 'L', 'i', 't', 'e', ' ', 'f', 'o', 'r', 'm', 'a', 't'};
  EXPECT_EQ(DecodeSealedFileHeader(text, consumed).error().code, Errc::kMalformed);
  for (size_t cut = 0; cut < good.size(); ++cut) {
    Bytes shorter(good.begin(), good.begin() + static_cast<long>(cut));
    EXPECT_FALSE(DecodeSealedFileHeader(shorter, consumed)) << "cut at " << cut;
  }
  Bytes future = good;
  future[4] = 2;  // format version
  EXPECT_FALSE(DecodeSealedFileHeader(future, consumed));
  Bytes bad_id = good;
  bad_id[6] = '/';  // inside the origin id
  EXPECT_FALSE(DecodeSealedFileHeader(bad_id, consumed));
  SealedFileHeader none = SampleHeader();
  none.records = 0;
  EXPECT_EQ(EncodeSealedFileHeader(none).error().code, Errc::kInvalidArgument);
}

TEST(SealedFileHeader, BindsEveryFieldIntoTheRecordHeaders) {
  const SealedFileHeader file = SampleHeader();
  const EnvelopeHeader h = SealedRecordHeader(file, 1);
  EXPECT_EQ(h.kind, EnvelopeKind::kBundle);
  EXPECT_EQ(h.origin, "unit-1");
  EXPECT_EQ(h.destination, "central");
  EXPECT_EQ(h.seq_from, 1u);
  EXPECT_EQ(h.seq_to, 2u);
  EXPECT_EQ(h.stream, "b-0192a");
  SealedFileHeader backup = file;
  backup.kind = SealedFileKind::kBackup;
  EXPECT_EQ(SealedRecordHeader(backup, 0).kind, EnvelopeKind::kBackup);
}

TEST(BackupManifest, RoundTripsStrictly) {
  BackupManifest m{BackupRole::kCentral, "central", 1'763'900'000'000, 3, 1'234'567, 1 << 20};
  Bytes bytes = EncodeBackupManifest(m);
  auto back = DecodeBackupManifest(bytes);
  ASSERT_TRUE(back) << back.error().ToString();
  EXPECT_EQ(*back, m);
  Bytes trailing = bytes;
  trailing.push_back(0);
  EXPECT_EQ(DecodeBackupManifest(trailing).error().code, Errc::kMalformed);
  Bytes zero_chunks = EncodeBackupManifest({m.role, m.node_id, 1, 1, 1, 0});
  EXPECT_FALSE(DecodeBackupManifest(zero_chunks));
  Bytes bad_role = bytes;
  bad_role[1] = 7;
  EXPECT_FALSE(DecodeBackupManifest(bad_role));
}

TEST(BundleManifest, RoundTripsStrictly) {
  BundleManifest m;
  m.kind = BundleKind::kReply;
  m.created_ms = 42;
  m.applied = 17;
  m.pull = 900;
  m.generation = "g-0192";
  m.records = {{101, 250}, {251, 400}};
  Bytes bytes = EncodeBundleManifest(m);
  auto back = DecodeBundleManifest(bytes);
  ASSERT_TRUE(back) << back.error().ToString();
  EXPECT_EQ(*back, m);

  Bytes lying = bytes;
  lying[bytes.size() - 2 * 16 - 1] = 200;  // the record count claims 200 records
  EXPECT_EQ(DecodeBundleManifest(lying).error().code, Errc::kMalformed);
  BundleManifest backwards = m;
  backwards.records = {{9, 3}};
  EXPECT_FALSE(DecodeBundleManifest(EncodeBundleManifest(backwards)));
  for (size_t cut = 0; cut < bytes.size(); ++cut) {
    EXPECT_FALSE(DecodeBundleManifest(ByteView(bytes.data(), cut))) << "cut at " << cut;
  }
}

}  // namespace
}  // namespace unitsync::protocol
