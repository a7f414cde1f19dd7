// The executors on real replicas: sealed pushes and fan-out open only where they were
// sealed for; a replayed or re-numbered envelope changes nothing.
#include "daemon/sync_executor.h"

#include <gtest/gtest.h>

#include <array>

#include "protocol/verify.h"
#include "store/change_log.h"
#include "store/cursors.h"
#include "store/sync_state.h"
#include "store/test_util.h"

namespace unitsync::daemon {
namespace {

using protocol::ApplyOutcome;
using store::testing::Digests;
using store::testing::Exec;
using store::testing::MakeReplica;
using store::testing::Query;
using store::testing::TempDir;
using store::testing::ValueOrDie;

class Executors : public ::testing::Test {
 protected:
  Executors()
      : central_(MakeReplica(dir_, "central", store::Role::kCentral)),
        unit_(MakeReplica(dir_, "unit-0001", store::Role::kUnit)) {
    std::array<uint8_t, protocol::kUnitSecretSize> secret{};
    secret.fill(0x5a);  // TEST secret
    EXPECT_TRUE(unit_keys_.Add("unit-0001", secret, 1));
    EXPECT_TRUE(central_keys_.Add("unit-0001", secret, 1));
  }

  void Write(const std::string& id, int grade) {
    Exec(unit_, "INSERT INTO student(id, unit_id, pseudo_id, grade) VALUES ('" + id +
                    "', 'unit-0001', 'p', " + std::to_string(grade) + ")");
  }

  // The unit's next pushes, built, sealed and spooled.
  std::vector<protocol::PushesReady::Entry> Fetch(uint64_t after, uint32_t limit = 8) {
    auto r = unit_exec_.Run(protocol::FetchPushes{after, limit});
    auto* ready = std::get_if<protocol::PushesReady>(&r);
    EXPECT_TRUE(ready && ready->ok) << (ready ? ready->error : "wrong result");
    return ready ? ready->entries : std::vector<protocol::PushesReady::Entry>{};
  }

  protocol::PushApplied Push(uint64_t seq, const protocol::Bytes& envelope) {
    auto r = central_exec_.Run(protocol::ApplyPush{seq, envelope});
    return std::get<protocol::PushApplied>(r);
  }

  protocol::DigestsComputed UnitDigests() {
    auto r = unit_exec_.Run(protocol::ComputeDigests{1, true});
    auto computed = std::get<protocol::DigestsComputed>(r);
    EXPECT_TRUE(computed.ok) << computed.error;
    return computed;
  }
  protocol::DigestsComputed CentralDigests() {
    auto r = central_exec_.Run(protocol::ComputeDigests{1, true});
    auto computed = std::get<protocol::DigestsComputed>(r);
    EXPECT_TRUE(computed.ok) << computed.error;
    return computed;
  }
  const protocol::TableDigest* Find(const protocol::DigestsComputed& d, const std::string& table) {
    for (const auto& t : d.tables) {
      if (t.table == table) return &t;
    }
    return nullptr;
  }

  int64_t CentralApplied() {
    return ValueOrDie(store::GetCursor(central_, "unit-0001")).received_seq;
  }

  TempDir dir_;
  store::Replica central_;
  store::Replica unit_;
  KeyRing unit_keys_;
  KeyRing central_keys_;
  UnitExecutor unit_exec_{unit_, "central", unit_keys_};
  CentralExecutor central_exec_{central_, "unit-0001", central_keys_};
};

TEST_F(Executors, PushIsSealedOnceAndAppliedOnce) {
  Write("s1", 1);
  auto first = Fetch(0);
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0].seq, 1u);
  // Fetching again returns the spooled bytes, not a new seal.
  auto again = Fetch(0);
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].sealed, first[0].sealed);

  auto applied = Push(1, first[0].sealed);
  EXPECT_EQ(applied.outcome, ApplyOutcome::kApplied);
  EXPECT_TRUE(applied.log_advanced);
  EXPECT_EQ(Query(central_, "SELECT grade FROM student WHERE id = 's1'"), "1");
  const auto digests = Digests(central_);
  const auto head = ValueOrDie(store::GetChangeLogStats(central_, 0)).head_seq;

  // Replayed: acknowledged as applied, nothing changes.
  auto replay = Push(1, first[0].sealed);
  EXPECT_EQ(replay.outcome, ApplyOutcome::kApplied);
  EXPECT_FALSE(replay.log_advanced);
  EXPECT_EQ(Digests(central_), digests);
  EXPECT_EQ(ValueOrDie(store::GetChangeLogStats(central_, 0)).head_seq, head);
  EXPECT_EQ(CentralApplied(), 1);
}

// Found by the simulator (tests/sim, seed 23): a resend that filled the window with a
// spooled push answered more = false although a later write was not built yet, so the
// uplink sent nothing more until the next local change.
TEST_F(Executors, AResendThatFillsTheLimitSaysMoreMayWait) {
  Write("0190a000-0000-7000-8000-000000000001", 1);
  ASSERT_EQ(Fetch(0, 1).size(), 1u);
  Write("0190a000-0000-7000-8000-000000000002", 2);
  auto r = unit_exec_.Run(protocol::FetchPushes{0, 1});
  auto& resend = std::get<protocol::PushesReady>(r);
  ASSERT_TRUE(resend.ok) << resend.error;
  ASSERT_EQ(resend.entries.size(), 1u);
  EXPECT_EQ(resend.entries[0].seq, 1u);
  EXPECT_TRUE(resend.more) << "the second write waits in the change log";
  // Fetching after it builds the second push.
  auto next = Fetch(1, 1);
  ASSERT_EQ(next.size(), 1u);
  EXPECT_EQ(next[0].seq, 2u);
}

TEST_F(Executors, RenumberedOrRedirectedPushIsRefusedWithNoStateChange) {
  Write("s1", 1);
  auto one = Fetch(0);
  ASSERT_EQ(Push(1, one[0].sealed).outcome, ApplyOutcome::kApplied);
  Write("s2", 2);
  auto two = Fetch(1);
  ASSERT_EQ(two.size(), 1u);
  const auto digests = Digests(central_);

  // Push 1's bytes presented as push 2: the AAD binds the seq.
  auto reordered = Push(2, one[0].sealed);
  EXPECT_EQ(reordered.outcome, ApplyOutcome::kCorrupt);
  EXPECT_EQ(CentralApplied(), 1);
  EXPECT_EQ(Digests(central_), digests);

  // A flipped byte anywhere in the ciphertext.
  protocol::Bytes flipped = two[0].sealed;
  flipped[flipped.size() / 2] ^= 0x01;
  EXPECT_EQ(Push(2, flipped).outcome, ApplyOutcome::kCorrupt);
  EXPECT_EQ(CentralApplied(), 1);
  EXPECT_EQ(Digests(central_), digests);

  // The same push accepted by another unit's session: sealed for unit-0001 only.
  std::array<uint8_t, protocol::kUnitSecretSize> other{};
  other.fill(0x33);
  ASSERT_TRUE(central_keys_.Add("unit-0002", other, 1));
  CentralExecutor as_other(central_, "unit-0002", central_keys_);
  auto redirected =
      std::get<protocol::PushApplied>(as_other.Run(protocol::ApplyPush{1, two[0].sealed}));
  EXPECT_EQ(redirected.outcome, ApplyOutcome::kCorrupt);
  EXPECT_EQ(Digests(central_), digests);

  // The genuine one still applies.
  EXPECT_EQ(Push(2, two[0].sealed).outcome, ApplyOutcome::kApplied);
  EXPECT_EQ(CentralApplied(), 2);
}

TEST_F(Executors, FanOutOpensOnlyForItsRangeAndGeneration) {
  Exec(central_,
       "INSERT INTO action_type(id, code, name, level, valid_from) "
       "VALUES ('at1', 'K', 'Typ', 'ea', '2026-01-01')");
  const std::string gen = ValueOrDie(store::GetGeneration(central_));
  auto built =
      std::get<protocol::ChangesBuilt>(central_exec_.Run(protocol::BuildChanges{0, 1, gen}));
  ASSERT_TRUE(built.ok) << built.error;
  ASSERT_EQ(built.rows, 1u);

  auto apply = [&](uint64_t from, uint64_t to, const std::string& g) {
    return std::get<protocol::ChangesApplied>(
        unit_exec_.Run(protocol::ApplyChanges{from, to, g, "central", built.sealed}));
  };
  EXPECT_EQ(apply(1, built.to + 1, gen).outcome, ApplyOutcome::kCorrupt);
  EXPECT_EQ(apply(1, built.to, "g-other").outcome, ApplyOutcome::kCorrupt);
  EXPECT_EQ(Query(unit_, "SELECT count(*) FROM action_type"), "0");
  EXPECT_EQ(ValueOrDie(store::GetCursor(unit_, "central")).received_seq, 0);

  EXPECT_EQ(apply(1, built.to, gen).outcome, ApplyOutcome::kApplied);
  EXPECT_EQ(Query(unit_, "SELECT count(*) FROM action_type"), "1");
  EXPECT_EQ(ValueOrDie(store::GetCursor(unit_, "central")).received_seq,
            static_cast<int64_t>(built.to));
}

TEST_F(Executors, ForgedRowsAreListedAndTheRestApplies) {
  Write("mine", 1);
  Exec(unit_, "INSERT INTO student(id, unit_id, pseudo_id) VALUES ('theirs', 'unit-0002', 'p')");
  auto pushes = Fetch(0);
  ASSERT_EQ(pushes.size(), 1u);
  auto applied = Push(1, pushes[0].sealed);
  ASSERT_EQ(applied.outcome, ApplyOutcome::kApplied);
  ASSERT_EQ(applied.rejected.size(), 1u);
  EXPECT_EQ(applied.rejected[0].table, "student");
  EXPECT_EQ(applied.rejected[0].id, "theirs");
  EXPECT_EQ(applied.rejected[0].reason,
            static_cast<uint16_t>(store::RowRejectReason::kForeignUnit));
  EXPECT_EQ(Query(central_, "SELECT count(*) FROM student"), "1");
  EXPECT_EQ(CentralApplied(), 1) << "the push is consumed";
}

// ---- ComputeDigests (verify) ----

TEST_F(Executors, DigestsOfTheUnitScopeAgreeOnceThePushIsApplied) {
  Write("s1", 1);
  Write("s2", 2);
  protocol::DigestsComputed before = UnitDigests();
  EXPECT_EQ(before.position.push, 0u);
  EXPECT_EQ(before.position.waiting, 2u) << "two rows written, not yet in a push";
  EXPECT_GT(before.position.head, 0u);

  auto pushes = Fetch(0);
  ASSERT_EQ(pushes.size(), 1u);
  ASSERT_EQ(Push(1, pushes[0].sealed).outcome, ApplyOutcome::kApplied);
  protocol::DigestsComputed unit = UnitDigests();
  protocol::DigestsComputed central = CentralDigests();
  EXPECT_EQ(unit.position.push, 1u);
  EXPECT_EQ(unit.position.waiting, 0u);
  EXPECT_EQ(central.position.push, 1u) << "central: this unit's pushes applied";
  EXPECT_EQ(central.position.waiting, 0u) << "the unit's own rows are not sent back";
  EXPECT_EQ(unit.tables, central.tables);
  EXPECT_EQ(unit.tables.size(), central_.manifest().tables().size());
  ASSERT_NE(Find(unit, "student"), nullptr);
  EXPECT_EQ(Find(unit, "student")->rows, 2u);
  EXPECT_EQ(Find(unit, "student")->sha256.size(), protocol::kSha256Bytes);
  // The same digest `unitsyncctl digest` shows, as bytes.
  for (const auto& d : Digests(unit_, std::string("unit-0001"))) {
    ASSERT_NE(Find(unit, d.table), nullptr);
    EXPECT_EQ(protocol::HexOf(Find(unit, d.table)->sha256), d.sha256);
    EXPECT_EQ(Find(unit, d.table)->rows, static_cast<uint64_t>(d.rows));
  }
  auto report = protocol::CompareDigests("unit-0001", unit.position, unit.tables, central.position,
                                         central.tables);
  EXPECT_TRUE(report.all_equal());
  EXPECT_TRUE(report.settled) << report.in_flight;
}

TEST_F(Executors, CentralDigestsCoverTheSessionsUnitAndCentralTablesInFull) {
  Exec(central_,
       "INSERT INTO action_type(id, code, name, level, valid_from) "
       "VALUES ('at1', 'K', 'Typ', 'ea', '2026-01-01')");
  Exec(central_, "INSERT INTO student(id, unit_id, pseudo_id) VALUES ('other', 'unit-0002', 'p')");
  Exec(central_, "INSERT INTO student(id, unit_id, pseudo_id) VALUES ('mine', 'unit-0001', 'p')");
  protocol::DigestsComputed central = CentralDigests();
  EXPECT_EQ(Find(central, "student")->rows, 1u) << "only unit-0001's rows";
  EXPECT_EQ(Find(central, "action_type")->rows, 1u) << "central scope in full";
  EXPECT_EQ(central.position.waiting, 2u) << "action_type and the unit's student wait";

  // Fan them out; once the unit acknowledges, nothing waits and both sides agree.
  const std::string gen = ValueOrDie(store::GetGeneration(central_));
  auto built =
      std::get<protocol::ChangesBuilt>(central_exec_.Run(protocol::BuildChanges{0, 1, gen}));
  ASSERT_EQ(built.rows, 2u);
  auto applied = std::get<protocol::ChangesApplied>(
      unit_exec_.Run(protocol::ApplyChanges{1, built.to, gen, "central", built.sealed}));
  ASSERT_EQ(applied.outcome, ApplyOutcome::kApplied);
  EXPECT_EQ(CentralDigests().position.waiting, 2u) << "sent is not acknowledged";
  central_exec_.Run(protocol::AckChanges{built.to});
  central = CentralDigests();
  protocol::DigestsComputed unit = UnitDigests();
  EXPECT_EQ(central.position.waiting, 0u);
  EXPECT_EQ(central.position.pull, built.to);
  EXPECT_EQ(unit.position.pull, built.to);
  EXPECT_EQ(central.position.head, built.to);
  EXPECT_EQ(unit.tables, central.tables);
  auto report = protocol::CompareDigests("unit-0001", unit.position, unit.tables, central.position,
                                         central.tables);
  EXPECT_TRUE(report.all_equal());
  EXPECT_TRUE(report.settled) << report.in_flight;
}

TEST_F(Executors, DigestsThatCannotBeComputedSayWhy) {
  Exec(unit_, "DROP TABLE assignment");
  auto r = std::get<protocol::DigestsComputed>(unit_exec_.Run(protocol::ComputeDigests{1, false}));
  EXPECT_FALSE(r.ok);
  EXPECT_FALSE(r.error.empty());
  EXPECT_TRUE(r.tables.empty());
}

}  // namespace
}  // namespace unitsync::daemon
