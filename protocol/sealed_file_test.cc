#include "protocol/sealed_file.h"

#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <utility>
#include <vector>

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

// A field changed alone round-trips to the changed value, not to the original: the
// encoding carries every field.
template <typename T, typename Encode, typename Decode>
void ExpectEveryFieldCarried(
    const T& base, Encode encode, Decode decode,
    const std::vector<std::pair<std::string, std::function<void(T&)>>>& changes) {
  auto back = decode(encode(base));
  ASSERT_TRUE(back);
  EXPECT_TRUE(*back == base);
  for (const auto& [field, change] : changes) {
    SCOPED_TRACE(field);
    T changed = base;
    change(changed);
    auto decoded = decode(encode(changed));
    ASSERT_TRUE(decoded) << decoded.error().ToString();
    EXPECT_TRUE(*decoded == changed);
    EXPECT_FALSE(*decoded == base) << "the change is not lost on the way";
  }
}

TEST(SealedFileHeader, EveryFieldIsCarried) {
  const auto encode = [](const SealedFileHeader& h) { return *EncodeSealedFileHeader(h); };
  const auto decode = [](const Bytes& b) {
    size_t consumed = 0;
    return DecodeSealedFileHeader(b, consumed);
  };
  ExpectEveryFieldCarried<SealedFileHeader>(
      SampleHeader(), encode, decode,
      {
          {"kind", [](SealedFileHeader& h) { h.kind = SealedFileKind::kBackup; }},
          {"origin", [](SealedFileHeader& h) { h.origin = "unit-2"; }},
          {"destination", [](SealedFileHeader& h) { h.destination = "central-b"; }},
          {"file_id", [](SealedFileHeader& h) { h.file_id = "b-0192b"; }},
          {"records", [](SealedFileHeader& h) { h.records = kMaxSealedRecords; }},
      });
}

TEST(SealedFileHeader, RefusesIdsThatAreNotIdsAndRecordCountsOutOfRange) {
  const std::vector<std::function<void(SealedFileHeader&)>> bad = {
      [](SealedFileHeader& h) { h.origin = ""; },
      [](SealedFileHeader& h) { h.origin = std::string(kMaxIdBytes + 1, 'u'); },
      [](SealedFileHeader& h) { h.destination = "central/1"; },
      [](SealedFileHeader& h) { h.file_id = ""; },
      [](SealedFileHeader& h) { h.records = kMaxSealedRecords + 1; },
  };
  for (size_t i = 0; i < bad.size(); ++i) {
    SealedFileHeader h = SampleHeader();
    bad[i](h);
    auto encoded = EncodeSealedFileHeader(h);
    ASSERT_FALSE(encoded) << "case " << i;
    EXPECT_EQ(encoded.error().code, Errc::kInvalidArgument) << "case " << i;
  }
  // A header whose record count was damaged to 0 or past the limit does not decode.
  Bytes good = *EncodeSealedFileHeader(SampleHeader());
  size_t consumed = 0;
  for (uint64_t records : {uint64_t{0}, kMaxSealedRecords + 1}) {
    Bytes damaged = good;
    for (int i = 0; i < 8; ++i) {
      damaged[damaged.size() - 1 - i] = static_cast<uint8_t>(records >> (8 * i));
    }
    auto decoded = DecodeSealedFileHeader(damaged, consumed);
    ASSERT_FALSE(decoded) << records;
    EXPECT_EQ(decoded.error().code, Errc::kMalformed);
  }
}

TEST(BackupManifest, EveryFieldIsCarriedAndEachRuleChecked) {
  const BackupManifest base{BackupRole::kUnit, "unit-1", 1'763'900'000'000, 3, 1'234'567, 1 << 20};
  ExpectEveryFieldCarried<BackupManifest>(
      base, EncodeBackupManifest, [](const Bytes& b) { return DecodeBackupManifest(b); },
      {
          {"role", [](BackupManifest& m) { m.role = BackupRole::kCentral; }},
          {"node_id", [](BackupManifest& m) { m.node_id = "unit-2"; }},
          {"created_ms", [](BackupManifest& m) { m.created_ms += 1; }},
          {"schema_version", [](BackupManifest& m) { m.schema_version = 4; }},
          {"database_bytes", [](BackupManifest& m) { m.database_bytes += 1; }},
          {"chunk_bytes",
           [](BackupManifest& m) { m.chunk_bytes = kMaxSealedRecord - kEnvelopeOverhead; }},
      });
  Bytes format = EncodeBackupManifest(base);
  format[0] = 2;
  EXPECT_EQ(DecodeBackupManifest(format).error().code, Errc::kMalformed) << "unknown format";
  BackupManifest too_big = base;
  too_big.chunk_bytes = kMaxSealedRecord - kEnvelopeOverhead + 1;
  EXPECT_FALSE(DecodeBackupManifest(EncodeBackupManifest(too_big))) << "chunk over a record";
}

TEST(BundleManifest, EveryFieldIsCarriedAndEachRuleChecked) {
  BundleManifest base;
  base.kind = BundleKind::kPushes;
  base.created_ms = 42;
  base.applied = 17;
  base.pull = 900;
  base.generation = "g-0192";
  base.records = {{18, 18}};
  ExpectEveryFieldCarried<BundleManifest>(
      base, EncodeBundleManifest, [](const Bytes& b) { return DecodeBundleManifest(b); },
      {
          {"kind", [](BundleManifest& m) { m.kind = BundleKind::kReply; }},
          {"created_ms", [](BundleManifest& m) { m.created_ms = 43; }},
          {"applied", [](BundleManifest& m) { m.applied = 18; }},
          {"pull", [](BundleManifest& m) { m.pull = 901; }},
          {"generation", [](BundleManifest& m) { m.generation = ""; }},
          {"records",
           [](BundleManifest& m) {
             m.records.push_back({19, 19});
           }},
          {"records.seq_from", [](BundleManifest& m) { m.records[0].seq_from = 17; }},
          {"records.seq_to", [](BundleManifest& m) { m.records[0].seq_to = 19; }},
      });
  const std::vector<std::pair<std::string, std::function<void(Bytes&)>>> damage = {
      {"format", [](Bytes& b) { b[0] = 2; }},
      {"kind", [](Bytes& b) { b[1] = 3; }},
  };
  for (const auto& [what, change] : damage) {
    Bytes b = EncodeBundleManifest(base);
    change(b);
    EXPECT_EQ(DecodeBundleManifest(b).error().code, Errc::kMalformed) << what;
  }
  const std::vector<std::pair<std::string, std::function<void(BundleManifest&)>>> bad = {
      {"generation not an id", [](BundleManifest& m) { m.generation = "g 1"; }},
      {"record seq 0",
       [](BundleManifest& m) {
         m.records = {{0, 1}};
       }},
      {"record past 2^63-1",
       [](BundleManifest& m) {
         m.records = {{1, kMaxSeq + 1}};
       }},
      {"applied past 2^63-1", [](BundleManifest& m) { m.applied = kMaxSeq + 1; }},
      {"pull past 2^63-1", [](BundleManifest& m) { m.pull = kMaxSeq + 1; }},
  };
  for (const auto& [what, change] : bad) {
    BundleManifest m = base;
    change(m);
    EXPECT_FALSE(DecodeBundleManifest(EncodeBundleManifest(m))) << what;
  }
}

}  // namespace
}  // namespace unitsync::protocol
