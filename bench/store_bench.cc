// Store benchmarks: what change capture, merging and changeset building
// cost next to plain SQLite doing the same work on the same rows.
//
// Every comparison is paired: one iteration runs the baseline and the
// unitsync path back to back on identical rows, in fresh database files in a
// temp dir, with the connection settings the replica uses (WAL,
// synchronous=FULL, foreign_keys=ON, trusted_schema=OFF; checked each run).
// The iteration's time is the unitsync path's (manual time, setup excluded);
// the baseline's rate and the ratio are counters, so repetitions give a
// median of pair-wise ratios that drift between repetitions cannot skew.
// Which side of a pair runs first alternates between runs.
//
//   Capture           N inserts, 1000 per transaction, into a plain database
//                     vs. a unit replica (capture triggers), then the
//                     replica's StampPendingChangesNow on its own.
//   MergeIntoEmpty    ApplyChangeset (decode included) of an N-row changeset
//                     into an empty replica vs. one plain transaction that
//                     inserts the same rows (foreign keys off, as a merge).
//   MergeAllConflict  the same changeset into a central replica holding
//                     concurrent local edits of every row: every column
//                     conflicts, and the incoming (later) version wins.
//   BuildChangeset    BuildChangeset of the N rows, size unlimited, vs. a
//                     plain scan reading the same rows; bytes per row.
//
// Usage: store_bench [--rows=N] [--extra_pragmas=SQL] [Google Benchmark flags]
// (scripts/bench runs it). --extra_pragmas runs SQL on every replica and
// baseline connection after it is opened, to measure a proposed connection
// setting (e.g. "PRAGMA temp_store = MEMORY") before the store adopts it.
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "bench/support_db.h"
#include "bench/support_rows.h"
#include "store/change_log.h"
#include "store/changeset.h"
#include "store/changeset_builder.h"
#include "store/merge.h"
#include "store/replica.h"

namespace unitsync::bench {
namespace {

namespace fs = std::filesystem;
using store::Db;
using store::Replica;
using store::ReplicaOptions;
using store::Role;

constexpr int64_t kT0 = 1'780'000'000'000;  // Any fixed instant (2026-05-28).
constexpr size_t kDefaultRows = 100'000;
constexpr size_t kCases = 250;  // DESIGN.md: ~250 students per unit.
constexpr size_t kCaptureBatch = 1000;
constexpr size_t kOneTransaction = SIZE_MAX;
constexpr const char* kUnit = "unit-0001";

// store/replica.cc ApplyPragmas, for the baselines; CheckSamePragmas proves
// the two stay equal.
constexpr const char* kReplicaPragmas =
    "PRAGMA foreign_keys = ON; PRAGMA trusted_schema = OFF; PRAGMA temp_store = MEMORY; "
    "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;";

constexpr const char* kScanActionSql =
    "SELECT id, unit_id, case_id, action_type, description, responsible, provider, start_on, "
    "end_on, status FROM support_action";

class Stopwatch {
 public:
  double Seconds() const { return std::chrono::duration<double>(Clock::now() - start_).count(); }

 private:
  using Clock = std::chrono::steady_clock;
  Clock::time_point start_ = Clock::now();
};

// A database with the support schema and no unitsync engine: the baseline.
Result<Db> CreatePlainDb(const std::string& path, const std::string& extra_pragmas) {
  auto db = Db::Open(path, /*create=*/true);
  if (!db) return tl::unexpected(db.error());
  BENCH_TRY(db->Exec(kReplicaPragmas));
  BENCH_TRY(db->Exec(extra_pragmas));
  for (const store::Migration& m : store::SupportSchema().migrations) BENCH_TRY(db->Exec(m.sql));
  return db;
}

Result<std::string> PragmaSummary(Db& db) {
  std::string out;
  for (const char* p : {"journal_mode", "synchronous", "foreign_keys", "trusted_schema",
                        "temp_store", "cache_size"}) {
    auto stmt = db.Prepare(std::string("PRAGMA ") + p);
    if (!stmt) return tl::unexpected(stmt.error());
    auto row = stmt->Step();
    if (!row) return tl::unexpected(row.error());
    out += std::string(p) + "=" + stmt->ColumnText(0) + " ";
  }
  return out;
}

Status CheckSamePragmas(Db& plain, Db& replica) {
  auto a = PragmaSummary(plain);
  if (!a) return tl::unexpected(a.error());
  auto b = PragmaSummary(replica);
  if (!b) return tl::unexpected(b.error());
  if (*a != *b) return Fail(Errc::kInternal, "baseline pragmas " + *a + "!= replica's " + *b);
  return {};
}

Status CopyDatabase(const std::string& from, const std::string& to) {
  std::error_code ec;
  for (const char* suffix : {"", "-wal"}) {
    if (!fs::exists(from + suffix)) continue;
    if (!fs::copy_file(from + suffix, to + suffix, ec)) {
      return Fail(Errc::kIo, "copy " + from + suffix + ": " + ec.message());
    }
  }
  return {};
}

store::BuildRequest Unlimited(int64_t after_seq) {
  store::BuildRequest req;
  req.after_seq = after_seq;
  req.max_rows = SIZE_MAX;
  req.max_bytes = SIZE_MAX;
  return req;
}

// Built once, before any benchmark runs; owned by main().
struct Corpus {
  TempDir dir;
  SupportData data;  // What the unit wrote.
  // The unit writes a minute after central's concurrent edits, so its
  // versions win every column there.
  ManualWallClock unit_clock{kT0 + 60'000};
  std::optional<Replica> source;  // kUnit holding `data`, every change stamped.
  int64_t actions_after_seq = 0;  // Change log head before the actions.
  store::Blob changeset;          // Every action, one changeset.
  std::string conflict_template;  // Closed central replica with concurrent edits.
  int runs = 0;                   // Alternates which side of a pair runs first.
  std::string extra_pragmas;      // --extra_pragmas, for every connection.

  bool BaselineFirst() { return runs++ % 2 == 0; }
};

Result<std::unique_ptr<Corpus>> BuildCorpus(size_t rows, const std::string& extra_pragmas) {
  auto c = std::make_unique<Corpus>();
  c->extra_pragmas = extra_pragmas;
  c->data = MakeSupportData(rows, kCases, kUnit, kT0, /*seed=*/1);

  ReplicaOptions unit_opts;
  unit_opts.clock = &c->unit_clock;
  auto source = Replica::Create(c->dir.File("source.db"), Role::kUnit, kUnit, unit_opts);
  if (!source) return tl::unexpected(source.error());
  Replica& s = c->source.emplace(std::move(*source));
  BENCH_TRY(s.db().Exec(extra_pragmas));
  BENCH_TRY(InsertParents(s.db(), c->data));
  BENCH_TRY(store::StampPendingChangesNow(s));
  auto stats = store::GetChangeLogStats(s, 0);
  if (!stats) return tl::unexpected(stats.error());
  c->actions_after_seq = stats->head_seq;
  BENCH_TRY(InsertActions(s.db(), c->data.actions, kCaptureBatch));
  auto built = store::BuildChangeset(s, Unlimited(c->actions_after_seq));
  if (!built) return tl::unexpected(built.error());
  if (built->rows != rows) return Fail(Errc::kInternal, "changeset lacks rows");
  c->changeset = std::move(built->bytes);

  ManualWallClock central_clock(kT0);
  ReplicaOptions central_opts;
  central_opts.clock = &central_clock;
  c->conflict_template = c->dir.File("conflict-template.db");
  auto central = Replica::Create(c->conflict_template, Role::kCentral, "central", central_opts);
  if (!central) return tl::unexpected(central.error());
  BENCH_TRY(central->db().Exec(extra_pragmas));
  BENCH_TRY(InsertParents(central->db(), c->data));
  BENCH_TRY(
      InsertActions(central->db(), ConcurrentEdit(c->data, /*seed=*/2).actions, kCaptureBatch));
  BENCH_TRY(store::StampPendingChangesNow(*central));
  return c;  // Closing `central` checkpoints its WAL: the template is one file.
}

// Runs `a` and `b`, the baseline first when `baseline_first`.
Status Pair(bool baseline_first, const std::function<Status()>& baseline,
            const std::function<Status()>& unitsync) {
  BENCH_TRY(baseline_first ? baseline() : unitsync());
  return baseline_first ? unitsync() : baseline();
}

// --- Capture ---------------------------------------------------------------

struct CaptureSample {
  double plain_s = 0;
  double capture_s = 0;
  double stamp_s = 0;
};

Result<CaptureSample> RunCapture(Corpus& c) {
  TempDir dir;
  auto plain = CreatePlainDb(dir.File("plain.db"), c.extra_pragmas);
  if (!plain) return tl::unexpected(plain.error());
  BENCH_TRY(InsertParents(*plain, c.data));
  ManualWallClock clock(kT0);
  ReplicaOptions opts;
  opts.clock = &clock;
  auto replica = Replica::Create(dir.File("unit.db"), Role::kUnit, kUnit, opts);
  if (!replica) return tl::unexpected(replica.error());
  BENCH_TRY(replica->db().Exec(c.extra_pragmas));
  BENCH_TRY(InsertParents(replica->db(), c.data));
  BENCH_TRY(store::StampPendingChangesNow(*replica));
  BENCH_TRY(CheckSamePragmas(*plain, replica->db()));

  CaptureSample s;
  BENCH_TRY(Pair(
      c.BaselineFirst(),
      [&]() -> Status {
        Stopwatch w;
        BENCH_TRY(InsertActions(*plain, c.data.actions, kCaptureBatch));
        s.plain_s = w.Seconds();
        return {};
      },
      [&]() -> Status {
        Stopwatch w;
        BENCH_TRY(InsertActions(replica->db(), c.data.actions, kCaptureBatch));
        s.capture_s = w.Seconds();
        return {};
      }));
  Stopwatch w;
  BENCH_TRY(store::StampPendingChangesNow(*replica));
  s.stamp_s = w.Seconds();
  return s;
}

void BM_Capture(benchmark::State& state, Corpus& c) {
  CaptureSample sum;
  for (auto _ : state) {
    auto s = RunCapture(c);
    if (!s) {
      state.SkipWithError(s.error().ToString().c_str());
      break;
    }
    state.SetIterationTime(s->capture_s);
    sum.plain_s += s->plain_s;
    sum.capture_s += s->capture_s;
    sum.stamp_s += s->stamp_s;
  }
  if (state.error_occurred()) return;
  const double rows = static_cast<double>(c.data.actions.size() * state.iterations());
  state.counters["rows/s"] = benchmark::Counter(rows, benchmark::Counter::kIsRate);
  state.counters["plain_rows/s"] = rows / sum.plain_s;
  state.counters["ratio"] = sum.plain_s / sum.capture_s;
  state.counters["stamp_rows/s"] = rows / sum.stamp_s;
  state.counters["stamp_us/row"] = sum.stamp_s / rows * 1e6;
  state.counters["ratio_incl_stamp"] = sum.plain_s / (sum.capture_s + sum.stamp_s);
}

// --- Merge -----------------------------------------------------------------

struct MergeSample {
  double plain_s = 0;
  double merge_s = 0;
  double decode_s = 0;
  store::MergeReport report;
};

Status TimedApply(Corpus& c, Replica& target, MergeSample& s) {
  Stopwatch w;
  auto report = store::ApplyChangeset(target, c.changeset);
  if (!report) return tl::unexpected(report.error());
  s.merge_s = w.Seconds();
  s.report = *report;
  return {};
}

// Decoding alone, to split the merge's time (not part of either side).
Status TimeDecode(Corpus& c, MergeSample& s) {
  Stopwatch w;
  auto decoded = store::DecodeChangeset(c.changeset);
  if (!decoded) return tl::unexpected(decoded.error());
  s.decode_s = w.Seconds();
  return {};
}

Result<MergeSample> RunMergeIntoEmpty(Corpus& c, Role role) {
  TempDir dir;
  auto plain = CreatePlainDb(dir.File("plain.db"), c.extra_pragmas);
  if (!plain) return tl::unexpected(plain.error());
  ManualWallClock clock(kT0);
  ReplicaOptions opts;
  opts.clock = &clock;
  const std::string node = role == Role::kCentral ? "central" : kUnit;  // Unit: a re-seed.
  auto target = Replica::Create(dir.File("target.db"), role, node, opts);
  if (!target) return tl::unexpected(target.error());
  BENCH_TRY(target->db().Exec(c.extra_pragmas));
  BENCH_TRY(CheckSamePragmas(*plain, target->db()));
  BENCH_TRY(plain->Exec("PRAGMA foreign_keys = OFF"));  // As ApplyChangeset does.

  MergeSample s;
  BENCH_TRY(TimeDecode(c, s));
  BENCH_TRY(Pair(
      c.BaselineFirst(),
      [&]() -> Status {
        Stopwatch w;
        BENCH_TRY(InsertActions(*plain, c.data.actions, kOneTransaction));
        s.plain_s = w.Seconds();
        return {};
      },
      [&]() -> Status { return TimedApply(c, *target, s); }));
  if (s.report.rows_inserted != c.data.actions.size()) {
    return Fail(Errc::kInternal, "merge into an empty replica did not insert every row");
  }
  return s;
}

Result<MergeSample> RunMergeAllConflict(Corpus& c) {
  TempDir dir;
  const std::string path = dir.File("central.db");
  BENCH_TRY(CopyDatabase(c.conflict_template, path));
  ManualWallClock clock(kT0);
  ReplicaOptions opts;
  opts.clock = &clock;
  auto target = Replica::Open(path, opts);
  if (!target) return tl::unexpected(target.error());
  BENCH_TRY(target->db().Exec(c.extra_pragmas));
  MergeSample s;
  BENCH_TRY(TimeDecode(c, s));
  BENCH_TRY(TimedApply(c, *target, s));
  if (s.report.rows_updated != c.data.actions.size() || s.report.conflicts == 0) {
    return Fail(Errc::kInternal, "not every row of the conflict merge was updated");
  }
  return s;
}

void ReportMerge(benchmark::State& state, Corpus& c, const MergeSample& sum, bool paired) {
  const double rows = static_cast<double>(c.data.actions.size() * state.iterations());
  state.counters["rows/s"] = benchmark::Counter(rows, benchmark::Counter::kIsRate);
  if (paired) {
    state.counters["plain_rows/s"] = rows / sum.plain_s;
    state.counters["ratio"] = sum.plain_s / sum.merge_s;
  }
  state.counters["decode_share"] = sum.decode_s / sum.merge_s;
  state.counters["conflicts/row"] = static_cast<double>(sum.report.conflicts) / rows;
}

void BM_Merge(benchmark::State& state, Corpus& c,
              const std::function<Result<MergeSample>(Corpus&)>& run, bool paired) {
  MergeSample sum;
  for (auto _ : state) {
    auto s = run(c);
    if (!s) {
      state.SkipWithError(s.error().ToString().c_str());
      break;
    }
    state.SetIterationTime(s->merge_s);
    sum.plain_s += s->plain_s;
    sum.merge_s += s->merge_s;
    sum.decode_s += s->decode_s;
    sum.report.conflicts += s->report.conflicts;
  }
  if (!state.error_occurred()) ReportMerge(state, c, sum, paired);
}

// --- Build -----------------------------------------------------------------

struct BuildSample {
  double build_s = 0;
  double scan_s = 0;
  size_t bytes = 0;
  size_t raw_value_bytes = 0;
};

// Reads every action's values, as the builder's row reader does.
Status ScanActions(Db& db, size_t expected) {
  auto stmt = db.Prepare(kScanActionSql);
  if (!stmt) return tl::unexpected(stmt.error());
  size_t n = 0;
  for (;;) {
    auto row = stmt->Step();
    if (!row) return tl::unexpected(row.error());
    if (!*row) break;
    std::vector<store::Value> values(10);
    for (int i = 0; i < 10; ++i) values[static_cast<size_t>(i)] = stmt->ColumnValue(i);
    benchmark::DoNotOptimize(values.data());
    ++n;
  }
  if (n != expected) return Fail(Errc::kInternal, "scan saw another row count");
  return {};
}

Result<BuildSample> RunBuild(Corpus& c) {
  BuildSample s;
  Replica& source = *c.source;
  return Pair(
             c.BaselineFirst(),
             [&]() -> Status {
               Stopwatch w;
               BENCH_TRY(ScanActions(source.db(), c.data.actions.size()));
               s.scan_s = w.Seconds();
               return {};
             },
             [&]() -> Status {
               Stopwatch w;
               auto built = store::BuildChangeset(source, Unlimited(c.actions_after_seq));
               if (!built) return tl::unexpected(built.error());
               s.build_s = w.Seconds();
               if (built->rows != c.data.actions.size()) {
                 return Fail(Errc::kInternal, "build did not cover every row");
               }
               s.bytes = built->bytes.size();
               s.raw_value_bytes = built->raw_value_bytes;
               return {};
             })
      .map([&] { return s; });
}

void BM_BuildChangeset(benchmark::State& state, Corpus& c) {
  BuildSample sum;
  for (auto _ : state) {
    auto s = RunBuild(c);
    if (!s) {
      state.SkipWithError(s.error().ToString().c_str());
      break;
    }
    state.SetIterationTime(s->build_s);
    sum.build_s += s->build_s;
    sum.scan_s += s->scan_s;
    sum.bytes += s->bytes;
    sum.raw_value_bytes += s->raw_value_bytes;
  }
  if (state.error_occurred()) return;
  const double rows = static_cast<double>(c.data.actions.size() * state.iterations());
  state.counters["rows/s"] = benchmark::Counter(rows, benchmark::Counter::kIsRate);
  state.counters["scan_rows/s"] = rows / sum.scan_s;
  state.counters["ratio_vs_scan"] = sum.scan_s / sum.build_s;
  state.counters["bytes/row"] = static_cast<double>(sum.bytes) / rows;
  state.counters["raw_bytes/row"] = static_cast<double>(sum.raw_value_bytes) / rows;
  state.counters["size_ratio"] =
      static_cast<double>(sum.bytes) / static_cast<double>(sum.raw_value_bytes);
}

void Register(Corpus& c) {
  auto setup = [](benchmark::internal::Benchmark* b) {
    b->Iterations(1)->UseManualTime()->Unit(benchmark::kMillisecond);
  };
  setup(
      benchmark::RegisterBenchmark("BM_Capture", [&c](benchmark::State& s) { BM_Capture(s, c); }));
  setup(benchmark::RegisterBenchmark("BM_MergeIntoEmpty/central", [&c](benchmark::State& s) {
    BM_Merge(
        s, c, [](Corpus& k) { return RunMergeIntoEmpty(k, Role::kCentral); }, true);
  }));
  setup(benchmark::RegisterBenchmark("BM_MergeIntoEmpty/unit", [&c](benchmark::State& s) {
    BM_Merge(
        s, c, [](Corpus& k) { return RunMergeIntoEmpty(k, Role::kUnit); }, true);
  }));
  setup(benchmark::RegisterBenchmark("BM_MergeAllConflict", [&c](benchmark::State& s) {
    BM_Merge(s, c, RunMergeAllConflict, false);
  }));
  setup(benchmark::RegisterBenchmark("BM_BuildChangeset",
                                     [&c](benchmark::State& s) { BM_BuildChangeset(s, c); }));
}

}  // namespace
}  // namespace unitsync::bench

int main(int argc, char** argv) {
  size_t rows = unitsync::bench::kDefaultRows;
  std::string extra_pragmas;
  std::vector<char*> args;  // Ours taken out before Google Benchmark parses the rest.
  for (int i = 0; i < argc; ++i) {
    const std::string_view a(argv[i]);
    if (a.starts_with("--rows=")) {
      rows = std::stoul(std::string(a.substr(7)));
    } else if (a.starts_with("--extra_pragmas=")) {
      extra_pragmas = std::string(a.substr(16));
    } else {
      args.push_back(argv[i]);
    }
  }
  int n = static_cast<int>(args.size());
  benchmark::Initialize(&n, args.data());
  if (benchmark::ReportUnrecognizedArguments(n, args.data())) return 1;

  unitsync::bench::Stopwatch w;
  auto corpus = unitsync::bench::BuildCorpus(rows, extra_pragmas);
  if (!corpus) {
    std::fprintf(stderr, "store_bench: setup failed: %s\n", corpus.error().ToString().c_str());
    return 1;
  }
  benchmark::AddCustomContext("rows", std::to_string(rows));
  benchmark::AddCustomContext("changeset_bytes", std::to_string((*corpus)->changeset.size()));
  benchmark::AddCustomContext("sqlite", sqlite3_libversion());
  if (!extra_pragmas.empty()) benchmark::AddCustomContext("extra_pragmas", extra_pragmas);
  benchmark::AddCustomContext("setup_s", std::to_string(w.Seconds()));
  unitsync::bench::Register(**corpus);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
