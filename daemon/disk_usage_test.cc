#include "daemon/disk_usage.h"

#include <gtest/gtest.h>
#include <sys/statvfs.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

namespace unitsync::daemon {
namespace {

class DiskUsageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "unitsync-disk-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  void Write(const std::string& name, size_t bytes) {
    std::ofstream(dir_ + "/" + name, std::ios::binary) << std::string(bytes, 'x');
  }
  std::string dir_;
};

TEST_F(DiskUsageTest, CountsTheReplicaAndItsWalAndShm) {
  Write("replica.db", 4096);
  Write("replica.db-wal", 1000);
  Write("replica.db-shm", 24);
  Write("other.db", 50'000);  // another file in the directory is not the replica's
  auto usage = MeasureDiskUsage(dir_ + "/replica.db");
  ASSERT_TRUE(usage) << usage.error().ToString();
  EXPECT_EQ(usage->replica_bytes, 4096u + 1000u + 24u);
}

TEST_F(DiskUsageTest, AMissingWalCountsZero) {
  Write("replica.db", 8192);
  auto usage = MeasureDiskUsage(dir_ + "/replica.db");
  ASSERT_TRUE(usage) << usage.error().ToString();
  EXPECT_EQ(usage->replica_bytes, 8192u);
}

TEST_F(DiskUsageTest, AvailableBytesAreTheFilesystemsAsStatvfsSeesThem) {
  Write("replica.db", 10);
  struct statvfs before {};
  ASSERT_EQ(statvfs(dir_.c_str(), &before), 0);
  auto usage = MeasureDiskUsage(dir_ + "/replica.db");
  struct statvfs after {};
  ASSERT_EQ(statvfs(dir_.c_str(), &after), 0);
  ASSERT_TRUE(usage) << usage.error().ToString();
  // Other processes write to the same filesystem meanwhile: the value lies between the
  // two measurements taken around it.
  const uint64_t a = uint64_t{before.f_bavail} * before.f_frsize;
  const uint64_t b = uint64_t{after.f_bavail} * after.f_frsize;
  EXPECT_GE(usage->available_bytes, std::min(a, b));
  EXPECT_LE(usage->available_bytes, std::max(a, b));
  EXPECT_GT(usage->available_bytes, 0u);
}

TEST_F(DiskUsageTest, AMissingDirectoryIsAnIoErrorNamingIt) {
  auto usage = MeasureDiskUsage(dir_ + "/gone/replica.db");
  ASSERT_FALSE(usage);
  EXPECT_EQ(usage.error().code, Errc::kIo);
  EXPECT_NE(usage.error().message.find(dir_ + "/gone"), std::string::npos) << usage.error().message;
}

}  // namespace
}  // namespace unitsync::daemon
