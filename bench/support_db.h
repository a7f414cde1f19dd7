// The support rows of bench/support_rows.h in real database files: a temp dir
// that cleans up after itself, and the inserts every benchmark uses to fill a
// replica or a plain baseline database with them (one code path for both, so
// a comparison measures the engine, not the loader).
#pragma once

#include <cstddef>
#include <filesystem>
#include <random>
#include <string>
#include <system_error>
#include <vector>

#include "bench/bench_try.h"
#include "bench/support_rows.h"
#include "common/error.h"
#include "store/sqlite.h"

namespace unitsync::bench {

inline constexpr const char* kInsertActionSql =
    "INSERT INTO support_action(id, unit_id, case_id, action_type, description, responsible, "
    "provider, start_on, end_on, status) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)";

// A fresh directory under the system temp dir, removed with everything in it
// when the object dies. Neither copyable nor movable.
class TempDir {
 public:
  TempDir() {
    std::random_device rd;
    path_ = std::filesystem::temp_directory_path() / ("unitsync-bench-" + std::to_string(rd()));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string File(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

// The students and cases `d.actions` reference, in one transaction.
inline Status InsertParents(store::Db& db, const SupportData& d) {
  auto tx = store::Transaction::Begin(db);
  if (!tx) return tl::unexpected(tx.error());
  auto student = db.Prepare(
      "INSERT INTO student(id, unit_id, pseudo_id, birth_year, grade) VALUES (?1, ?2, ?3, ?4, ?5)");
  if (!student) return tl::unexpected(student.error());
  auto kase = db.Prepare(
      "INSERT INTO support_case(id, unit_id, student_id, opened_on, reason) "
      "VALUES (?1, ?2, ?3, '2026-01-10', 'Svårigheter med läsförståelse och koncentration')");
  if (!kase) return tl::unexpected(kase.error());
  for (size_t i = 0; i < d.case_ids.size(); ++i) {
    student->Reset();
    student->BindText(1, d.student_ids[i]);
    student->BindText(2, d.unit_id);
    student->BindText(3, "pseudo-" + std::to_string(i));
    student->BindInt(4, 2010 + static_cast<int64_t>(i % 6));
    student->BindText(5, std::to_string(4 + i % 6));
    BENCH_TRY(student->Run());
    kase->Reset();
    kase->BindText(1, d.case_ids[i]);
    kase->BindText(2, d.unit_id);
    kase->BindText(3, d.student_ids[i]);
    BENCH_TRY(kase->Run());
  }
  return tx->Commit();
}

// The same code path for the baseline and the replica: one prepared
// statement, a commit every `batch` rows.
inline Status InsertActions(store::Db& db, const std::vector<SupportActionRow>& rows,
                            size_t batch) {
  auto stmt = db.Prepare(kInsertActionSql);
  if (!stmt) return tl::unexpected(stmt.error());
  for (size_t start = 0; start < rows.size(); start += batch) {
    auto tx = store::Transaction::Begin(db);
    if (!tx) return tl::unexpected(tx.error());
    const size_t end = rows.size() - start > batch ? start + batch : rows.size();
    for (size_t i = start; i < end; ++i) {
      const SupportActionRow& r = rows[i];
      stmt->Reset();
      stmt->BindText(1, r.id);
      stmt->BindText(2, r.unit_id);
      stmt->BindText(3, r.case_id);
      stmt->BindText(4, r.action_type);
      stmt->BindText(5, r.description);
      stmt->BindText(6, r.responsible);
      stmt->BindText(7, r.provider);
      stmt->BindText(8, r.start_on);
      if (r.end_on.empty()) {
        stmt->BindNull(9);
      } else {
        stmt->BindText(9, r.end_on);
      }
      stmt->BindText(10, r.status);
      BENCH_TRY(stmt->Run());
    }
    BENCH_TRY(tx->Commit());
  }
  return {};
}

}  // namespace unitsync::bench
