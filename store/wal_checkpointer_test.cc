// WalCheckpointer (store/wal_checkpointer.h): a commit past wake_pages has the thread
// copy the WAL into the database file and the WAL starts over; past limit_pages the
// writer checkpoints itself; the writer's auto-checkpoint is replaced while it runs and
// back after Stop; a checkpoint that fails (a full disk) is reported, loses no commit,
// and the next one catches up.
#include "store/wal_checkpointer.h"

#include <gtest/gtest.h>

#include <chrono>
#include <climits>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "store/test_util.h"
#include "tests/small_fs.h"

namespace unitsync::store {
namespace {

using testing::TempDir;

constexpr int kPage = 4096;

Db OpenWal(const std::string& path) {
  auto db = Db::Open(path, /*create=*/true);
  if (!db) throw std::runtime_error(db.error().ToString());
  auto st = db->Exec(
      "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; "
      "CREATE TABLE IF NOT EXISTS t(id INTEGER PRIMARY KEY, b BLOB)");
  if (!st) throw std::runtime_error(st.error().ToString());
  return std::move(*db);
}

// One transaction of `rows` rows of about a page each.
Status WriteRows(Db& db, int rows) {
  return db.Exec("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < " +
                 std::to_string(rows) + ") INSERT INTO t(b) SELECT randomblob(3000) FROM n");
}

int64_t Rows(Db& db) { return db.QueryInt("SELECT count(*) FROM t").value_or(-1); }

uintmax_t SizeOf(const std::string& path) {
  std::error_code ec;
  const uintmax_t n = std::filesystem::file_size(path, ec);
  return ec ? 0 : n;
}

// Waits (up to 20 s, for slow sanitizer builds) until `done` holds.
template <typename F>
bool Eventually(F done) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

TEST(WalCheckpointer, ACommitPastWakePagesIsCopiedByTheThreadAndTheWalStartsOver) {
  TempDir dir;
  const std::string path = dir.File("a.db");
  Db db = OpenWal(path);
  auto ckpt = WalCheckpointer::Start(db, {.wake_pages = 64, .limit_pages = INT_MAX});
  US_ASSERT_OK(ckpt);

  US_ASSERT_OK(WriteRows(db, 10));  // below wake_pages: nothing happens
  EXPECT_EQ((*ckpt)->stats().passes, 0u);
  const uintmax_t db_before = SizeOf(path);

  US_ASSERT_OK(WriteRows(db, 100));
  ASSERT_TRUE(Eventually([&] { return (*ckpt)->stats().passes == 1; }))
      << "the thread never checkpointed";
  EXPECT_GE(SizeOf(path), db_before + 100 * 3000u) << "the rows were copied into the file";
  const uintmax_t wal_size = SizeOf(path + "-wal");

  // Every frame copied: the next transaction writes from the WAL's start again, so
  // the file does not grow for a transaction smaller than the last.
  US_ASSERT_OK(WriteRows(db, 30));
  EXPECT_EQ(SizeOf(path + "-wal"), wal_size) << "the WAL did not start over";
  EXPECT_EQ(Rows(db), 140);
  const WalCheckpointer::Stats s = (*ckpt)->stats();
  EXPECT_EQ(s.inline_passes, 0u);
  EXPECT_EQ(s.failures, 0u);
}

TEST(WalCheckpointer, PastLimitPagesTheWriterCheckpointsItselfAndTheWalStaysBounded) {
  TempDir dir;
  const std::string path = dir.File("b.db");
  Db db = OpenWal(path);
  // The thread is never woken: only the writer's own checkpoints bound the WAL.
  auto ckpt = WalCheckpointer::Start(db, {.wake_pages = INT_MAX, .limit_pages = 50});
  US_ASSERT_OK(ckpt);
  for (int i = 0; i < 6; ++i) US_ASSERT_OK(WriteRows(db, 80));
  const WalCheckpointer::Stats s = (*ckpt)->stats();
  EXPECT_EQ(s.inline_passes, 6u) << "each commit past the limit checkpointed";
  EXPECT_EQ(s.passes, 0u);
  EXPECT_LT(SizeOf(path + "-wal"), 2u * 80 * (kPage + 24)) << "about one transaction's pages";
  EXPECT_GE(SizeOf(path), 6u * 80 * 3000) << "every row is in the database file";
  EXPECT_EQ(Rows(db), 480);
}

TEST(WalCheckpointer, ItReplacesTheWritersAutoCheckpointUntilStopped) {
  TempDir dir;
  Db db = OpenWal(dir.File("c.db"));
  EXPECT_EQ(db.QueryInt("PRAGMA wal_autocheckpoint").value_or(-1), 1000) << "SQLite's default";
  auto ckpt = WalCheckpointer::Start(db, {});
  US_ASSERT_OK(ckpt);
  EXPECT_EQ(db.QueryInt("PRAGMA wal_autocheckpoint").value_or(-1), 0)
      << "SQLite's own hook is off while the checkpointer's runs";
  (*ckpt)->Stop();
  EXPECT_EQ(db.QueryInt("PRAGMA wal_autocheckpoint").value_or(-1), 1000);
  (*ckpt)->Stop();  // idempotent
  // The writer checkpoints as before: a commit past 1,000 pages copies them.
  const uintmax_t before = SizeOf(dir.File("c.db"));
  US_ASSERT_OK(WriteRows(db, 1100));
  EXPECT_GE(SizeOf(dir.File("c.db")), before + 1000u * 3000);
}

TEST(WalCheckpointer, AnInMemoryDatabaseHasNoWalToCheckpoint) {
  auto db = Db::Open(":memory:", true);
  US_ASSERT_OK(db);
  auto ckpt = WalCheckpointer::Start(*db, {});
  ASSERT_FALSE(ckpt);
  EXPECT_EQ(ckpt.error().code, Errc::kInvalidArgument);
}

// A full disk: the checkpoint cannot grow the database file. The commit stands (its
// pages are in the WAL), the failure is reported as SQLITE_FULL, and once there is room
// the next pass copies everything.
TEST(WalCheckpointer, ACheckpointOnAFullDiskIsReportedAndTheNextOneCatchesUp) {
  TempDir dir;
  const std::string mount = dir.File("fs");
  unitsync::testing::SmallFs fs;
  if (const std::string why = fs.Mount(mount, 4 << 20); !why.empty()) {
    GTEST_SKIP() << "no small filesystem here: " << why;
  }
  const std::string path = mount + "/d.db";
  Db db = OpenWal(path);
  std::vector<Error> failures;
  std::mutex mu;
  auto ckpt =
      WalCheckpointer::Start(db, {.wake_pages = 100, .limit_pages = INT_MAX}, [&](const Error& e) {
        std::lock_guard<std::mutex> lock(mu);
        failures.push_back(e);
      });
  US_ASSERT_OK(ckpt);
  // A first transaction makes the WAL file ~200 pages long; once copied, later
  // transactions reuse that space from its start without growing the file.
  US_ASSERT_OK(WriteRows(db, 200));
  ASSERT_TRUE(Eventually([&] { return (*ckpt)->stats().passes == 1; }));

  // Fill the rest of the filesystem.
  const std::string filler = mount + "/filler";
  {
    std::ofstream out(filler, std::ios::binary);
    const std::string block(64 * 1024, 'x');
    while (out.write(block.data(), block.size())) {
    }
  }
  US_ASSERT_OK(WriteRows(db, 150));  // fits in the WAL's old space: the commit succeeds
  ASSERT_TRUE(Eventually([&] { return (*ckpt)->stats().failures >= 1; }))
      << "the checkpoint into a full filesystem did not fail";
  {
    std::lock_guard<std::mutex> lock(mu);
    ASSERT_FALSE(failures.empty());
    EXPECT_EQ(failures.front().code, Errc::kDiskFull) << failures.front().ToString();
  }
  EXPECT_EQ(Rows(db), 350) << "the committed rows are all there (in the WAL)";

  std::filesystem::remove(filler);
  const uint64_t passes = (*ckpt)->stats().passes;
  US_ASSERT_OK(WriteRows(db, 5));  // the next commit wakes the thread again
  ASSERT_TRUE(Eventually([&] { return (*ckpt)->stats().passes > passes; }));
  (*ckpt)->Stop();
  db = Db();  // closes the writer: nothing is left only in the WAL that is not in the file
  Db reopened = OpenWal(path);
  EXPECT_EQ(Rows(reopened), 355);
  auto check = reopened.Prepare("PRAGMA integrity_check");
  US_ASSERT_OK(check);
  ASSERT_TRUE(check->Step().value_or(false));
  EXPECT_EQ(check->ColumnText(0), "ok");
}

}  // namespace
}  // namespace unitsync::store
