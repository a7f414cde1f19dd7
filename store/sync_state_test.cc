#include "store/sync_state.h"

#include "store/change_log.h"
#include "store/test_util.h"

namespace unitsync::store {
namespace {

using testing::Exec;
using testing::Query;
using testing::TempDir;
using testing::ValueOrDie;

constexpr int64_t kT0 = 1'780'000'000'000;

Blob Sealed(uint8_t tag) { return Blob{0xde, 0xad, tag}; }

void ExpectInvalid(const Status& st, const char* what) {
  ASSERT_FALSE(st) << what;
  EXPECT_EQ(st.error().code, Errc::kInvalidArgument) << what;
}

class OutboxTest : public ::testing::Test {
 protected:
  OutboxTest()
      : clock_(kT0), unit_(testing::MakeReplica(dir_, "unit-0001", Role::kUnit, &clock_)) {}

  void Reopen() {
    const std::string path = unit_.path();
    ReplicaOptions o;
    o.clock = &clock_;
    unit_ = ValueOrDie(Replica::Open(path, o));
  }

  std::vector<int64_t> LogSeqs() {
    std::vector<int64_t> out;
    for (const LoggedChange& c : ValueOrDie(ListChanges(unit_, 0, 100))) out.push_back(c.seq);
    return out;
  }

  TempDir dir_;
  ManualWallClock clock_;
  Replica unit_;
};

TEST_F(OutboxTest, AppendListAckKeepTheirInvariantsAndSurviveReopen) {
  for (int i = 0; i < 6; ++i) {
    Exec(unit_, "INSERT INTO student(id, unit_id, pseudo_id) VALUES ('s" + std::to_string(i) +
                    "', 'unit-0001', 'p')");
  }
  US_ASSERT_OK(StampPendingChangesNow(unit_));
  OutboxState s = ValueOrDie(GetOutboxState(unit_));
  EXPECT_EQ(s.built_seq, 0);
  EXPECT_EQ(s.pending, 0);

  ExpectInvalid(AppendOutbox(unit_, {2, 3, 3, Sealed(2)}), "gap in push seqs");
  US_ASSERT_OK(AppendOutbox(unit_, {1, 3, 3, Sealed(1)}));
  ExpectInvalid(AppendOutbox(unit_, {1, 3, 3, Sealed(1)}), "repeated push seq");
  ExpectInvalid(AppendOutbox(unit_, {2, 2, 1, Sealed(2)}), "log seq going back");
  US_ASSERT_OK(AppendOutbox(unit_, {2, 5, 2, Sealed(2)}));
  US_ASSERT_OK(AppendOutbox(unit_, {3, 6, 1, Sealed(3)}));

  const std::vector<OutboxEntry> all = ValueOrDie(ListOutbox(unit_, 0, 10));
  EXPECT_EQ(all, (std::vector<OutboxEntry>{
                     {1, 3, 3, Sealed(1)}, {2, 5, 2, Sealed(2)}, {3, 6, 1, Sealed(3)}}));
  EXPECT_EQ(ValueOrDie(ListOutbox(unit_, 1, 1)), (std::vector<OutboxEntry>{{2, 5, 2, Sealed(2)}}));
  s = ValueOrDie(GetOutboxState(unit_));
  EXPECT_EQ(s.built_seq, 3);
  EXPECT_EQ(s.built_log_seq, 6);
  EXPECT_EQ(s.pending, 3);

  ExpectInvalid(AckOutbox(unit_, 4), "ack of a push never built");
  US_ASSERT_OK(AckOutbox(unit_, 1));
  EXPECT_EQ(LogSeqs(), (std::vector<int64_t>{4, 5, 6})) << "trimmed up to log seq 3, no further";
  US_ASSERT_OK(AckOutbox(unit_, 1));  // Repeated: nothing changes.
  EXPECT_EQ(ValueOrDie(GetOutboxState(unit_)).pending, 2);

  Reopen();
  s = ValueOrDie(GetOutboxState(unit_));
  EXPECT_EQ(s.built_seq, 3);
  EXPECT_EQ(s.built_log_seq, 6);
  EXPECT_EQ(s.acked_seq, 1);
  EXPECT_EQ(s.acked_log_seq, 3);
  EXPECT_EQ(ValueOrDie(ListOutbox(unit_, 0, 10)).front().seq, 2);

  US_ASSERT_OK(AckOutbox(unit_, 3));
  s = ValueOrDie(GetOutboxState(unit_));
  EXPECT_EQ(s.acked_seq, 3);
  EXPECT_EQ(s.acked_log_seq, 6);
  EXPECT_EQ(s.pending, 0);
  EXPECT_EQ(LogSeqs(), (std::vector<int64_t>{6})) << "the newest entry always stays";
  US_ASSERT_OK(AckOutbox(unit_, 2));  // Late: never backwards.
  EXPECT_EQ(ValueOrDie(GetOutboxState(unit_)).acked_log_seq, 6);
}

TEST_F(OutboxTest, NegativeCountsAreRefusedAndChangeNothing) {
  Exec(unit_, "INSERT INTO student(id, unit_id, pseudo_id) VALUES ('s', 'unit-0001', 'p')");
  US_ASSERT_OK(StampPendingChangesNow(unit_));
  US_ASSERT_OK(AppendOutbox(unit_, {1, 1, 1, Sealed(1)}));
  const testing::DbDump before = testing::DumpDb(unit_.db());
  ExpectInvalid(AppendOutbox(unit_, {2, 1, -1, Sealed(2)}), "negative row count");
  ExpectInvalid(ResetOutbox(unit_, -1), "negative applied push seq");
  EXPECT_EQ(testing::DumpDiff(before, testing::DumpDb(unit_.db())), "");
  EXPECT_EQ(ValueOrDie(GetOutboxState(unit_)).pending, 1);
}

TEST_F(OutboxTest, AckNeverTrimsWhatIsNotStamped) {
  Exec(unit_, "INSERT INTO student(id, unit_id, pseudo_id) VALUES ('s', 'unit-0001', 'p')");
  Exec(unit_, "UPDATE student SET grade = '1' WHERE id = 's'");
  US_ASSERT_OK(AppendOutbox(unit_, {1, 2, 1, Sealed(1)}));  // A caller that skipped stamping.
  US_ASSERT_OK(AckOutbox(unit_, 1));
  EXPECT_EQ(LogSeqs(), (std::vector<int64_t>{1, 2}));
}

TEST_F(OutboxTest, ResetRequeuesEveryUnitRowWithUnchangedVersions) {
  // A central-scope row the unit received, its own rows, a tombstone and a
  // private row.
  auto central = testing::MakeReplica(dir_, "central", Role::kCentral, &clock_);
  Exec(central,
       "INSERT INTO action_type(id, code, name, level, valid_from) "
       "VALUES ('t1', 'EA', 'Stöd', 'ea', '2026-01-01')");
  testing::Apply(unit_, testing::Changes(central, 0, "unit-0001"));
  Exec(unit_,
       "INSERT INTO student(id, unit_id, pseudo_id) VALUES ('s1', 'unit-0001', 'p1');"
       "INSERT INTO student(id, unit_id, pseudo_id) VALUES ('s2', 'unit-0001', 'p2');"
       "INSERT INTO student(id, unit_id, pseudo_id, protected_identity) "
       "VALUES ('hidden', 'unit-0001', 'px', 1);"
       "INSERT INTO support_case(id, unit_id, student_id, opened_on) "
       "VALUES ('c1', 'unit-0001', 's1', '2026-01-10');");
  clock_.Advance(1000);
  Exec(unit_, "DELETE FROM support_case WHERE id = 'c1'");
  BuildRequest req;
  req.max_rows = SIZE_MAX;
  BuiltChangeset first = ValueOrDie(BuildChangeset(unit_, req));
  US_ASSERT_OK(AppendOutbox(unit_, {1, first.last_seq, 3, Sealed(1)}));
  US_ASSERT_OK(AckOutbox(unit_, 1));
  Exec(unit_, "UPDATE student SET grade = '3' WHERE id = 's2'");
  req.after_seq = first.last_seq;
  BuiltChangeset second = ValueOrDie(BuildChangeset(unit_, req));
  US_ASSERT_OK(AppendOutbox(unit_, {2, second.last_seq, 1, Sealed(2)}));
  const std::string clocks_before =
      Query(unit_,
            "SELECT group_concat(pk || hex(versions) || deleted || tomb_hlc, ';') FROM "
            "(SELECT * FROM _us_clock ORDER BY tbl, pk)");

  // Central lost everything after our push 7 (say): numbering continues at 8.
  US_ASSERT_OK(ResetOutbox(unit_, 7));
  OutboxState s = ValueOrDie(GetOutboxState(unit_));
  EXPECT_EQ(s.pending, 0);
  EXPECT_EQ(s.built_seq, 7);
  EXPECT_EQ(s.acked_seq, 7);
  EXPECT_EQ(s.built_log_seq, second.last_seq);
  EXPECT_EQ(s.acked_log_seq, first.last_seq);
  EXPECT_EQ(Query(unit_,
                  "SELECT group_concat(pk) FROM (SELECT pk FROM _us_changes WHERE op = 'R' "
                  "ORDER BY pk)"),
            "c1,hidden,s1,s2")
      << "every unit-scope clock record, tombstones included; no central-scope rows";
  ExpectInvalid(AppendOutbox(unit_, {3, s.built_log_seq, 0, Sealed(3)}), "old numbering");

  // The next build after built_log_seq carries our whole state, as it was.
  req.after_seq = s.built_log_seq;
  BuiltChangeset resend = ValueOrDie(BuildChangeset(unit_, req));
  Changeset cs = ValueOrDie(DecodeChangeset(resend.bytes));
  std::vector<std::string> rows;
  for (const auto& t : cs.tables) {
    for (const auto& r : t.rows) rows.push_back(t.table + "/" + r.pk + (r.tombstone ? "+" : ""));
  }
  std::sort(rows.begin(), rows.end());
  EXPECT_EQ(rows, (std::vector<std::string>{"student/s1", "student/s2", "support_case/c1+"}));
  EXPECT_EQ(Query(unit_,
                  "SELECT group_concat(pk || hex(versions) || deleted || tomb_hlc, ';') FROM "
                  "(SELECT * FROM _us_clock ORDER BY tbl, pk)"),
            clocks_before)
      << "a resend makes no new versions";
  US_ASSERT_OK(AppendOutbox(unit_, {8, resend.last_seq, 3, Sealed(8)}));

  // A fresh central takes the resend and holds what the unit holds.
  auto fresh = testing::MakeReplica(dir_, "central-2", Role::kCentral, &clock_);
  ApplyOptions o;
  o.authorize_unit = "unit-0001";
  EXPECT_TRUE(ValueOrDie(ApplyChangeset(fresh, resend.bytes, o)).rejected.empty());
  const auto at_central = testing::Digests(fresh, "unit-0001");
  const auto at_unit = testing::Digests(unit_, "unit-0001");
  for (size_t i = 0; i < at_unit.size(); ++i) {
    if (unit_.manifest().Find(at_unit[i].table)->scope == Scope::kUnit) {
      EXPECT_EQ(at_central[i], at_unit[i]);
    }
  }

  Reopen();
  EXPECT_EQ(ValueOrDie(GetOutboxState(unit_)).built_seq, 8);
}

TEST(Generation, CentralHasOneUnitsDoNot) {
  TempDir dir;
  auto a = testing::MakeReplica(dir, "central", Role::kCentral);
  auto b = testing::MakeReplica(dir, "central-b", Role::kCentral);
  const std::string ga = ValueOrDie(GetGeneration(a));
  EXPECT_EQ(ga.rfind("g-", 0), 0u);
  EXPECT_TRUE(IsUuidV7(ga.substr(2))) << ga;
  EXPECT_NE(ValueOrDie(GetGeneration(b)), ga);

  US_ASSERT_OK(NewGeneration(a));
  const std::string ga2 = ValueOrDie(GetGeneration(a));
  EXPECT_NE(ga2, ga);
  const std::string path = a.path();
  a = ValueOrDie(Replica::Open(path));
  EXPECT_EQ(ValueOrDie(GetGeneration(a)), ga2);

  auto unit = testing::MakeReplica(dir, "unit-0001", Role::kUnit);
  auto g = GetGeneration(unit);
  ASSERT_FALSE(g);
  EXPECT_EQ(g.error().code, Errc::kInvalidArgument);
  ExpectInvalid(NewGeneration(unit), "NewGeneration at a unit");
  EXPECT_EQ(testing::Query(unit, "SELECT count(*) FROM _us_meta WHERE key = 'generation'"), "0");

  EXPECT_EQ(ValueOrDie(GetSeenGeneration(unit)), "");
  US_ASSERT_OK(SetSeenGeneration(unit, ga2));
  const std::string upath = unit.path();
  unit = ValueOrDie(Replica::Open(upath));
  EXPECT_EQ(ValueOrDie(GetSeenGeneration(unit)), ga2);
}

}  // namespace
}  // namespace unitsync::store
