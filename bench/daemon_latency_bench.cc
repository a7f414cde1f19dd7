// Commit → remote latency through real unitsyncd processes: one central and two units
// (unit-0001 "A", unit-0002 "B") on loopback, TLS 1.3 with mutual authentication, PKI and
// replicas made with unitsyncctl, every daemon setting at its default.
//
// One write at a time, as an application makes it: a single INSERT (autocommit) through
// the benchmark's own SQLite connection to the source replica, then wait until the row is
// visible at the destination before the next write. Three paths, as the routing allows
// (store/schema/manifest.toml: a unit's rows go to central only, never to another unit):
//
//   unit_to_central      support_action row of A, written at A     → visible at central
//   central_to_unit_ref  action_type row (reference data, central  → visible at B (it fans
//                        scope), written at central                  out to A as well)
//   central_to_unit_row  support_action row of B, written at central → visible at B only
//                        (a central resource team entry)
//
// Per write: `arrival` = from the source commit returning to the row seen at the
// destination (bench/arrival_probe.h: read-only, PRAGMA data_version every --poll-us, so
// the poll interval bounds the resolution); `write` = the source INSERT + commit itself;
// `plain` = the same INSERT into a plain SQLite database (same schema and connection
// pragmas, no unitsync triggers) in another directory, before or after each write in turn:
// what the write costs without unitsync. The first --warmup writes of each path are not
// counted.
//
// Output: key=value lines (PATH.METRIC_ms), read by scripts/bench.
//
// Usage: daemon_latency_bench [--writes=1000] [--warmup=20] [--poll-us=500] [--bin=DIR]
//        [--work=DIR]
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <iostream>
#include <string>
#include <vector>

#include "bench/arrival_probe.h"
#include "bench/deployment.h"
#include "bench/proc_stats.h"
#include "bench/process.h"
#include "bench/support_db.h"
#include "bench/support_rows.h"
#include "common/uuid.h"
#include "store/schema.h"

namespace unitsync::bench {
namespace {

using Clock = std::chrono::steady_clock;

constexpr const char* kUnitA = "unit-0001";
constexpr const char* kUnitB = "unit-0002";
constexpr size_t kCases = 25;
constexpr auto kArrivalTimeout = std::chrono::seconds(10);
constexpr auto kStartTimeout = std::chrono::seconds(30);
// What an application sets on its connection; the plain baseline uses the same.
constexpr const char* kAppPragmas = "PRAGMA foreign_keys = ON; PRAGMA synchronous = FULL;";
constexpr const char* kInsertTypeSql =
    "INSERT INTO action_type(id, code, name, level, valid_from) "
    "VALUES (?1, ?2, ?3, 'ea', '2026-01-01')";

struct Options {
  size_t writes = 1000;
  size_t warmup = 20;
  int64_t poll_us = 500;
  std::string bin = OwnBinDir();
  std::string work;
};

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

// Nearest-rank percentile of `v` (sorted in place).
double Percentile(std::vector<double>& v, double p) {
  std::sort(v.begin(), v.end());
  if (v.empty()) return 0;
  size_t rank = static_cast<size_t>(p / 100.0 * static_cast<double>(v.size()) + 0.999999);
  return v[std::clamp<size_t>(rank, 1, v.size()) - 1];
}

// An application's connection: prepared inserts for the two tables the paths write.
class AppConnection {
 public:
  static Result<AppConnection> Open(const std::string& path, bool create) {
    auto db = store::Db::Open(path, create);
    if (!db) return tl::unexpected(db.error());
    AppConnection c(std::move(*db));
    BENCH_TRY(c.db_.Exec(kAppPragmas));
    return c;
  }

  store::Db& db() { return db_; }

  // One autocommit INSERT of `r`.
  Status InsertAction(const SupportActionRow& r) {
    if (!action_.valid()) {
      auto s = db_.Prepare(kInsertActionSql);
      if (!s) return tl::unexpected(s.error());
      action_ = std::move(*s);
    }
    action_.Reset();
    action_.BindText(1, r.id);
    action_.BindText(2, r.unit_id);
    action_.BindText(3, r.case_id);
    action_.BindText(4, r.action_type);
    action_.BindText(5, r.description);
    action_.BindText(6, r.responsible);
    action_.BindText(7, r.provider);
    action_.BindText(8, r.start_on);
    if (r.end_on.empty()) {
      action_.BindNull(9);
    } else {
      action_.BindText(9, r.end_on);
    }
    action_.BindText(10, r.status);
    return action_.Run();
  }

  // One autocommit INSERT of an action type.
  Status InsertType(const std::string& id, size_t n) {
    if (!type_.valid()) {
      auto s = db_.Prepare(kInsertTypeSql);
      if (!s) return tl::unexpected(s.error());
      type_ = std::move(*s);
    }
    char code[32];
    std::snprintf(code, sizeof code, "BENCH-%05zu", n);
    type_.Reset();
    type_.BindText(1, id);
    type_.BindText(2, code);
    type_.BindText(3, std::string("Benchmarktyp ") + code);
    return type_.Run();
  }

 private:
  explicit AppConnection(store::Db db) : db_(std::move(db)) {}
  store::Db db_;  // first: the statements die before it
  store::Statement action_;
  store::Statement type_;
};

struct Samples {
  std::vector<double> arrival, write, plain;
};

// One path: `write(conn, i)` makes write i (same on the source and the plain baseline);
// the row `table`/`id(i)` is awaited at `dest`.
struct Path {
  std::string name;
  AppConnection* source;
  std::string table;
  std::function<std::string(size_t)> id;
  std::function<Status(AppConnection&, size_t)> write;
  ArrivalProbe* dest;
};

Result<Samples> Measure(const Path& path, AppConnection& plain, const Options& opt) {
  Samples s;
  const auto poll = std::chrono::microseconds(opt.poll_us);
  for (size_t i = 0; i < opt.warmup + opt.writes; ++i) {
    if (StopRequested()) return Fail(Errc::kInternal, "interrupted");
    auto plain_write = [&]() -> Result<double> {
      const auto t = Clock::now();
      BENCH_TRY(path.write(plain, i));
      return Ms(Clock::now() - t);
    };
    // The baseline write goes before the measured write on even i, after its arrival on
    // odd i, so neither side always follows the other's fsync.
    Result<double> plain_ms = 0.0;
    if (i % 2 == 0) plain_ms = plain_write();
    if (!plain_ms) return tl::unexpected(plain_ms.error());
    const auto t0 = Clock::now();
    BENCH_TRY(path.write(*path.source, i));
    const auto committed = Clock::now();
    auto seen = path.dest->WaitFor(path.table, path.id(i), poll, kArrivalTimeout);
    if (!seen) return tl::unexpected(seen.error());
    if (i % 2 == 1) plain_ms = plain_write();
    if (!plain_ms) return tl::unexpected(plain_ms.error());
    if (i < opt.warmup) continue;
    s.arrival.push_back(Ms(*seen - committed));
    s.write.push_back(Ms(committed - t0));
    s.plain.push_back(*plain_ms);
  }
  return s;
}

void Report(const std::string& name, Samples& s) {
  auto line = [&](const char* metric, std::vector<double>& v) {
    double sum = 0;
    for (double x : v) sum += x;
    std::printf("%s.%s_p50_ms=%.3f\n%s.%s_p99_ms=%.3f\n%s.%s_max_ms=%.3f\n%s.%s_mean_ms=%.3f\n",
                name.c_str(), metric, Percentile(v, 50), name.c_str(), metric, Percentile(v, 99),
                name.c_str(), metric, Percentile(v, 100), name.c_str(), metric,
                v.empty() ? 0 : sum / static_cast<double>(v.size()));
  };
  line("arrival", s.arrival);
  line("write", s.write);
  line("plain", s.plain);
  std::fflush(stdout);
}

// A database with the support schema and no unitsync engine, in WAL like a replica.
Result<AppConnection> CreatePlain(const std::string& path) {
  auto c = AppConnection::Open(path, /*create=*/true);
  if (!c) return tl::unexpected(c.error());
  BENCH_TRY(c->db().Exec("PRAGMA journal_mode = WAL;"));
  for (const store::Migration& m : store::SupportSchema().migrations) {
    BENCH_TRY(c->db().Exec(m.sql));
  }
  return c;
}

Status Run(const Options& opt, const WorkDir& work) {
  Deployment d(opt.bin, work.path(), FreePort());
  BENCH_TRY(d.AddCentral());
  BENCH_TRY(d.AddUnit(kUnitA));
  BENCH_TRY(d.AddUnit(kUnitB));

  auto central = d.Start(Deployment::kCentral);
  if (!central) return tl::unexpected(central.error());
  BENCH_TRY(WaitForLog(d.Log(Deployment::kCentral), "event=listening", 1, kStartTimeout));
  auto a = d.Start(kUnitA);
  if (!a) return tl::unexpected(a.error());
  auto b = d.Start(kUnitB);
  if (!b) return tl::unexpected(b.error());
  auto stop_all = [&] {  // units first, then central; statuses for the report
    return std::vector<int>{a->Stop(), b->Stop(), central->Stop()};
  };
  auto fail = [&](const Error& e) -> Status {
    stop_all();
    for (const std::string n : {Deployment::kCentral, kUnitA, kUnitB}) {
      std::cerr << "--- " << d.Log(n) << " (last lines)\n" << LogTail(d.Log(n), 15);
    }
    return tl::unexpected(e);
  };
  if (auto st = WaitForLog(d.Log(kUnitA), "event=connected", 1, kStartTimeout); !st) {
    return fail(st.error());
  }
  if (auto st = WaitForLog(d.Log(kUnitB), "event=connected", 1, kStartTimeout); !st) {
    return fail(st.error());
  }

  auto at_a = AppConnection::Open(d.Db(kUnitA), false);
  auto at_b = AppConnection::Open(d.Db(kUnitB), false);
  auto at_central = AppConnection::Open(d.Db(Deployment::kCentral), false);
  std::filesystem::create_directories(work.path() + "/baseline");
  auto plain = CreatePlain(work.path() + "/baseline/plain.db");
  auto probe_central = ArrivalProbe::Open(d.Db(Deployment::kCentral));
  auto probe_b = ArrivalProbe::Open(d.Db(kUnitB));
  for (const Error* e :
       {at_a ? nullptr : &at_a.error(), at_b ? nullptr : &at_b.error(),
        at_central ? nullptr : &at_central.error(), plain ? nullptr : &plain.error(),
        probe_central ? nullptr : &probe_central.error(), probe_b ? nullptr : &probe_b.error()}) {
    if (e) return fail(*e);
  }

  // Rows of A (written at A) and of B (written at central); their students and cases are
  // written at each unit and synced to central first, as a unit's real data would be.
  const size_t n = opt.warmup + opt.writes;
  const int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
  const SupportData rows_a = MakeSupportData(n, kCases, kUnitA, now_ms, 1);
  const SupportData rows_b = MakeSupportData(n, kCases, kUnitB, now_ms, 2);
  for (auto [conn, rows] : {std::pair{&*at_a, &rows_a}, std::pair{&*at_b, &rows_b}}) {
    if (auto st = InsertParents(conn->db(), *rows); !st) return fail(st.error());
    if (auto st = InsertParents(plain->db(), *rows); !st) return fail(st.error());
    auto seen = probe_central->WaitFor("support_case", rows->case_ids.back(),
                                       std::chrono::microseconds(opt.poll_us), kArrivalTimeout);
    if (!seen) return fail(seen.error());
  }
  std::vector<std::string> type_ids;
  UuidV7Generator uuid;
  for (size_t i = 0; i < n; ++i) type_ids.push_back(uuid.Next(now_ms));

  const std::vector<Path> paths = {
      {"unit_to_central", &*at_a, "support_action", [&](size_t i) { return rows_a.actions[i].id; },
       [&](AppConnection& c, size_t i) { return c.InsertAction(rows_a.actions[i]); },
       &*probe_central},
      {"central_to_unit_ref", &*at_central, "action_type", [&](size_t i) { return type_ids[i]; },
       [&](AppConnection& c, size_t i) { return c.InsertType(type_ids[i], i); }, &*probe_b},
      {"central_to_unit_row", &*at_central, "support_action",
       [&](size_t i) { return rows_b.actions[i].id; },
       [&](AppConnection& c, size_t i) { return c.InsertAction(rows_b.actions[i]); }, &*probe_b},
  };
  std::printf("writes=%zu\nwarmup=%zu\npoll_us=%lld\nload_before=%s\n", opt.writes, opt.warmup,
              static_cast<long long>(opt.poll_us), LoadAverage().c_str());
  for (const Path& p : paths) {
    const auto started = Clock::now();
    auto s = Measure(p, *plain, opt);
    if (!s) return fail(s.error());
    Report(p.name, *s);
    std::printf("%s.seconds=%.1f\n", p.name.c_str(), Ms(Clock::now() - started) / 1000);
  }
  std::printf("load_after=%s\n", LoadAverage().c_str());

  const auto statuses = stop_all();
  int errors = 0;
  for (const std::string node : {Deployment::kCentral, kUnitA, kUnitB}) {
    std::ifstream in(d.Log(node));
    for (std::string line; std::getline(in, line);) {
      if (line.find("level=error") != std::string::npos) ++errors;
    }
  }
  std::printf("daemon_log_errors=%d\n", errors);
  for (int st : statuses) {
    if (st != 0) return Fail(Errc::kInternal, "a daemon exited with " + std::to_string(st));
  }
  return {};
}

}  // namespace
}  // namespace unitsync::bench

int main(int argc, char** argv) {
  using namespace unitsync::bench;
  BlockStopSignals();
  Options opt;
  CLI::App app{"Commit → remote latency through real unitsyncd processes on loopback"};
  app.add_option("--writes", opt.writes, "Measured writes per path");
  app.add_option("--warmup", opt.warmup, "Writes per path before measuring");
  app.add_option("--poll-us", opt.poll_us, "Arrival poll interval (microseconds)");
  app.add_option("--bin", opt.bin, "Directory with unitsyncd and unitsyncctl");
  app.add_option("--work", opt.work, "Keep the deployment in this directory (default: temp)");
  CLI11_PARSE(app, argc, argv);
  WorkDir work(opt.work);
  auto st = Run(opt, work);
  if (!st) {
    std::cerr << "daemon_latency_bench: " << st.error().ToString() << "\n";
    return 1;
  }
  return 0;
}
