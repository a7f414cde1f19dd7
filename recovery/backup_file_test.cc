#include "recovery/backup_file.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "store/test_util.h"

namespace unitsync::recovery {
namespace {

using store::testing::TempDir;
using store::testing::ValueOrDie;

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}
void WriteAll(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}
bool Exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

protocol::ChangesetKey Key(uint8_t fill, uint32_t key_id = 1) {
  protocol::Bytes secret(protocol::kUnitSecretSize, fill);
  return ValueOrDie(protocol::DeriveChangesetKey(secret, key_id), "derive");
}

class BackupFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store::Replica r = store::testing::MakeReplica(dir_, "unit-1", store::Role::kUnit);
    // ~2.5 MiB of rows: three data chunks, so order and count are exercised.
    const std::string grade(8000, 'g');
    for (int i = 0; i < 320; ++i) {
      store::testing::Exec(r, "INSERT INTO student(id, unit_id, pseudo_id, grade) VALUES ('s" +
                                  std::to_string(i) + "', 'unit-1', 'needle-" + std::to_string(i) +
                                  "', '" + grade + "')");
    }
    digests_ = store::testing::Digests(r);
    db_ = r.path();
  }

  Result<BackupInfo> Backup(const std::string& out, const std::string& expect_node = "unit-1") {
    BackupRequest req;
    req.out_path = out;
    req.key = &key_;
    req.expect_node = expect_node;
    req.now_ms = 1'763'900'000'000;
    store::Replica r = ValueOrDie(store::Replica::Open(db_), "open");
    auto pin = store::PinStampedSnapshot(r);
    if (!pin) return tl::unexpected(pin.error());
    return WriteBackup(req, std::move(*pin));
  }
  KeyLookup Keys(const protocol::ChangesetKey& key) {
    return [&key](uint32_t id) -> Result<const protocol::ChangesetKey*> {
      if (id != key.key_id()) return Fail(Errc::kNotFound, "no key " + std::to_string(id));
      return &key;
    };
  }

  TempDir dir_;
  std::string db_;
  std::vector<store::TableDigest> digests_;
  protocol::ChangesetKey key_ = Key(7);
};

TEST_F(BackupFileTest, RestoresTheSameReplicaAndHoldsNoPlaintext) {
  const std::string out = dir_.File("unit-1.usbk");
  auto info = Backup(out);
  ASSERT_TRUE(info) << info.error().ToString();
  EXPECT_EQ(info->header.origin, "unit-1");
  EXPECT_EQ(info->header.records, 1u + 3u);
  EXPECT_EQ(info->manifest.role, protocol::BackupRole::kUnit);

  struct stat st {};
  ASSERT_EQ(::stat(out.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  const std::string bytes = ReadAll(out);
  EXPECT_EQ(bytes.find("needle-"), std::string::npos) << "row values must be encrypted";
  EXPECT_EQ(bytes.find("SQLite format"), std::string::npos);
  for (const auto& e :
       std::filesystem::directory_iterator(std::filesystem::path(db_).parent_path())) {
    EXPECT_EQ(e.path().filename().string().find(".unitsync-backup-"), std::string::npos)
        << "the plain intermediate copy is gone";
  }

  auto head = ReadBackupInfo(out, Keys(key_));
  ASSERT_TRUE(head) << head.error().ToString();
  EXPECT_EQ(head->manifest, info->manifest);

  const std::string restored = dir_.File("restored.db");
  auto done = UnsealBackup(out, Keys(key_), "unit-1", restored);
  ASSERT_TRUE(done) << done.error().ToString();
  store::Replica r = ValueOrDie(store::Replica::Open(restored), "open restored");
  EXPECT_EQ(r.node_id(), "unit-1");
  EXPECT_EQ(store::testing::Digests(r), digests_);
}

TEST_F(BackupFileTest, NeverOverwrites) {
  const std::string out = dir_.File("b.usbk");
  WriteAll(out, "precious");
  auto info = Backup(out);
  ASSERT_FALSE(info);
  EXPECT_EQ(info.error().code, Errc::kAlreadyExists);
  EXPECT_EQ(ReadAll(out), "precious");

  ASSERT_TRUE(Backup(dir_.File("ok.usbk")));
  const std::string existing = dir_.File("existing.db");
  WriteAll(existing, "precious");
  auto st = UnsealBackup(dir_.File("ok.usbk"), Keys(key_), "unit-1", existing);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, Errc::kAlreadyExists);
  EXPECT_EQ(ReadAll(existing), "precious");
}

TEST_F(BackupFileTest, RefusesToSealAnotherNodesReplica) {
  const std::string out = dir_.File("b.usbk");
  auto info = Backup(out, "unit-2");  // the key is unit-2's, the replica unit-1's
  ASSERT_FALSE(info);
  EXPECT_EQ(info.error().code, Errc::kWrongNode);
  EXPECT_FALSE(Exists(out));
}

TEST_F(BackupFileTest, RefusesAnotherNodesBackupAndAWrongKey) {
  const std::string out = dir_.File("b.usbk");
  ASSERT_TRUE(Backup(out));
  const std::string dest = dir_.File("restored.db");
  auto other = UnsealBackup(out, Keys(key_), "unit-2", dest);
  ASSERT_FALSE(other);
  EXPECT_EQ(other.error().code, Errc::kWrongNode);

  protocol::ChangesetKey wrong = Key(8);
  auto wrong_key = UnsealBackup(out, Keys(wrong), "unit-1", dest);
  ASSERT_FALSE(wrong_key);
  EXPECT_EQ(wrong_key.error().code, Errc::kCorrupt);
  EXPECT_FALSE(Exists(dest));

  protocol::ChangesetKey rotated = Key(7, 2);
  auto unknown_id = ReadBackupInfo(out, Keys(rotated));
  ASSERT_FALSE(unknown_id);
  EXPECT_EQ(unknown_id.error().code, Errc::kNotFound);
}

// Every kind of damage to the file: nothing is restored, and the error says so.
TEST_F(BackupFileTest, DamageIsFoundBeforeAnythingIsRestored) {
  const std::string out = dir_.File("b.usbk");
  ASSERT_TRUE(Backup(out));
  const std::string good = ReadAll(out);

  struct Case {
    const char* what;
    std::string bytes;
    Errc code;
  };
  std::string flipped = good;
  flipped[good.size() / 2] ^= 0x01;
  std::string truncated = good.substr(0, good.size() - 100);
  std::string appended = good + "x";
  std::string no_last_chunk, swapped;
  {
    // Find each record from the length prefixes; swap the first two data chunks (both
    // full-sized) and cut off the last one.
    const size_t full = 4 + protocol::kEnvelopeOverhead + kBackupChunkBytes;
    size_t consumed = 0;
    auto header = protocol::DecodeSealedFileHeader(
        protocol::ByteView(reinterpret_cast<const uint8_t*>(good.data()), good.size()), consumed);
    ASSERT_TRUE(header);
    std::vector<size_t> offsets;
    size_t pos = consumed;
    for (uint64_t i = 0; i < header->records; ++i) {
      offsets.push_back(pos);
      const auto* p = reinterpret_cast<const uint8_t*>(good.data() + pos);
      pos += 4 + ((size_t{p[0]} << 24) | (size_t{p[1]} << 16) | (size_t{p[2]} << 8) | p[3]);
    }
    ASSERT_EQ(pos, good.size());
    ASSERT_EQ(offsets[2] - offsets[1], full);
    swapped = good.substr(0, offsets[1]) + good.substr(offsets[2], full) +
              good.substr(offsets[1], full) + good.substr(offsets[3]);
    no_last_chunk = good.substr(0, offsets[3]);
  }
  std::string other_magic = good;
  other_magic[3] = 'N';  // claims to be a bundle
  const std::vector<Case> cases = {
      {"a flipped bit", flipped, Errc::kCorrupt},
      {"a truncated file", truncated, Errc::kCorrupt},
      {"a byte appended", appended, Errc::kCorrupt},
      {"the last chunk cut off", no_last_chunk, Errc::kCorrupt},
      {"two chunks swapped", swapped, Errc::kCorrupt},
      {"a bundle's magic", other_magic, Errc::kMalformed},
      {"not a backup at all", "SQLite format 3\0", Errc::kMalformed},
  };
  for (const Case& c : cases) {
    const std::string damaged = dir_.File("damaged.usbk");
    const std::string dest = dir_.File("restored.db");
    WriteAll(damaged, c.bytes);
    auto st = UnsealBackup(damaged, Keys(key_), "unit-1", dest);
    ASSERT_FALSE(st) << c.what;
    EXPECT_EQ(st.error().code, c.code) << c.what << ": " << st.error().ToString();
    EXPECT_FALSE(Exists(dest)) << c.what << ": nothing may be left behind";
    std::filesystem::remove(damaged);
  }
}

}  // namespace
}  // namespace unitsync::recovery
