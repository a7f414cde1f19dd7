// A replica whose engine metadata or clock records hold garbage (a bad sector, a hand
// edit): every operation that reads them fails with kCorrupt, naming what is damaged and
// never the bytes found, changes nothing, and does not crash.
#include "store/change_log.h"
#include "store/cursors.h"
#include "store/inspect.h"
#include "store/log_gc.h"
#include "store/merge.h"
#include "store/star_fixture.h"
#include "store/sync_state.h"

namespace unitsync::store {
namespace {

using testing::DumpDb;
using testing::DumpDiff;
using testing::Exec;
using testing::ValueOrDie;

// What std::stoll threw on (a crash: the store thread does not catch) or read as a
// prefix ("2x" as 2, " 1" as 1, "-1" as -1).
const char* const kBadNumbers[] = {"", "abc", "2x", "-1", " 1", "+1", "99999999999999999999999"};

class CorruptReplicaTest : public testing::StarTest {
 protected:
  void SetUp() override {
    Exec(u1_,
         "INSERT INTO student(id, unit_id, pseudo_id, name) VALUES ('s', 'unit-0001', 'ps', "
         "'Alva');"
         "INSERT INTO support_case(id, unit_id, student_id, opened_on) "
         "VALUES ('c', 'unit-0001', 's', '2026-01-10');");
    PushReport(u1_);
    Pull(u1_, FanOut(u1_));
    clock_.Advance(1000);
  }

  // Overwrites one _us_meta value behind the engine's back.
  static void Damage(Replica& r, const std::string& key, const std::string& bad) {
    auto st = r.db().Prepare("UPDATE _us_meta SET value = ?2 WHERE key = ?1");
    auto stmt = ValueOrDie(std::move(st));
    stmt.BindText(1, key);
    stmt.BindText(2, bad);
    ASSERT_TRUE(stmt.Run());
    ASSERT_EQ(r.db().Changes(), 1) << key << " is not in _us_meta";
  }

  template <typename T>
  static void ExpectCorrupt(const Result<T>& r, const std::string& key) {
    ASSERT_FALSE(r.has_value()) << "read a damaged '" << key << "' as a number";
    EXPECT_EQ(r.error().code, Errc::kCorrupt) << r.error().ToString();
    EXPECT_NE(r.error().message.find("'" + key + "'"), std::string::npos) << r.error().message;
    EXPECT_FALSE(r.error().hint.empty());
  }
};

TEST_F(CorruptReplicaTest, ADamagedStampedSeqFailsStampBuildTrimAndMergeAndChangesNothing) {
  Exec(u1_, "UPDATE support_case SET opened_on = '2026-02-02' WHERE id = 'c'");
  for (const char* bad : kBadNumbers) {
    SCOPED_TRACE(std::string("stamped_seq='") + bad + "'");
    Damage(u1_, "stamped_seq", bad);
    const testing::DbDump before = DumpDb(u1_.db());
    ExpectCorrupt(StampPendingChangesNow(u1_), "stamped_seq");
    ExpectCorrupt(BuildChangeset(u1_, BuildRequest{}), "stamped_seq");
    ExpectCorrupt(TrimChangeLog(u1_, 100), "stamped_seq");
    ExpectCorrupt(ApplyChangeset(u1_, FanOut(u1_)), "stamped_seq");
    EXPECT_EQ(DumpDiff(before, DumpDb(u1_.db())), "");
  }
}

TEST_F(CorruptReplicaTest, ADamagedOutboxOrSeedNumberIsCorruptNotMisread) {
  for (const char* key :
       {kMetaPushBuiltSeq, kMetaPushBuiltLogSeq, kMetaPushAckedSeq, kMetaPushAckedLogSeq}) {
    for (const char* bad : kBadNumbers) {
      SCOPED_TRACE(std::string(key) + "='" + bad + "'");
      Damage(u1_, key, bad);
      ExpectCorrupt(GetOutboxState(u1_), key);
      Damage(u1_, key, "1");
    }
  }
  US_ASSERT_OK(RequestSeed(u1_));
  for (const char* key : {"seed_wanted", "seed_next", "seed_head", "seed_rows", "seed_total"}) {
    auto present = ValueOrDie(u1_.GetMeta(key));
    if (!present) continue;  // a key RequestSeed does not write
    Damage(u1_, key, "2x");
    ExpectCorrupt(GetSeedState(u1_), key);
    Damage(u1_, key, *present);
  }
}

TEST_F(CorruptReplicaTest, ADamagedAckedLogSeqFailsAnEvictionAtTheUnit) {
  // The eviction checks the unit's unacknowledged work against push_acked_log_seq.
  Exec(central_, "UPDATE student SET unit_id = 'unit-0002' WHERE id = 's'");
  const Changeset cs = FanOut(u1_);
  ASSERT_EQ(Rows(cs), std::vector<std::string>{"student/s:evict"});
  Damage(u1_, kMetaPushAckedLogSeq, "abc");
  const testing::DbDump before = DumpDb(u1_.db());
  ExpectCorrupt(ApplyChangeset(u1_, cs), kMetaPushAckedLogSeq);
  EXPECT_EQ(DumpDiff(before, DumpDb(u1_.db())), "");
  Damage(u1_, kMetaPushAckedLogSeq, "0");
  EXPECT_EQ(ValueOrDie(ApplyChangeset(u1_, cs)).rows_evicted, 1u);
}

TEST_F(CorruptReplicaTest, AnUndecodableClockRecordFailsEveryReaderWithKCorrupt) {
  Exec(u1_, "UPDATE _us_clock SET versions = x'c1' WHERE pk = 'c'");
  Exec(u1_, "UPDATE support_case SET opened_on = '2026-03-03' WHERE id = 'c'");
  auto history = GetRowHistory(u1_, "support_case", "c");
  ASSERT_FALSE(history);
  EXPECT_EQ(history.error().code, Errc::kCorrupt);
  auto digest = ComputeDigests(u1_);
  ASSERT_FALSE(digest);
  EXPECT_EQ(digest.error().code, Errc::kCorrupt);
  // Stamping the local write reads the damaged record: the stamp fails, whole.
  const testing::DbDump before = DumpDb(u1_.db());
  auto stamp = StampPendingChangesNow(u1_);
  ASSERT_FALSE(stamp);
  EXPECT_EQ(stamp.error().code, Errc::kCorrupt);
  EXPECT_NE(stamp.error().message.find("_us_clock support_case"), std::string::npos)
      << stamp.error().message;
  EXPECT_EQ(DumpDiff(before, DumpDb(u1_.db())), "");
}

TEST_F(CorruptReplicaTest, DamagedLogGcMetadataFailsAGcPassAndAHelloAndChangesNothing) {
  ASSERT_FALSE(ValueOrDie(RecordHello(central_, "unit-0001", 2, 1)));
  ValueOrDie(CollectLogGarbage(central_, LogGcPolicy{}));
  clock_.Advance(1000);
  auto value_of = [&](const std::string& key) { return *ValueOrDie(central_.GetMeta(key)); };
  // Each damaged value, then the next with the good one back: both readers fail whole.
  auto expect_corrupt = [&](const std::string& key, const std::string& bad, bool hello_reads) {
    SCOPED_TRACE(key + "='" + bad + "'");
    const std::string good = value_of(key);
    Damage(central_, key, bad);
    const testing::DbDump before = DumpDb(central_.db());
    ExpectCorrupt(CollectLogGarbage(central_, LogGcPolicy{}), key);
    if (hello_reads) ExpectCorrupt(RecordHello(central_, "unit-0001", 2, 1), key);
    EXPECT_EQ(DumpDiff(before, DumpDb(central_.db())), "");
    Damage(central_, key, good);
  };
  // peer_hello/<unit> is "pull built seen_ms".
  for (const char* malformed : {"", "1", "1 2", "1,2,3"}) {
    expect_corrupt("peer_hello/unit-0001", malformed, true);
  }
  for (const char* bad : kBadNumbers) {
    expect_corrupt("peer_hello/unit-0001", std::string(bad) + " 1 1", true);
    expect_corrupt("peer_hello/unit-0001", std::string("1 1 ") + bad, true);
    expect_corrupt("peer_safe/unit-0001", bad, true);
    expect_corrupt("log_trimmed_upto", bad, true);
  }
  // log_gc_marks is "ms:head,ms:head,..."; only a GC pass reads it.
  for (const char* malformed : {"1", "1:2,3", "1;2"}) {
    expect_corrupt("log_gc_marks", malformed, false);
  }
  for (const char* bad : kBadNumbers) {
    expect_corrupt("log_gc_marks", std::string(bad) + ":1", false);
    expect_corrupt("log_gc_marks", std::string("1:") + bad, false);
  }
  // With every value good again, both work.
  EXPECT_TRUE(CollectLogGarbage(central_, LogGcPolicy{}));
  EXPECT_TRUE(RecordHello(central_, "unit-0001", 2, 1));
}

TEST_F(CorruptReplicaTest, ALostGenerationOrOutboxEntryOrADamagedPeerBuiltIsCorrupt) {
  // Central's generation: empty, then gone; a new one repairs it.
  Damage(central_, kMetaGeneration, "");
  ExpectCorrupt(GetGeneration(central_), kMetaGeneration);
  Exec(central_, "DELETE FROM _us_meta WHERE key = 'generation'");
  ExpectCorrupt(GetGeneration(central_), kMetaGeneration);
  US_ASSERT_OK(NewGeneration(central_));
  EXPECT_TRUE(GetGeneration(central_));

  // What a unit said it built, as central remembers it.
  US_ASSERT_OK(SetPeerBuilt(central_, "unit-0001", 4));
  for (const char* bad : kBadNumbers) {
    SCOPED_TRACE(std::string("peer_built='") + bad + "'");
    Damage(central_, "peer_built/unit-0001", bad);
    ExpectCorrupt(GetPeerBuilt(central_, "unit-0001"), "peer_built/unit-0001");
  }
  US_ASSERT_OK(SetPeerBuilt(central_, "unit-0001", 5));
  EXPECT_EQ(ValueOrDie(GetPeerBuilt(central_, "unit-0001")), 5);

  // A built push whose outbox row is gone: its acknowledgement cannot say how far the
  // change log may be trimmed, and changes nothing.
  Exec(u1_, "UPDATE support_case SET opened_on = '2026-02-02' WHERE id = 'c'");
  US_ASSERT_OK(StampPendingChangesNow(u1_));
  const OutboxState out = ValueOrDie(GetOutboxState(u1_));
  BuildRequest req;
  req.after_seq = out.built_log_seq;
  const BuiltChangeset built = ValueOrDie(BuildChangeset(u1_, req));
  US_ASSERT_OK(AppendOutbox(
      u1_, {out.built_seq + 1, built.last_seq, static_cast<int64_t>(built.rows), built.bytes}));
  Exec(u1_, "DELETE FROM _us_outbox");
  const testing::DbDump before = DumpDb(u1_.db());
  auto acked = AckOutbox(u1_, out.built_seq + 1);
  ASSERT_FALSE(acked);
  EXPECT_EQ(acked.error().code, Errc::kCorrupt) << acked.error().ToString();
  EXPECT_NE(acked.error().message.find("outbox lacks built push"), std::string::npos);
  EXPECT_FALSE(acked.error().hint.empty());
  EXPECT_EQ(DumpDiff(before, DumpDb(u1_.db())), "");
}

TEST_F(CorruptReplicaTest, ARowGoneBehindTheEnginesBackFailsADigestWithKCorrupt) {
  // Deleted with the capture triggers silenced, as only the engine's own apply does: the
  // clock still holds the row as live, and no delete was logged.
  Exec(u1_,
       "INSERT INTO _us_applying(flag) VALUES (1);"
       "DELETE FROM support_case WHERE id = 'c';"
       "DELETE FROM _us_applying");
  auto digest = ComputeDigests(u1_);
  ASSERT_FALSE(digest);
  EXPECT_EQ(digest.error().code, Errc::kCorrupt) << digest.error().ToString();
  EXPECT_NE(digest.error().message.find("table support_case lacks row c that _us_clock has"),
            std::string::npos)
      << digest.error().message;
  EXPECT_FALSE(digest.error().hint.empty());
}

TEST_F(CorruptReplicaTest, AReplicaLackingAnEngineKeyDoesNotOpen) {
  ReplicaOptions o;
  o.clock = &clock_;
  for (const char* key : {"role", "node_id", "engine_version", "schema_version", "hlc"}) {
    SCOPED_TRACE(key);
    const std::string value = *ValueOrDie(u2_.GetMeta(key));
    Exec(u2_, std::string("DELETE FROM _us_meta WHERE key = '") + key + "'");
    auto opened = Replica::Open(u2_.path(), o);
    ASSERT_FALSE(opened);
    EXPECT_EQ(opened.error().code, Errc::kCorrupt) << opened.error().ToString();
    EXPECT_NE(opened.error().message.find(std::string("lacks '") + key + "'"), std::string::npos)
        << opened.error().message;
    US_ASSERT_OK(u2_.SetMeta(key, value));
    EXPECT_TRUE(Replica::Open(u2_.path(), o)) << "whole again";
  }
  Damage(u2_, "role", "archive");
  auto opened = Replica::Open(u2_.path(), o);
  ASSERT_FALSE(opened);
  EXPECT_EQ(opened.error().code, Errc::kCorrupt) << opened.error().ToString();
  EXPECT_NE(opened.error().message.find("unknown role"), std::string::npos);
}

}  // namespace
}  // namespace unitsync::store
