// Backup and restore of a large unit replica with unitsyncctl, against `sqlite3 .backup`
// of the same file in the same run.
//
// A unit replica (unit-0001; enrolled and created with unitsyncctl like every replica of
// the daemon benchmarks) is filled once per run to --mb MiB with support_action rows of
// bench/support_rows.h (batches of 20,000 rows, each with its 250 students and cases,
// inserted through the replica's capture triggers, 5,000 rows per transaction, then
// stamped: every row has its per-column clock as on a real unit; the change log is not
// trimmed, as on a unit whose writes central has not acknowledged yet), then checkpointed.
// Then, --reps times each:
//
//   backup   `unitsyncctl backup --out F` while the unit's unitsyncd runs (online, as an
//            admin or the backup schedule takes it; central is not running: the unit is
//            offline, which changes nothing for a backup) vs `sqlite3 REPLICA ".backup P"`
//            right before (odd repetitions) or after (even ones).
//   restore  with unitsyncd stopped: `unitsyncctl restore F --force` (unseal, verify,
//            PRAGMA integrity_check, swap; the replica set aside is deleted after each
//            repetition) vs `sqlite3 REPLICA ".backup P"` right before or after, as above.
//
// Once, for the reading of the restore figure: `sqlite3 -readonly REPLICA "PRAGMA
// integrity_check"` (info.integrity_check_seconds), the check restore runs before it
// replaces anything.
//
// MB/s = the replica's size in bytes / 10^6 / seconds, for both sides. ratio = sqlite3
// seconds / unitsync seconds (unitsync's MB/s as a fraction of sqlite3's), paired per
// repetition. Output: key=value lines, each repetition's after "rep=N", read by
// scripts/bench. Everything runs in --work (default: a temp dir, removed at the end);
// it needs about 5 × --mb of free space.
//
// Usage: backup_bench [--mb=1024] [--reps=3] [--bin=DIR] [--work=DIR] [--sqlite3=PATH]
#include <CLI/CLI.hpp>
#include <cstdio>
#include <functional>
#include <iostream>
#include <string>

#include "bench/bench_try.h"
#include "bench/deployment.h"
#include "bench/proc_stats.h"
#include "bench/process.h"
#include "bench/recovery_util.h"
#include "bench/support_db.h"
#include "bench/support_rows.h"
#include "store/change_log.h"
#include "store/replica.h"

namespace unitsync::bench {
namespace {

constexpr const char* kUnit = "unit-0001";
constexpr size_t kBatchRows = 20'000;
constexpr size_t kRowsPerTx = 5'000;
constexpr size_t kCases = 250;
constexpr auto kStartTimeout = std::chrono::seconds(600);

struct Options {
  int64_t mb = 1024;
  int reps = 3;
  std::string bin = OwnBinDir();
  std::string work;
  std::string sqlite3;
};

Result<int64_t> QueryOne(store::Db& db, const std::string& sql) {
  auto q = db.Prepare(sql);
  if (!q) return tl::unexpected(q.error());
  auto row = q->Step();
  if (!row) return tl::unexpected(row.error());
  return *row ? q->ColumnInt(0) : 0;
}

// Fills the unit's replica to `mb` MiB; prints gen.* lines.
Status Generate(const std::string& db_path, int64_t mb) {
  auto replica = store::Replica::Open(db_path);
  if (!replica) return tl::unexpected(replica.error());
  store::Db& db = replica->db();
  const int64_t first_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                               std::chrono::system_clock::now().time_since_epoch())
                               .count();
  const auto t0 = Clock::now();
  int64_t rows = 0;
  for (uint64_t batch = 0;; ++batch) {
    auto pages = QueryOne(db, "PRAGMA page_count");
    auto page_size = QueryOne(db, "PRAGMA page_size");
    if (!pages || !page_size) return Fail(Errc::kInternal, "cannot read the replica's size");
    if (*pages * *page_size >= mb * 1024 * 1024) break;
    if (StopRequested()) return Fail(Errc::kInternal, "interrupted");
    const SupportData data =
        MakeSupportData(kBatchRows, kCases, kUnit,
                        first_ms + static_cast<int64_t>(batch * kBatchRows / 4), batch + 1);
    BENCH_TRY(InsertParents(db, data));
    BENCH_TRY(InsertActions(db, data.actions, kRowsPerTx));
    BENCH_TRY(store::StampPendingChangesNow(*replica));
    rows += static_cast<int64_t>(kBatchRows);
  }
  BENCH_TRY(db.Exec("PRAGMA wal_checkpoint(TRUNCATE)"));
  std::printf("gen.support_action_rows=%lld\ngen.seconds=%.1f\n", static_cast<long long>(rows),
              Seconds(Clock::now() - t0));
  return {};
}

// `unitsync` and `sqlite` run in turn, sqlite3 first in odd repetitions.
struct Pair {
  double unitsync_s = 0;
  double sqlite_s = 0;
};
Result<Pair> Paired(int rep, const std::function<Result<double>()>& unitsync,
                    const std::function<Result<double>()>& sqlite) {
  Pair p;
  for (int i = 0; i < 2; ++i) {
    const bool sqlite_now = (i == 0) == (rep % 2 == 1);
    auto s = sqlite_now ? sqlite() : unitsync();
    if (!s) return tl::unexpected(s.error());
    (sqlite_now ? p.sqlite_s : p.unitsync_s) = *s;
  }
  return p;
}

void Print(const char* what, int rep, double mb, const Pair& p) {
  std::printf("rep=%d\n%s.seconds=%.3f\n%s.mb_per_s=%.1f\n", rep, what, p.unitsync_s, what,
              mb / p.unitsync_s);
  std::printf("%s.sqlite_seconds=%.3f\n%s.sqlite_mb_per_s=%.1f\n%s.ratio=%.3f\nload=%s\n", what,
              p.sqlite_s, what, mb / p.sqlite_s, what, p.sqlite_s / p.unitsync_s,
              LoadAverage().c_str());
  std::fflush(stdout);
}

Status Run(const Options& opt, const WorkDir& work) {
  Deployment d(opt.bin, work.path(), FreePort());
  BENCH_TRY(d.AddCentral());  // the CA the unit is enrolled with; central is not started
  BENCH_TRY(d.AddUnit(kUnit));
  BENCH_TRY(Generate(d.Db(kUnit), opt.mb));
  const std::string db = d.Db(kUnit);
  const double mb = static_cast<double>(FileBytes(db)) / 1e6;
  std::printf("db_bytes=%lld\nreps=%d\n", static_cast<long long>(FileBytes(db)), opt.reps);

  const std::string ctl = d.bin_dir() + "/unitsyncctl";
  const std::string config = d.Dir(kUnit) + "/unitsyncd.toml";
  const std::string out = d.Dir(kUnit) + "/unitsyncctl.out";
  const std::string plain = work.path() + "/plain-copy.db";
  const std::string backup = work.path() + "/unit.usbk";
  auto sqlite_backup = [&]() -> Result<double> {
    RemoveFilesStartingWith(work.path(), "plain-copy.db");
    auto s = TimeTool({opt.sqlite3, db, ".backup " + plain});
    RemoveFilesStartingWith(work.path(), "plain-copy.db");
    return s;
  };

  {
    auto unit = d.Start(kUnit);
    if (!unit) return tl::unexpected(unit.error());
    BENCH_TRY(WaitForLog(d.Log(kUnit), "event=started", 1, kStartTimeout));
    for (int rep = 1; rep <= opt.reps; ++rep) {
      auto p = Paired(
          rep,
          [&]() -> Result<double> {
            RemoveFilesStartingWith(work.path(), "unit.usbk");
            return TimeTool({ctl, "--config", config, "backup", "--out", backup}, out);
          },
          sqlite_backup);
      if (!p) return tl::unexpected(p.error());
      Print("backup", rep, mb, *p);
    }
    std::printf("backup_file_bytes=%lld\n", static_cast<long long>(FileBytes(backup)));
    if (const int st = unit->Stop(); st != 0) {
      return Fail(Errc::kInternal, "the unit exited with " + std::to_string(st));
    }
  }
  for (int rep = 1; rep <= opt.reps; ++rep) {
    auto p = Paired(
        rep,
        [&]() -> Result<double> {
          auto s = TimeTool({ctl, "--config", config, "restore", backup, "--force"}, out);
          RemoveFilesStartingWith(d.Dir(kUnit), "replica.db.replaced-");
          return s;
        },
        sqlite_backup);
    if (!p) return tl::unexpected(p.error());
    Print("restore", rep, mb, *p);
  }
  auto check = TimeTool({opt.sqlite3, "-readonly", db, "PRAGMA integrity_check"});
  if (!check) return tl::unexpected(check.error());
  std::printf("info.integrity_check_seconds=%.3f\n", *check);
  return {};
}

}  // namespace
}  // namespace unitsync::bench

int main(int argc, char** argv) {
  using namespace unitsync::bench;
  BlockStopSignals();
  Options opt;
  CLI::App app{"Backup and restore of a large unit replica vs sqlite3 .backup"};
  app.add_option("--mb", opt.mb, "Size of the replica to back up (MiB)");
  app.add_option("--reps", opt.reps, "Repetitions of each measurement");
  app.add_option("--bin", opt.bin, "Directory with unitsyncd and unitsyncctl");
  app.add_option("--sqlite3", opt.sqlite3, "The sqlite3 shell (default: from PATH)");
  app.add_option("--work", opt.work, "Work in this directory and keep it (default: temp)");
  CLI11_PARSE(app, argc, argv);
  if (opt.sqlite3.empty()) {
    auto p = FindProgram("sqlite3");
    if (!p) {
      std::cerr << "backup_bench: " << p.error().ToString() << "\n";
      return 1;
    }
    opt.sqlite3 = *p;
  }
  WorkDir work(opt.work);
  auto st = Run(opt, work);
  if (!st) {
    std::cerr << "backup_bench: " << st.error().ToString() << "\n";
    return 1;
  }
  return 0;
}
