// Helpers for store tests: a temporary directory per test and small
// shortcuts for writing rows and exchanging changesets.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <map>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>

#include "store/changeset_builder.h"
#include "store/digest.h"
#include "store/merge.h"
#include "store/replica.h"
#include "store/sqlite.h"

namespace unitsync::store::testing {

class TempDir {
 public:
  TempDir() {
    std::random_device rd;
    // tmpfs when there is one: these tests are about logic, not fsync.
    std::error_code ec;
    const std::filesystem::path base = std::filesystem::is_directory("/dev/shm", ec)
                                           ? std::filesystem::path("/dev/shm")
                                           : std::filesystem::temp_directory_path();
    path_ = base / ("unitsync-test-" + std::to_string(rd()) + std::to_string(rd()));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string File(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

// Waits (up to 20 s, for slow sanitizer builds) until `done` holds: for work another
// thread does (store/wal_checkpointer.h). How soon is for the benchmarks.
template <typename F>
bool Eventually(F done) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

#define US_ASSERT_OK(expr)                                                   \
  do {                                                                       \
    const auto& _st = (expr);                                                \
    ASSERT_TRUE(_st.has_value()) << #expr << ": " << _st.error().ToString(); \
  } while (0)

template <typename T>
T ValueOrDie(Result<T> r, const char* what = "") {
  // Throwing fails just the current test (gtest catches it), with the reason.
  if (!r) throw std::runtime_error(std::string(what) + ": " + r.error().ToString());
  return std::move(*r);
}

inline Replica MakeReplica(const TempDir& dir, const std::string& node, Role role,
                           WallClock* clock = nullptr) {
  ReplicaOptions opts;
  opts.clock = clock;
  return ValueOrDie(Replica::Create(dir.File(node + ".db"), role, node, opts), "create replica");
}

inline void Exec(Replica& r, const std::string& sql) {
  auto st = r.db().Exec(sql);
  ASSERT_TRUE(st.has_value()) << sql << ": " << st.error().ToString();
}

// Everything `from` has after `after_seq`, as one changeset.
inline Blob Changes(Replica& from, int64_t after_seq = 0,
                    std::optional<std::string> destination = std::nullopt) {
  BuildRequest req;
  req.after_seq = after_seq;
  req.max_rows = SIZE_MAX;
  req.max_bytes = SIZE_MAX;
  req.destination_unit = std::move(destination);
  return ValueOrDie(BuildChangeset(from, req), "build").bytes;
}

inline MergeReport Apply(Replica& to, const Blob& bytes) {
  if (bytes.empty()) return {};
  return ValueOrDie(ApplyChangeset(to, bytes), "apply");
}

inline std::vector<TableDigest> Digests(Replica& r,
                                        std::optional<std::string> unit = std::nullopt) {
  return ValueOrDie(ComputeDigests(r, DigestScope{std::move(unit)}), "digest");
}

// Single value query, as text ("" for NULL or no row).
inline std::string Query(Replica& r, const std::string& sql) {
  auto stmt = ValueOrDie(r.db().Prepare(sql), "prepare");
  auto row = ValueOrDie(stmt.Step(), "step");
  return row ? stmt.ColumnText(0) : std::string();
}

}  // namespace unitsync::store::testing

namespace unitsync::store::testing {

// Every table of a database, sqlite_schema included: per table, its rows as typed text,
// sorted. Compared whole to tell that a failed operation left nothing behind; never
// printed (rows hold names and free text).
using DbDump = std::map<std::string, std::vector<std::string>>;

inline DbDump DumpDb(Db& db) {
  auto column = [&db](const std::string& sql) {
    std::vector<std::string> out;
    auto stmt = ValueOrDie(db.Prepare(sql), "prepare dump");
    while (ValueOrDie(stmt.Step(), "dump")) out.push_back(stmt.ColumnText(0));
    return out;
  };
  DbDump dump;
  dump["sqlite_schema"] = column(
      "SELECT type || '|' || name || '|' || tbl_name || '|' || quote(sql) FROM sqlite_schema");
  for (const auto& t : column("SELECT name FROM sqlite_schema WHERE type = 'table'")) {
    std::string row;  // quote(): typed literals, NULL and blobs told apart from text
    for (const auto& c : column("SELECT name FROM pragma_table_info('" + t + "')")) {
      row += (row.empty() ? "" : " || '|' || ") + std::string("quote(\"") + c + "\")";
    }
    dump[t] = column("SELECT " + row + " FROM \"" + t + "\"");
  }
  dump["user_version"] = column("PRAGMA user_version");
  for (auto& [_, rows] : dump) std::sort(rows.begin(), rows.end());
  return dump;
}

// Where two dumps differ, by table name and row counts only (never values); "" if equal.
inline std::string DumpDiff(const DbDump& before, const DbDump& after) {
  std::string out;
  std::set<std::string> names;
  for (const auto& [t, _] : before) names.insert(t);
  for (const auto& [t, _] : after) names.insert(t);
  for (const auto& t : names) {
    auto b = before.find(t);
    auto a = after.find(t);
    const size_t nb = b == before.end() ? 0 : b->second.size();
    const size_t na = a == after.end() ? 0 : a->second.size();
    if (b == before.end() || a == after.end() || b->second != a->second) {
      out +=
          " " + t + " (" + std::to_string(nb) + " rows before, " + std::to_string(na) + " after)";
    }
  }
  return out;
}

}  // namespace unitsync::store::testing

namespace unitsync::store::testing {

// The codes a fault sweep cycles through (call N fails with kSweepCodes[N % 4]), and the
// Errc each must reach the caller as.
inline constexpr int kSweepCodes[] = {SQLITE_IOERR, SQLITE_FULL, SQLITE_BUSY, SQLITE_CORRUPT};
inline Errc SweepErrc(int rc) {
  switch (rc) {
    case SQLITE_FULL:
      return Errc::kDiskFull;
    case SQLITE_BUSY:
      return Errc::kBusy;
    case SQLITE_CORRUPT:
      return Errc::kCorrupt;
    default:
      return Errc::kIo;
  }
}

template <typename T>
Status AsStatus(const Result<T>& r) {
  if (!r) return tl::unexpected(r.error());
  return {};
}
inline Status AsStatus(const Status& s) { return s; }

struct SweepStats {
  int64_t faults = 0;  // runs with a failed call: the operation's fallible SQLite calls
  std::map<SqliteCall, int64_t> by_call;
};

// The fault sweep (SQLite's I/O-error loops, leveldb's FaultInjectionTestEnv): runs
// `op` with its N-th SQLite call failing, N = 1, 2, ..., until a run fails none, which
// must succeed. Each run with a failure must return that failure (its Errc), leave no
// transaction open, and leave `db` exactly as before: the operation is atomic.
// `may_absorb` names failures the operation survives by design (a retried busy step, a
// best-effort call after its commit) or reports after its commit (snapshot_apply.h);
// such a run may succeed, or fail with its Errc, and ends the sweep when it changed the
// database. Operations that stamp captured writes first commit the stamp
// on its own (store/DESIGN.md): sweep them on a replica with nothing left to stamp.
template <typename Op>
SweepStats SweepFaults(Db& db, Op&& op,
                       const std::function<bool(const SqliteFaultPlan&)>& may_absorb = {}) {
  SweepStats stats;
  const DbDump before = DumpDb(db);
  for (int64_t n = 1;; ++n) {
    SqliteFaultPlan plan;
    plan.fail_at = n;
    plan.rc = kSweepCodes[n % 4];
    Status st;
    {
      ScopedSqliteFaults faults(plan);
      st = AsStatus(op());
    }
    if (!plan.injected) {
      EXPECT_TRUE(st) << "no call failed (" << n - 1 << " counted), yet: " << st.error().ToString();
      std::string calls;
      for (const auto& [call, count] : stats.by_call) {
        calls += " " + std::string(SqliteCallName(call)) + "=" + std::to_string(count);
      }
      std::printf("[ sweep    ] %lld runs with a failed call:%s\n",
                  static_cast<long long>(stats.faults), calls.c_str());
      return stats;
    }
    ++stats.faults;
    ++stats.by_call[plan.injected_call];
    const std::string where = "call " + std::to_string(n) + " of " + std::to_string(plan.calls) +
                              " (" + std::string(SqliteCallName(plan.injected_call)) +
                              ") failing with " + sqlite3_errstr(plan.rc);
    EXPECT_FALSE(db.InTransaction()) << where << ": a transaction was left open";
    const std::string diff = DumpDiff(before, DumpDb(db));
    if (st) {
      if (!may_absorb || !may_absorb(plan)) {
        ADD_FAILURE() << where << ": the operation reported success";
        return stats;
      }
      if (!diff.empty()) return stats;  // it did its work despite the failure
    } else {
      EXPECT_EQ(st.error().code, SweepErrc(plan.rc)) << where << ": " << st.error().ToString();
      if (!diff.empty() && may_absorb && may_absorb(plan)) return stats;  // failed past its commit
      EXPECT_EQ(diff, "") << where << ": the database changed";
    }
    if (::testing::Test::HasFailure()) return stats;
  }
}

}  // namespace unitsync::store::testing
