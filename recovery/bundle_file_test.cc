// Offline bundle files: what is written reads back only where it is meant to go, and any
// changed, missing or added byte makes the whole file refused before anything is used.
#include "recovery/bundle_file.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>
#include <iterator>

#include "recovery/sealed_io.h"
#include "store/test_util.h"

namespace unitsync::recovery {
namespace {

using protocol::BundleKind;
using store::testing::TempDir;
using store::testing::ValueOrDie;

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}
void WriteAll(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

protocol::ChangesetKey Key(uint8_t fill, uint32_t key_id = 1) {
  protocol::Bytes secret(protocol::kUnitSecretSize, fill);
  return ValueOrDie(protocol::DeriveChangesetKey(secret, key_id), "derive");
}

protocol::Bytes Text(const std::string& s) { return protocol::Bytes(s.begin(), s.end()); }

class BundleFileTest : public ::testing::Test {
 protected:
  // Envelopes sealed as the wire seals them: PUSH seq n from unit-1 to central, or
  // CHANGES from..to from central to unit-1 under generation g-1.
  protocol::Bytes Push(uint64_t seq) {
    protocol::EnvelopeHeader h;
    h.kind = protocol::EnvelopeKind::kPush;
    h.origin = "unit-1";
    h.destination = "central";
    h.seq_from = h.seq_to = seq;
    return ValueOrDie(protocol::SealChangeset(key_, h, Text("needle-push-" + std::to_string(seq))));
  }
  protocol::Bytes Changes(uint64_t from, uint64_t to) {
    protocol::EnvelopeHeader h;
    h.kind = protocol::EnvelopeKind::kChanges;
    h.origin = "central";
    h.destination = "unit-1";
    h.seq_from = from;
    h.seq_to = to;
    h.stream = "g-1";
    return ValueOrDie(protocol::SealChangeset(key_, h, Text("needle-changes")));
  }

  BundleToWrite Pushes(const std::string& out, std::vector<uint64_t> seqs) {
    BundleToWrite b;
    b.out_path = out;
    b.origin = "unit-1";
    b.destination = "central";
    b.key = &key_;
    b.manifest = {BundleKind::kPushes, 1'763'900'000'000, 3, 17, "g-1", {}};
    for (uint64_t s : seqs) {
      b.manifest.records.push_back({s, s});
      b.envelopes.push_back(Push(s));
    }
    return b;
  }

  UnitKeyLookup Keys() {
    return [this](const std::string& unit, uint32_t id) -> Result<const protocol::ChangesetKey*> {
      if (unit != "unit-1" || id != key_.key_id()) return Fail(Errc::kNotFound, "no such key");
      return &key_;
    };
  }
  Result<Bundle> ReadAtCentral(const std::string& path) {
    return ReadBundle(path, "central", "", BundleKind::kPushes, Keys());
  }

  TempDir dir_;
  protocol::ChangesetKey key_ = Key(7);
};

TEST_F(BundleFileTest, PushesRoundTripAsSealedForTheWire) {
  const std::string out = dir_.File("unit-1.usbn");
  auto b = Pushes(out, {4, 5, 6});
  auto written = WriteBundle(b);
  ASSERT_TRUE(written) << written.error().ToString();
  EXPECT_EQ(written->header.records, 4u);
  EXPECT_EQ(written->header.file_id.rfind("bn-", 0), 0u);

  struct stat st {};
  ASSERT_EQ(::stat(out.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(ReadAll(out).find("needle"), std::string::npos) << "plaintext in the file";

  auto read = ReadAtCentral(out);
  ASSERT_TRUE(read) << read.error().ToString();
  EXPECT_EQ(read->info.header, written->header);
  EXPECT_EQ(read->info.manifest, b.manifest);
  EXPECT_EQ(read->envelopes, b.envelopes) << "the wire's bytes, not sealed again";
}

TEST_F(BundleFileTest, ReplyRoundTripsAndMustComeFromCentral) {
  const std::string out = dir_.File("reply.usbn");
  BundleToWrite b;
  b.out_path = out;
  b.origin = "central";
  b.destination = "unit-1";
  b.key = &key_;
  b.manifest = {BundleKind::kReply, 1, 6, 40, "g-1", {{1, 10}, {11, 40}}};
  b.envelopes = {Changes(1, 10), Changes(11, 40)};
  ASSERT_TRUE(WriteBundle(b));

  auto read = ReadBundle(out, "unit-1", "central", BundleKind::kReply, Keys());
  ASSERT_TRUE(read) << read.error().ToString();
  EXPECT_EQ(read->info.manifest, b.manifest);
  EXPECT_EQ(read->envelopes, b.envelopes);

  auto other_central = ReadBundle(out, "unit-1", "central-2", BundleKind::kReply, Keys());
  ASSERT_FALSE(other_central);
  EXPECT_EQ(other_central.error().code, Errc::kWrongNode);
}

TEST_F(BundleFileTest, EmptyBundleCarriesTheCursors) {
  const std::string out = dir_.File("empty.usbn");
  ASSERT_TRUE(WriteBundle(Pushes(out, {})));
  auto read = ReadAtCentral(out);
  ASSERT_TRUE(read) << read.error().ToString();
  EXPECT_TRUE(read->envelopes.empty());
  EXPECT_EQ(read->info.manifest.pull, 17u);
  EXPECT_EQ(read->info.manifest.generation, "g-1");
}

TEST_F(BundleFileTest, ABundleForAnotherNodeIsRefusedByName) {
  const std::string out = dir_.File("unit-1.usbn");
  ASSERT_TRUE(WriteBundle(Pushes(out, {1})));
  auto r = ReadBundle(out, "central-2", "", BundleKind::kPushes, Keys());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kWrongNode);
  EXPECT_NE(r.error().message.find("from unit-1 for central; this replica is central-2's"),
            std::string::npos)
      << r.error().message;
  // A unit handed its own pushes back: they are for central.
  auto at_unit = ReadBundle(out, "unit-1", "central", BundleKind::kReply, Keys());
  ASSERT_FALSE(at_unit);
  EXPECT_EQ(at_unit.error().code, Errc::kWrongNode);
}

TEST_F(BundleFileTest, ABundleFromAnUnknownUnitNamesIt) {
  const std::string out = dir_.File("unit-1.usbn");
  auto b = Pushes(out, {1});
  b.origin = "unit-9";
  ASSERT_TRUE(WriteBundle(b));
  auto r = ReadAtCentral(out);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kNotFound);
}

// Every single byte of the file matters: flipping any bit of it (header, manifest,
// lengths, envelopes) makes the whole bundle refused, and nothing is returned.
TEST_F(BundleFileTest, EveryChangedByteIsRefused) {
  const std::string out = dir_.File("unit-1.usbn");
  ASSERT_TRUE(WriteBundle(Pushes(out, {4, 5})));
  const std::string good = ReadAll(out);
  size_t header_bytes = 0;
  ASSERT_TRUE(protocol::DecodeSealedFileHeader(
      protocol::ByteView(reinterpret_cast<const uint8_t*>(good.data()), good.size()),
      header_bytes));
  const std::string bad = dir_.File("bad.usbn");
  for (size_t i = 0; i < good.size(); ++i) {
    std::string bytes = good;
    bytes[i] = static_cast<char>(bytes[i] ^ 0x04);
    WriteAll(bad, bytes);
    auto r = ReadAtCentral(bad);
    ASSERT_FALSE(r) << "byte " << i << " changed and the bundle still read";
    if (i >= header_bytes) {
      // Past the plain header: lengths and envelopes. A changed key id names a key that
      // is not there; everything else fails authentication or framing.
      EXPECT_TRUE(r.error().code == Errc::kCorrupt || r.error().code == Errc::kNotFound)
          << "byte " << i << ": " << r.error().ToString();
    }
  }
}

TEST_F(BundleFileTest, TruncatedOrExtendedFilesAreRefused) {
  const std::string out = dir_.File("unit-1.usbn");
  ASSERT_TRUE(WriteBundle(Pushes(out, {4, 5})));
  const std::string good = ReadAll(out);
  const std::string bad = dir_.File("bad.usbn");
  for (size_t n = 0; n < good.size(); ++n) {
    WriteAll(bad, good.substr(0, n));
    auto r = ReadAtCentral(bad);
    ASSERT_FALSE(r) << "cut to " << n << " bytes and still read";
  }
  WriteAll(bad, good + "x");
  auto extended = ReadAtCentral(bad);
  ASSERT_FALSE(extended);
  EXPECT_EQ(extended.error().code, Errc::kCorrupt);
}

// Records moved between two bundles of the same unit (same key, same seqs) do not open:
// each is bound to its own file by the manifest's file id and count.
TEST_F(BundleFileTest, ManifestsAreNotInterchangeable) {
  const std::string a = dir_.File("a.usbn");
  const std::string b = dir_.File("b.usbn");
  ASSERT_TRUE(WriteBundle(Pushes(a, {4})));
  ASSERT_TRUE(WriteBundle(Pushes(b, {4})));
  const std::string bytes_a = ReadAll(a);
  const std::string bytes_b = ReadAll(b);
  size_t header_bytes = 0;
  ASSERT_TRUE(protocol::DecodeSealedFileHeader(
      protocol::ByteView(reinterpret_cast<const uint8_t*>(bytes_a.data()), bytes_a.size()),
      header_bytes));
  // a's header with b's records.
  WriteAll(dir_.File("spliced.usbn"),
           bytes_a.substr(0, header_bytes) + bytes_b.substr(header_bytes));
  auto r = ReadAtCentral(dir_.File("spliced.usbn"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kCorrupt);
}

TEST_F(BundleFileTest, ABackupIsNotABundle) {
  const std::string out = dir_.File("backup.usbk");
  protocol::SealedFileHeader h{protocol::SealedFileKind::kBackup, "unit-1", "unit-1", "bk-1", 1};
  auto w = ValueOrDie(SealedFileWriter::Create(out, h));
  ASSERT_TRUE(w.AppendSealed(key_, Text("manifest")));
  ASSERT_TRUE(w.Commit());
  auto r = ReadBundle(out, "unit-1", "", BundleKind::kReply, Keys());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kMalformed);
  EXPECT_NE(r.error().message.find("is a backup"), std::string::npos) << r.error().message;
}

TEST_F(BundleFileTest, NothingIsOverwrittenAndBadManifestsAreNotWritten) {
  const std::string out = dir_.File("unit-1.usbn");
  WriteAll(out, "precious");
  auto exists = WriteBundle(Pushes(out, {1}));
  ASSERT_FALSE(exists);
  EXPECT_EQ(exists.error().code, Errc::kAlreadyExists);
  EXPECT_EQ(ReadAll(out), "precious");

  const std::string gap = dir_.File("gap.usbn");
  auto b = Pushes(gap, {1, 3});
  auto r = WriteBundle(b);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kInvalidArgument);
  struct stat st {};
  EXPECT_NE(::stat(gap.c_str(), &st), 0);
  EXPECT_NE(::stat((gap + ".partial").c_str(), &st), 0);
}

}  // namespace
}  // namespace unitsync::recovery
