#include "daemon/disk_usage.h"

#include <gtest/gtest.h>
#include <sys/statvfs.h>

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
  // Other processes write and delete on the same filesystem meanwhile (builds, other
  // tests): within 1 GiB of the two measurements taken around it.
  const double slack = 1024.0 * 1024 * 1024;
  const double got = static_cast<double>(usage->available_bytes);
  EXPECT_NEAR(got, static_cast<double>(before.f_bavail) * static_cast<double>(before.f_frsize),
              slack);
  EXPECT_NEAR(got, static_cast<double>(after.f_bavail) * static_cast<double>(after.f_frsize),
              slack);
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
