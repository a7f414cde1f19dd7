// Recovery through real unitsyncd processes: draining a backlog after an outage, and
// re-seeding a unit from central, against a plain `sqlite3` copy of the same rows.
//
// One central on loopback (TLS 1.3, mutual authentication, PKI and replicas made with
// unitsyncctl, every daemon setting at its default). Each repetition enrolls a new unit
// (unit-0001, unit-0002, ..., all enrolled before central starts; central keeps the earlier units'
// rows, as a central serving several units does) and runs:
//
//   drain   the unit is connected; central is stopped; an application writes --rows
//           support_action rows (plus their students and cases) into the unit's replica,
//           1000 per transaction, while the unit daemon keeps running and cannot reach
//           central; central is started again and the unit told to reconnect now
//           (`unitsyncctl sync-now`, what an admin does instead of waiting out the backoff).
//           Timed from sync-now until central has acknowledged the unit's whole change
//           log (read from the unit's replica every 20 ms) and holds every row.
//   reseed  the unit daemon is stopped; `unitsyncctl reseed --force` sets its replica aside
//           and makes an empty one; the daemon is started and streams its whole scope from
//           central. Timed from the reseed command until the unit logs reseed_done (its
//           log polled every 20 ms); the unit's row count is checked afterwards.
//   copy    baseline: `sqlite3 -bail NEW.db ".read SCRIPT"` creating the same schema in a
//           fresh file (WAL, synchronous = FULL, the replica's pragmas) and copying, in one
//           transaction from central's replica (ATTACH), exactly the rows the re-seed
//           streams (recovery_util.h WriteCopyScript). Run right before the reseed in odd
//           repetitions and right after it in even ones.
//
// Output: key=value lines, each repetition's after "rep=N", read by scripts/bench
// (medians over the repetitions; reseed.ratio = copy seconds / reseed seconds, i.e. the
// re-seed's rows/s as a fraction of the copy's, paired inside each repetition).
//
// Usage: recovery_bench [--rows=100000] [--reps=3] [--bin=DIR] [--work=DIR]
#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <string>
#include <thread>

#include "bench/bench_try.h"
#include "bench/deployment.h"
#include "bench/proc_stats.h"
#include "bench/process.h"
#include "bench/recovery_util.h"
#include "bench/support_db.h"
#include "bench/support_rows.h"
#include "store/replica.h"
#include "store/sync_state.h"

namespace unitsync::bench {
namespace {

constexpr size_t kCases = 250;
constexpr size_t kRowsPerTx = 1000;
constexpr auto kStartTimeout = std::chrono::seconds(30);
constexpr auto kRecoveryTimeout = std::chrono::seconds(900);
constexpr auto kPoll = std::chrono::milliseconds(20);
constexpr const char* kAppPragmas = "PRAGMA foreign_keys = ON; PRAGMA synchronous = FULL;";

struct Options {
  size_t rows = 100'000;
  int reps = 3;
  std::string bin = OwnBinDir();
  std::string work;
  std::string sqlite3;
};

std::string UnitName(int rep) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "unit-%04d", rep);
  return buf;
}

Status Ctl(const Deployment& d, const std::string& node, std::vector<std::string> args) {
  args.insert(args.begin(),
              {d.bin_dir() + "/unitsyncctl", "--config", d.Dir(node) + "/unitsyncd.toml"});
  return RunTool(args, d.Dir(node) + "/unitsyncctl.out");
}

// The application's writes: the parents, then `data.actions` in transactions of kRowsPerTx.
Status WriteBacklog(const std::string& db_path, const SupportData& data) {
  auto db = store::Db::Open(db_path, /*create=*/false);
  if (!db) return tl::unexpected(db.error());
  BENCH_TRY(db->Exec(kAppPragmas));
  BENCH_TRY(InsertParents(*db, data));
  return InsertActions(*db, data.actions, kRowsPerTx);
}

// Polls until central has acknowledged every entry of the unit's change log (the `status`
// view's outgoing.pending_changes = 0: acked_log_seq has reached the log's head; read as
// two cheap lookups, not a count, so polling takes no CPU from the daemons) and central
// holds `rows` rows of `unit` in support_action.
Status WaitDrained(const Deployment& d, const std::string& unit, int64_t rows) {
  store::ReplicaOptions ro;
  ro.read_only = true;
  auto replica = store::Replica::Open(d.Db(unit), ro);
  if (!replica) return tl::unexpected(replica.error());
  auto head = replica->db().Prepare("SELECT coalesce(max(seq), 0) FROM _us_changes");
  if (!head) return tl::unexpected(head.error());
  const auto until = Clock::now() + kRecoveryTimeout;
  std::string last;
  for (;;) {
    auto outbox = store::GetOutboxState(*replica);
    head->Reset();
    auto row = head->Step();
    if (outbox && row && *row) {
      const int64_t log_head = head->ColumnInt(0);
      head->Reset();
      if (outbox->acked_log_seq >= log_head) {
        auto at_central = CountUnitRows(d.Db(Deployment::kCentral), "support_action", unit);
        if (at_central && *at_central == rows) return {};
        last = at_central ? "central holds " + std::to_string(*at_central) + " rows"
                          : at_central.error().message;
      } else {
        last = "acknowledged up to log seq " + std::to_string(outbox->acked_log_seq) + " of " +
               std::to_string(log_head);
      }
    } else {
      last = !outbox ? outbox.error().message : !row ? row.error().message : "no log head";
    }
    if (StopRequested()) return Fail(Errc::kInternal, "interrupted");
    if (Clock::now() >= until) return Fail(Errc::kInternal, "drain not done in time: " + last);
    std::this_thread::sleep_for(kPoll);
  }
}

// One repetition; prints its key=value lines.
Status Rep(const Options& opt, Deployment& d, std::optional<Child>& central, int rep) {
  const std::string unit = UnitName(rep);
  auto u = d.Start(unit);
  if (!u) return tl::unexpected(u.error());
  // A pristine replica is seeded (with nothing) at its first connection.
  BENCH_TRY(WaitForLog(d.Log(unit), "event=reseed_done", 1, kStartTimeout));

  // --- drain
  if (const int st = central->Stop(); st != 0) {
    return Fail(Errc::kInternal, "central exited with " + std::to_string(st));
  }
  central.reset();
  const int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
  const SupportData data = MakeSupportData(opt.rows, kCases, unit, now_ms, rep);
  const auto w0 = Clock::now();
  BENCH_TRY(WriteBacklog(d.Db(unit), data));
  const double write_s = Seconds(Clock::now() - w0);
  const int64_t backlog_rows = static_cast<int64_t>(opt.rows + 2 * kCases);

  auto restarted = d.Start(Deployment::kCentral);
  if (!restarted) return tl::unexpected(restarted.error());
  central.emplace(std::move(*restarted));
  BENCH_TRY(WaitForLog(d.Log(Deployment::kCentral), "event=listening", rep + 1, kStartTimeout));
  const std::string load_before = LoadAverage();
  const auto t0 = Clock::now();
  BENCH_TRY(Ctl(d, unit, {"sync-now"}));
  BENCH_TRY(WaitDrained(d, unit, static_cast<int64_t>(opt.rows)));
  const double drain_s = Seconds(Clock::now() - t0);
  std::printf("rep=%d\nunit=%s\nload_before=%s\n", rep, unit.c_str(), load_before.c_str());
  std::printf("drain.rows=%lld\ndrain.app_write_seconds=%.3f\ndrain.seconds=%.3f\n",
              static_cast<long long>(backlog_rows), write_s, drain_s);
  std::printf("drain.rows_per_s=%.0f\n", static_cast<double>(backlog_rows) / drain_s);
  std::fflush(stdout);

  // --- reseed vs a plain sqlite3 copy, order alternating
  if (const int st = u->Stop(); st != 0) {
    return Fail(Errc::kInternal, unit + " exited with " + std::to_string(st));
  }
  auto routed = CountRoutedRows(d.Db(Deployment::kCentral), unit);
  if (!routed) return tl::unexpected(routed.error());
  const std::string base_dir = d.Dir(unit) + "/baseline";
  std::filesystem::create_directories(base_dir);
  const std::string script = base_dir + "/copy.sql";
  BENCH_TRY(WriteCopyScript(d.Db(Deployment::kCentral), unit, script));
  auto copy = [&]() -> Result<double> {
    const std::string plain = base_dir + "/plain.db";
    RemoveFilesStartingWith(base_dir, "plain.db");
    auto s = TimeTool({opt.sqlite3, "-bail", plain, ".read " + script});
    if (!s) return s;
    auto n = CountRoutedRows(plain, unit);
    if (!n) return tl::unexpected(n.error());
    if (*n != *routed) return Fail(Errc::kInternal, "the sqlite3 copy holds the wrong rows");
    RemoveFilesStartingWith(base_dir, "plain.db");
    return s;
  };
  Result<double> copy_s = 0.0;
  if (rep % 2 == 1) copy_s = copy();
  if (!copy_s) return tl::unexpected(copy_s.error());

  const auto r0 = Clock::now();
  BENCH_TRY(Ctl(d, unit, {"reseed", "--force"}));
  const double prepare_s = Seconds(Clock::now() - r0);
  auto seeded = d.Start(unit);
  if (!seeded) return tl::unexpected(seeded.error());
  BENCH_TRY(WaitForLog(d.Log(unit), "event=reseed_done", 2, kRecoveryTimeout));
  const double reseed_s = Seconds(Clock::now() - r0);
  if (const int st = seeded->Stop(); st != 0) {
    return Fail(Errc::kInternal, unit + " exited with " + std::to_string(st));
  }
  auto at_unit = CountRoutedRows(d.Db(unit), unit);
  if (!at_unit) return tl::unexpected(at_unit.error());
  if (*at_unit != *routed) {
    return Fail(Errc::kInternal, "after the re-seed the unit holds " + std::to_string(*at_unit) +
                                     " of " + std::to_string(*routed) + " rows");
  }
  RemoveFilesStartingWith(d.Dir(unit), "replica.db.reseeded-");
  if (rep % 2 == 0) copy_s = copy();
  if (!copy_s) return tl::unexpected(copy_s.error());

  const double rows = static_cast<double>(*routed);
  std::printf("reseed.rows=%lld\nreseed.prepare_seconds=%.3f\nreseed.seconds=%.3f\n",
              static_cast<long long>(*routed), prepare_s, reseed_s);
  std::printf("reseed.rows_per_s=%.0f\ncopy.seconds=%.3f\ncopy.rows_per_s=%.0f\n", rows / reseed_s,
              *copy_s, rows / *copy_s);
  std::printf("reseed.ratio=%.3f\nload_after=%s\n", *copy_s / reseed_s, LoadAverage().c_str());
  std::fflush(stdout);
  return {};
}

Status Run(const Options& opt, const WorkDir& work) {
  Deployment d(opt.bin, work.path(), FreePort());
  BENCH_TRY(d.AddCentral());
  // Enrolled before central starts: central reads the registrations at start (and SIGHUP).
  for (int rep = 1; rep <= opt.reps; ++rep) BENCH_TRY(d.AddUnit(UnitName(rep)));
  std::optional<Child> central;
  {
    auto started = d.Start(Deployment::kCentral);
    if (!started) return tl::unexpected(started.error());
    central.emplace(std::move(*started));
  }
  BENCH_TRY(WaitForLog(d.Log(Deployment::kCentral), "event=listening", 1, kStartTimeout));
  std::printf("rows=%zu\nreps=%d\n", opt.rows, opt.reps);
  for (int rep = 1; rep <= opt.reps; ++rep) {
    if (auto st = Rep(opt, d, central, rep); !st) {
      for (const std::string& n : {std::string(Deployment::kCentral), UnitName(rep)}) {
        std::cerr << "--- " << d.Log(n) << " (last lines)\n" << LogTail(d.Log(n), 15);
      }
      return st;
    }
  }
  int errors = 0;
  if (const int st = central->Stop(); st != 0) {
    return Fail(Errc::kInternal, "central exited with " + std::to_string(st));
  }
  for (int rep = 0; rep <= opt.reps; ++rep) {
    std::ifstream in(d.Log(rep == 0 ? std::string(Deployment::kCentral) : UnitName(rep)));
    for (std::string line; std::getline(in, line);) {
      if (line.find("level=error") != std::string::npos) ++errors;
    }
  }
  std::printf("daemon_log_errors=%d\n", errors);
  return {};
}

}  // namespace
}  // namespace unitsync::bench

int main(int argc, char** argv) {
  using namespace unitsync::bench;
  BlockStopSignals();
  Options opt;
  CLI::App app{"Backlog drain and re-seed through real unitsyncd processes vs a sqlite3 copy"};
  app.add_option("--rows", opt.rows, "support_action rows per unit");
  app.add_option("--reps", opt.reps, "Repetitions (one new unit each)");
  app.add_option("--bin", opt.bin, "Directory with unitsyncd and unitsyncctl");
  app.add_option("--sqlite3", opt.sqlite3, "The sqlite3 shell (default: from PATH)");
  app.add_option("--work", opt.work, "Keep the deployment in this directory (default: temp)");
  CLI11_PARSE(app, argc, argv);
  if (opt.sqlite3.empty()) {
    auto p = FindProgram("sqlite3");
    if (!p) {
      std::cerr << "recovery_bench: " << p.error().ToString() << "\n";
      return 1;
    }
    opt.sqlite3 = *p;
  }
  WorkDir work(opt.work);
  auto st = Run(opt, work);
  if (!st) {
    std::cerr << "recovery_bench: " << st.error().ToString() << "\n";
    return 1;
  }
  return 0;
}
