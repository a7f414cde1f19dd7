// StorageHealth, fed by the executors: a write refused for a full disk or an I/O error
// becomes the condition (counted, logged without row values), nothing is spooled, and the
// next write that succeeds clears it. The faults are injected with a SQLite VFS shim whose
// writes fail on demand (the multi-process test with a really full disk is
// tests/daemon_disk_full_test.cc).
#include "daemon/storage_health.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <array>
#include <atomic>
#include <cstdio>

#include "store/sync_state.h"
#include "store/test_util.h"

namespace unitsync::daemon {
namespace {

using store::testing::Exec;
using store::testing::MakeReplica;
using store::testing::TempDir;
using store::testing::ValueOrDie;

// ---- a VFS whose xWrite fails with `g_write_error` while it is not SQLITE_OK ----

std::atomic<int> g_write_error{SQLITE_OK};
sqlite3_vfs* g_real_vfs = nullptr;

struct ShimFile {
  sqlite3_file base;
  sqlite3_file* real;  // lives right after this struct, in the same allocation
};
sqlite3_file* Real(sqlite3_file* f) { return reinterpret_cast<ShimFile*>(f)->real; }
const sqlite3_io_methods* M(sqlite3_file* f) { return Real(f)->pMethods; }

const sqlite3_io_methods kShimMethods = {
    3,
    [](sqlite3_file* f) { return M(f)->xClose(Real(f)); },
    [](sqlite3_file* f, void* b, int n, sqlite3_int64 o) { return M(f)->xRead(Real(f), b, n, o); },
    [](sqlite3_file* f, const void* b, int n, sqlite3_int64 o) {
      const int fail = g_write_error.load();
      return fail != SQLITE_OK ? fail : M(f)->xWrite(Real(f), b, n, o);
    },
    [](sqlite3_file* f, sqlite3_int64 s) { return M(f)->xTruncate(Real(f), s); },
    [](sqlite3_file* f, int flags) { return M(f)->xSync(Real(f), flags); },
    [](sqlite3_file* f, sqlite3_int64* s) { return M(f)->xFileSize(Real(f), s); },
    [](sqlite3_file* f, int l) { return M(f)->xLock(Real(f), l); },
    [](sqlite3_file* f, int l) { return M(f)->xUnlock(Real(f), l); },
    [](sqlite3_file* f, int* r) { return M(f)->xCheckReservedLock(Real(f), r); },
    [](sqlite3_file* f, int op, void* a) { return M(f)->xFileControl(Real(f), op, a); },
    [](sqlite3_file* f) { return M(f)->xSectorSize(Real(f)); },
    [](sqlite3_file* f) { return M(f)->xDeviceCharacteristics(Real(f)); },
    [](sqlite3_file* f, int pg, int sz, int ext, void volatile** p) {
      return M(f)->xShmMap(Real(f), pg, sz, ext, p);
    },
    [](sqlite3_file* f, int o, int n, int flags) { return M(f)->xShmLock(Real(f), o, n, flags); },
    [](sqlite3_file* f) { M(f)->xShmBarrier(Real(f)); },
    [](sqlite3_file* f, int del) { return M(f)->xShmUnmap(Real(f), del); },
    [](sqlite3_file* f, sqlite3_int64 o, int n, void** p) {
      return M(f)->xFetch(Real(f), o, n, p);
    },
    [](sqlite3_file* f, sqlite3_int64 o, void* p) { return M(f)->xUnfetch(Real(f), o, p); },
};

int ShimOpen(sqlite3_vfs*, const char* name, sqlite3_file* f, int flags, int* out) {
  auto* shim = reinterpret_cast<ShimFile*>(f);
  shim->real = reinterpret_cast<sqlite3_file*>(shim + 1);
  const int rc = g_real_vfs->xOpen(g_real_vfs, name, shim->real, flags, out);
  shim->base.pMethods = shim->real->pMethods != nullptr ? &kShimMethods : nullptr;
  return rc;
}

// Installs the shim as the default VFS for the fixture's lifetime.
class FaultyDisk : public ::testing::TestWithParam<int> {
 protected:
  FaultyDisk() {
    g_real_vfs = sqlite3_vfs_find(nullptr);
    vfs_ = *g_real_vfs;
    vfs_.zName = "unitsync_fault_shim";
    vfs_.szOsFile = static_cast<int>(sizeof(ShimFile)) + g_real_vfs->szOsFile;
    vfs_.pNext = nullptr;
    vfs_.xOpen = ShimOpen;
    sqlite3_vfs_register(&vfs_, 1);
  }
  ~FaultyDisk() override {
    g_write_error = SQLITE_OK;
    unit_.reset();
    sqlite3_vfs_unregister(&vfs_);
    sqlite3_vfs_register(g_real_vfs, 1);
    if (log_file_ != nullptr) std::fclose(log_file_);
  }
  std::string LogText() {
    std::fflush(log_file_);
    std::rewind(log_file_);
    std::string out;
    for (int c; (c = std::fgetc(log_file_)) != EOF;) out.push_back(static_cast<char>(c));
    return out;
  }

  sqlite3_vfs vfs_{};
  TempDir dir_;
  std::optional<store::Replica> unit_;
  std::FILE* log_file_ = std::tmpfile();
};

TEST_P(FaultyDisk, RefusedWriteIsReportedNothingIsSpooledAndTheNextWriteClearsIt) {
  const bool disk_full = GetParam() == SQLITE_FULL;
  unit_.emplace(MakeReplica(dir_, "unit-0001", store::Role::kUnit));
  KeyRing keys;
  std::array<uint8_t, protocol::kUnitSecretSize> secret{};
  secret.fill(0x5a);  // TEST secret
  ASSERT_TRUE(keys.Add("unit-0001", secret, 1));
  Logger log(log_file_);
  StorageHealth health(unit_->path(), log);
  UnitExecutor exec(*unit_, "central", keys, ExecutorOptions{});
  exec.SetObserver(&health);
  Exec(*unit_,
       "INSERT INTO student(id, unit_id, pseudo_id, grade) "
       "VALUES ('s-1', 'unit-0001', 'Sensitive-Pseudo', '1')");

  g_write_error = GetParam();
  auto r = exec.Run(protocol::FetchPushes{0, 8});
  const auto& failed = std::get<protocol::PushesReady>(r);
  EXPECT_FALSE(failed.ok);
  EXPECT_TRUE(failed.entries.empty()) << "nothing is sent that was not spooled";
  StorageHealth::State s = health.state();
  EXPECT_EQ(s.condition, disk_full ? StorageCondition::kDiskFull : StorageCondition::kIo);
  EXPECT_EQ(disk_full ? s.disk_full_total : s.io_total, 1u);
  EXPECT_EQ(s.last_work, "fetch_pushes");
  EXPECT_GT(s.since_ms, 0);
  const nlohmann::json j = health.ToJson();
  EXPECT_EQ(j["condition"], disk_full ? "disk_full" : "io");
  EXPECT_EQ(j["database"], unit_->path());
  EXPECT_FALSE(j["hint"].get<std::string>().empty());

  g_write_error = SQLITE_OK;
  EXPECT_EQ(ValueOrDie(store::GetOutboxState(*unit_)).built_seq, 0)
      << "the refused build left nothing";
  auto again = exec.Run(protocol::FetchPushes{0, 8});
  const auto& ready = std::get<protocol::PushesReady>(again);
  ASSERT_TRUE(ready.ok) << ready.error;
  EXPECT_EQ(ready.entries.size(), 1u);
  s = health.state();
  EXPECT_EQ(s.condition, StorageCondition::kOk);
  EXPECT_EQ(s.recoveries, 1u);
  EXPECT_EQ(s.last_work, "fetch_pushes") << "the last problem is kept after recovery";

  const std::string text = LogText();
  EXPECT_NE(text.find(std::string("storage_fault kind=") + (disk_full ? "disk_full" : "io") +
                      " work=fetch_pushes"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("storage_recovered"), std::string::npos) << text;
  EXPECT_EQ(text.find("Sensitive-Pseudo"), std::string::npos) << "no row value in the log";
}

INSTANTIATE_TEST_SUITE_P(DiskFullAndIoError, FaultyDisk,
                         ::testing::Values(SQLITE_FULL, SQLITE_IOERR_WRITE),
                         [](const ::testing::TestParamInfo<int>& p) {
                           return std::string(p.param == SQLITE_FULL ? "DiskFull" : "IoError");
                         });

TEST(StorageHealth, OtherErrorsAreNotAboutStorage) {
  std::FILE* sink = std::tmpfile();
  Logger log(sink);
  StorageHealth health("/var/lib/unitsync/replica.db", log);
  health.Failed("apply_push", Error{Errc::kMalformed, "does not decode", ""});
  health.Failed("apply_push", Error{Errc::kBusy, "locked", ""});
  EXPECT_EQ(health.state().condition, StorageCondition::kOk);
  EXPECT_TRUE(health.ToJson()["last_error"].is_null());
  health.Failed("apply_push", Error{Errc::kIo, "disk I/O error", ""});
  health.Failed("apply_push", Error{Errc::kDiskFull, "database or disk is full", ""});
  EXPECT_EQ(health.state().condition, StorageCondition::kDiskFull) << "the latest kind counts";
  EXPECT_EQ(health.state().io_total, 1u);
  EXPECT_EQ(health.state().disk_full_total, 1u);
  std::fclose(sink);
}

}  // namespace
}  // namespace unitsync::daemon
