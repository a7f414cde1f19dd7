// Helpers for store tests: a temporary directory per test and small
// shortcuts for writing rows and exchanging changesets.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <random>
#include <stdexcept>
#include <string>

#include "store/changeset_builder.h"
#include "store/digest.h"
#include "store/merge.h"
#include "store/replica.h"

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
