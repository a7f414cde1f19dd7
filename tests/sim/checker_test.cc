// The convergence checker must be able to fail: after a clean run converges, each
// planted violation — a change made behind the engine's back, or a push merged twice —
// is reported under the invariant it breaks, naming the row.
#include "tests/sim/checker.h"

#include <gtest/gtest.h>

#include <random>

#include "daemon/sync_executor.h"
#include "store/cursors.h"
#include "tests/sim/sql.h"
#include "tests/sim/workload.h"

namespace unitsync::sim {
namespace {

using store::testing::TempDir;
using testing::kCentral;

// Writes past the capture triggers (they stay silent while _us_applying holds a row), as
// a buggy tool or a hand-restored file would: nothing is logged or versioned.
void BehindTheEnginesBack(store::Replica& r, const std::string& sql) {
  ASSERT_TRUE(r.db().Exec("BEGIN IMMEDIATE; INSERT INTO _us_applying(flag) VALUES (1); " + sql +
                          "; DELETE FROM _us_applying; COMMIT"))
      << sql;
  ASSERT_FALSE(r.db().InTransaction()) << sql;
}

bool Found(const std::vector<Violation>& v, const std::string& invariant,
           const std::string& detail_part) {
  for (const auto& x : v) {
    if (x.invariant.rfind(invariant, 0) == 0 && x.detail.find(detail_part) != std::string::npos) {
      return true;
    }
  }
  return false;
}

std::string Dump(const std::vector<Violation>& v) {
  std::string out;
  for (const auto& x : v) out += x.invariant + ": " + x.detail + "\n";
  return out;
}

class CheckerTest : public ::testing::Test {
 protected:
  CheckerTest() : h_(dir_, 3, 42), workload_(h_, model_), checker_(h_, model_) {
    h_.SetStoreObserver([this](const testing::StoreEvent& e) {
      checker_.OnStoreEvent(e);
      if (e.at_central && std::holds_alternative<protocol::ApplyPush>(*e.work) && !e.result) {
        last_push_ = std::get<protocol::ApplyPush>(*e.work);
        last_push_unit_ = e.unit;
      }
    });
    std::mt19937_64 rng(7);
    workload_.Run(OpKind::kCentralInsertActionType, kCentral, rng, 0);
    for (int u = 0; u < 3; ++u) {
      workload_.Run(OpKind::kInsertStudent, u, rng, 0);
      workload_.Run(OpKind::kInsertStudent, u, rng, 0);
      workload_.Run(OpKind::kInsertCase, u, rng, 0);
      workload_.Run(OpKind::kInsertAction, u, rng, 0);
    }
    h_.Start();
    EXPECT_TRUE(h_.RunUntilQuiet());
    for (int u = 0; u < 3; ++u) {
      workload_.Run(OpKind::kUpdateStudent, u, rng, 1);
      workload_.Run(OpKind::kDeleteAction, u, rng, 1);
    }
    workload_.Run(OpKind::kCentralMoveStudent, kCentral, rng, 1);
    EXPECT_TRUE(h_.RunUntilQuiet());
    checker_.Observe();
  }

  // A student without cases, of unit u if it has one (at central: not private).
  std::string StudentOf(int u) {
    auto ids = QueryColumn(h_.central(),
                           "SELECT id FROM student s WHERE NOT EXISTS (SELECT 1 FROM support_case "
                           "c WHERE c.student_id = s.id) ORDER BY unit_id = ?1 DESC, id",
                           {h_.unit_id(u)});
    EXPECT_FALSE(ids.empty());
    return ids.empty() ? "" : ids[0];
  }

  const std::vector<Violation>& Final() {
    checker_.Final(dir_.File("replay.db"), 1);
    return checker_.violations();
  }

  TempDir dir_;
  testing::SyncHarness h_;
  Model model_;
  Workload workload_;
  Checker checker_;
  protocol::ApplyPush last_push_;
  int last_push_unit_ = 0;
};

TEST_F(CheckerTest, ACleanRunHasNoViolations) {
  EXPECT_TRUE(Final().empty()) << Dump(checker_.violations());
  EXPECT_GT(checker_.merges_recorded(), 3u);
}

TEST_F(CheckerTest, ARowDeletedBehindTheEnginesBackAtCentralIsALostWrite) {
  const std::string id = StudentOf(1);
  BehindTheEnginesBack(h_.central(), "DELETE FROM student WHERE id = '" + id +
                                         "'; DELETE FROM _us_clock WHERE pk = '" + id + "'");
  const auto& v = Final();
  EXPECT_TRUE(Found(v, "(1)", "student " + id)) << Dump(v);
  EXPECT_TRUE(Found(v, "(3) replicas differ", "student")) << Dump(v);
  EXPECT_TRUE(Found(v, "(3) delivery order", "student")) << Dump(v);
}

TEST_F(CheckerTest, ARowCopiedIntoAnotherUnitsScopeIsFound) {
  const std::string id = StudentOf(0);
  BehindTheEnginesBack(h_.unit(2), "INSERT INTO student(id, unit_id, pseudo_id) VALUES ('" + id +
                                       "', '" + h_.unit_id(0) + "', 'p')");
  checker_.Observe();
  EXPECT_TRUE(Found(checker_.violations(), "(6) row outside", "student " + id))
      << Dump(checker_.violations());
}

TEST_F(CheckerTest, LocalOnlyDataAtCentralIsFound) {
  const std::string id = StudentOf(2);
  BehindTheEnginesBack(h_.central(), "UPDATE student SET name = 'x' WHERE id = '" + id + "'");
  EXPECT_TRUE(Found(Final(), "(6) local-only", "student " + id)) << Dump(checker_.violations());
}

TEST_F(CheckerTest, ADeletedRowThatComesBackIsFound) {
  ASSERT_FALSE(model_.deletes.empty());
  const Delete d = model_.deletes.front();
  const int u = d.node;
  ASSERT_GE(u, 0);
  // The unit forgets the tombstone and gets the row back.
  BehindTheEnginesBack(h_.unit(u), "DELETE FROM _us_clock WHERE pk = '" + d.row.second +
                                       "'; INSERT INTO support_action(id, unit_id, case_id, "
                                       "action_type, start_on, description) SELECT '" +
                                       d.row.second + "', '" + h_.unit_id(u) +
                                       "', id, 'EA1', '2026-01-01', 'w1' FROM support_case "
                                       "LIMIT 1");
  const auto& v = Final();
  EXPECT_TRUE(Found(v, "(5) deleted row back", d.row.second + " live at " + h_.unit_id(u)))
      << Dump(v);
}

TEST_F(CheckerTest, AUnitThatLosesItsOwnWriteIsFound) {
  // Unit 0's last write to a row it owns is replaced, behind the engine's back, by a value
  // no one wrote since; the version still says the unit wrote it.
  std::string row;
  for (const auto& [key, write] : model_.last_local_write) {
    if (key.first == 0 && key.second.first == "student") row = key.second.second;
  }
  ASSERT_FALSE(row.empty());
  BehindTheEnginesBack(h_.unit(0), "UPDATE student SET grade = 'w1' WHERE id = '" + row + "'");
  checker_.Observe();
  EXPECT_TRUE(Found(checker_.violations(), "(4) read-your-writes", row))
      << Dump(checker_.violations());
}

TEST_F(CheckerTest, APushMergedTwiceIsFound) {
  ASSERT_FALSE(last_push_.envelope.empty());
  const std::string unit = h_.unit_id(last_push_unit_);
  // Central forgets that it applied the push (a cursor that did not move with the data)
  // and is handed the same envelope again.
  auto cursor = store::GetCursor(h_.central(), unit);
  ASSERT_TRUE(cursor);
  cursor->received_seq = static_cast<int64_t>(last_push_.seq) - 1;
  ASSERT_TRUE(store::ResetCursor(h_.central(), *cursor));
  daemon::CentralExecutor exec(h_.central(), unit, h_.central_keys());
  const protocol::StoreWork work = last_push_;
  checker_.OnStoreEvent({last_push_unit_, true, &work, nullptr});
  const protocol::StoreResult result = exec.Run(work);
  checker_.OnStoreEvent({last_push_unit_, true, &work, &result});
  EXPECT_TRUE(Found(checker_.violations(), "(2) applied twice", unit))
      << Dump(checker_.violations());
}

}  // namespace
}  // namespace unitsync::sim
