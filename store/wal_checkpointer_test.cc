// WalCheckpointer (store/wal_checkpointer.h): a commit past wake_pages has the thread
// copy the WAL into the database file and the WAL starts over; past limit_pages the
// writer checkpoints itself; the writer's auto-checkpoint and journal_size_limit are
// replaced while it runs and back after Stop; a checkpoint that fails (a full disk) is
// reported once, loses no commit, is retried, and its recovery is reported; a writer
// committing without pause while the thread copies loses nothing.
#include "store/wal_checkpointer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <climits>
#include <filesystem>
#include <mutex>
#include <string>
#include <vector>

#include "store/test_util.h"
#include "tests/small_fs.h"

namespace unitsync::store {
namespace {

using testing::Eventually;
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

// What the checkpointer reported, from either thread.
class Reports final : public WalCheckpointer::Observer {
 public:
  void CheckpointFailed(const Error& e) noexcept override {
    std::lock_guard<std::mutex> lock(mu_);
    failures_.push_back(e);
  }
  void CheckpointRecovered() noexcept override {
    std::lock_guard<std::mutex> lock(mu_);
    ++recoveries_;
  }
  std::vector<Error> failures() const {
    std::lock_guard<std::mutex> lock(mu_);
    return failures_;
  }
  int recoveries() const {
    std::lock_guard<std::mutex> lock(mu_);
    return recoveries_;
  }

 private:
  mutable std::mutex mu_;
  std::vector<Error> failures_;
  int recoveries_ = 0;
};

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
  US_ASSERT_OK(db.Exec("PRAGMA journal_size_limit = 123456"));
  EXPECT_EQ(db.QueryInt("PRAGMA wal_autocheckpoint").value_or(-1), 1000) << "SQLite's default";
  auto ckpt = WalCheckpointer::Start(db, {.wake_pages = 100, .limit_pages = 500});
  US_ASSERT_OK(ckpt);
  EXPECT_EQ(db.QueryInt("PRAGMA wal_autocheckpoint").value_or(-1), 0)
      << "SQLite's own hook is off while the checkpointer's runs";
  EXPECT_EQ(db.QueryInt("PRAGMA journal_size_limit").value_or(-1), 500 * kPage);
  // Ours, not none: a commit past wake_pages is copied.
  US_ASSERT_OK(WriteRows(db, 150));
  ASSERT_TRUE(Eventually([&] { return (*ckpt)->stats().passes == 1; }));
  (*ckpt)->Stop();
  EXPECT_EQ(db.QueryInt("PRAGMA wal_autocheckpoint").value_or(-1), 1000);
  EXPECT_EQ(db.QueryInt("PRAGMA journal_size_limit").value_or(-1), 123456);
  (*ckpt)->Stop();  // idempotent
  // The writer checkpoints as before: a commit past 1,000 pages copies them.
  const uintmax_t before = SizeOf(dir.File("c.db"));
  US_ASSERT_OK(WriteRows(db, 1100));
  EXPECT_GE(SizeOf(dir.File("c.db")), before + 1000u * 3000);
  EXPECT_EQ((*ckpt)->stats().passes, 1u) << "the thread is gone";
}

TEST(WalCheckpointer, ItNeedsADatabaseFileInWalMode) {
  auto memory = Db::Open(":memory:", true);
  US_ASSERT_OK(memory);
  auto none = WalCheckpointer::Start(*memory, {});
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().code, Errc::kInvalidArgument);

  TempDir dir;
  auto rollback = Db::Open(dir.File("r.db"), true);
  US_ASSERT_OK(rollback);
  US_ASSERT_OK(rollback->Exec("CREATE TABLE t(x)"));
  auto refused = WalCheckpointer::Start(*rollback, {});
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, Errc::kInvalidArgument) << refused.error().ToString();
  EXPECT_EQ(rollback->QueryInt("PRAGMA wal_autocheckpoint").value_or(-1), 1000) << "unchanged";
}

// The writer commits without pause while the thread copies and the writer's own
// checkpoints bound the WAL; then a last large commit and Stop at once (interrupting a
// pass that may be under way). Nothing is lost, no checkpoint failed, the WAL stayed
// within a few limits (one pass's worth of writing may pass the limit), and the file
// holds every row once the writer closes. Under TSan this is the two threads at once.
TEST(WalCheckpointer, AWriterThatNeverPausesLosesNothingAndStopInterruptsAPass) {
  TempDir dir;
  const std::string path = dir.File("e.db");
  Db db = OpenWal(path);
  auto ckpt = WalCheckpointer::Start(db, {.wake_pages = 16, .limit_pages = 256});
  US_ASSERT_OK(ckpt);
  uintmax_t largest_wal = 0;
  for (int i = 0; i < 150; ++i) {
    US_ASSERT_OK(WriteRows(db, 12));
    largest_wal = std::max(largest_wal, SizeOf(path + "-wal"));
  }
  US_ASSERT_OK(WriteRows(db, 200));
  (*ckpt)->Stop();
  const WalCheckpointer::Stats s = (*ckpt)->stats();
  EXPECT_GT(s.passes + s.inline_passes + s.partial, 0u);
  EXPECT_EQ(s.failures, 0u);
  EXPECT_LT(largest_wal, 4u * 256 * (kPage + 24));
  EXPECT_EQ(Rows(db), 150 * 12 + 200);
  db = Db();  // the last connection: SQLite checkpoints the rest and removes the WAL
  Db reopened = OpenWal(path);
  EXPECT_EQ(Rows(reopened), 150 * 12 + 200);
}

// A full disk: the checkpoint cannot grow the database file. The commit stands (its
// pages are in the WAL), the failure is reported once as kDiskFull however often the
// thread retries, and once there is room a pass copies everything into the file and the
// recovery is reported.
TEST(WalCheckpointer, ACheckpointOnAFullDiskIsReportedRetriedAndRecovers) {
  TempDir dir;
  const std::string mount = dir.File("fs");
  unitsync::testing::SmallFs fs;
  if (const std::string why = fs.Mount(mount, 4 << 20); !why.empty()) {
    GTEST_SKIP() << "no small filesystem here: " << why;
  }
  const std::string path = mount + "/d.db";
  Db db = OpenWal(path);
  Reports reports;
  auto ckpt =
      WalCheckpointer::Start(db, {.wake_pages = 100, .limit_pages = INT_MAX / kPage}, &reports);
  US_ASSERT_OK(ckpt);
  // A first transaction makes the WAL file ~200 pages long; once copied, later
  // transactions reuse that space from its start without growing the file.
  US_ASSERT_OK(WriteRows(db, 200));
  ASSERT_TRUE(Eventually([&] { return (*ckpt)->stats().passes == 1; }));

  const std::string filler = mount + "/filler";
  ASSERT_GT(unitsync::testing::FillDisk(filler), 0u);
  US_ASSERT_OK(WriteRows(db, 150));  // fits in the WAL's old space: the commit succeeds
  ASSERT_TRUE(Eventually([&] { return !reports.failures().empty(); }))
      << "the checkpoint into a full filesystem did not fail";
  EXPECT_EQ(reports.failures().front().code, Errc::kDiskFull)
      << reports.failures().front().ToString();
  EXPECT_EQ(Rows(db), 350) << "the committed rows are all there (in the WAL)";
  EXPECT_EQ(reports.recoveries(), 0);

  std::filesystem::remove(filler);
  // The thread's retry (after 1 s, 2 s, ...) or the next commit's wake copies it all.
  ASSERT_TRUE(Eventually([&] { return reports.recoveries() == 1; })) << "no recovery";
  US_ASSERT_OK(WriteRows(db, 5));
  ASSERT_TRUE(Eventually([&] { return (*ckpt)->stats().passes >= 2; }));
  EXPECT_EQ(reports.failures().size(), 1u) << "a failure is reported when it begins";
  EXPECT_GE((*ckpt)->stats().failures, 1u);
  (*ckpt)->Stop();

  // The database file alone (no -wal) holds every row: the pass copied them.
  const std::string copy = dir.File("copy.db");
  std::filesystem::copy_file(path, copy);
  Db alone = OpenWal(copy);
  EXPECT_GE(Rows(alone), 350) << "the rows of the failed pass reached the file";
  auto check = alone.Prepare("PRAGMA integrity_check");
  US_ASSERT_OK(check);
  ASSERT_TRUE(check->Step().value_or(false));
  EXPECT_EQ(check->ColumnText(0), "ok");
}

}  // namespace
}  // namespace unitsync::store
