// A unit with a valid certificate and its own valid sealing key pushes what a correct
// unitsyncd never would — rows routed to another unit, a row another unit owns, reference
// data, an eviction, a local-only column, broken versions — and replays sealed pushes:
// the same bytes twice, an old push after its ack, a push under another seq, another
// unit's push. Central refuses each, records what it refused where an admin looks
// (`_us_rejections`, `unitsyncctl units`, metrics, log), applies nothing twice, and the
// honest units keep syncing. (A forged row written with plain SQL at a real unit and
// pushed by its own daemon: daemon_control_test MetricsDescribeEveryUnit, and
// sync_link_test ForgedRowIsRefusedAndDoesNotBlockLaterChanges in-process.)
#include <gtest/gtest.h>

#include <set>
#include <tuple>

#include "store/changeset_builder.h"
#include "store/rejections.h"
#include "tests/faults/hostile_fixture.h"

namespace unitsync::testing {
namespace {

using namespace std::chrono_literals;
using protocol::Ack;
using protocol::AckOf;
using protocol::Bytes;
using protocol::Nack;
using protocol::NackCode;
using protocol::Push;

// What unit-0003 could build with plain SQL in a replica of its own (rows of another
// unit, a row another unit owns, reference data), plus what no replica builds: an
// eviction of unit-0002's row. And one honest row of its own, which must apply.
// With `local_only`, instead: one own row in a block that names the local-only column
// `name` (a table appears once per changeset, so that is a push of its own).
store::Changeset ForgedChangeset(const std::string& scratch_db, bool local_only = false) {
  auto r = ValueOrDie(store::Replica::Create(scratch_db, store::Role::kUnit, "unit-0003"));
  Exec(r,
       "INSERT INTO student(id, unit_id, pseudo_id) VALUES ('f-own', 'unit-0003', 'p');"
       "INSERT INTO student(id, unit_id, pseudo_id) VALUES ('f-foreign', 'unit-0001', 'p');"
       "INSERT INTO student(id, unit_id, pseudo_id) VALUES ('s-unit-0001-0', 'unit-0003', 'p');"
       "INSERT INTO action_type(id, code, name, level, valid_from) "
       "VALUES ('f-at', 'F', 'F', 'annat', '2026-01-01');");
  store::BuildRequest req;
  auto built = ValueOrDie(store::BuildChangeset(r, req));
  auto cs = ValueOrDie(store::DecodeChangeset(built.bytes));
  for (auto& t : cs.tables) {
    if (t.table != "student") continue;
    if (local_only) {
      store::Changeset local{cs.origin, {t}};  // the same columns and one row, plus `name`
      auto& block = local.tables[0];
      block.rows = {t.rows.front()};
      block.rows[0].pk = "f-local";
      block.columns.push_back("name");
      block.rows[0].values.emplace_back(std::in_place_type<std::string>, "x");
      block.rows[0].versions.push_back(block.rows[0].versions.front());
      return local;
    }
    store::ChangeRow evict;
    evict.pk = "s-unit-0002-0";
    evict.evict = true;
    t.rows.push_back(evict);
  }
  return cs;
}

// An own row, as unit-0003's replica builds it; with `hlc` > 0 every version is
// (hlc, unit-0003) with nothing replaced.
store::Changeset OwnRow(const std::string& scratch_db, const std::string& id, uint64_t hlc = 0) {
  auto r = ValueOrDie(store::Replica::Create(scratch_db, store::Role::kUnit, "unit-0003"));
  Exec(r, "INSERT INTO student(id, unit_id, pseudo_id) VALUES ('" + id + "', 'unit-0003', 'p')");
  auto cs = ValueOrDie(store::DecodeChangeset(ValueOrDie(store::BuildChangeset(r, {})).bytes));
  if (hlc > 0) {
    for (auto& v : cs.tables.at(0).rows.at(0).versions) v = {{hlc, "unit-0003"}, {}};
  }
  return cs;
}

class ForgedPushes : public HostilePeers {
 protected:
  bool AtCentral(const std::string& table, const std::string& id) {
    auto c = ValueOrDie(store::Replica::Open(dir_.File("central.db")));
    return Query(c, "SELECT count(*) FROM " + table + " WHERE id = '" + id + "'") == "1";
  }
  std::string CentralQuery(const std::string& sql) {
    auto c = ValueOrDie(store::Replica::Open(dir_.File("central.db")));
    return Query(c, sql);
  }
  // The next ACK or NACK for our push.
  std::optional<protocol::Message> Answer(HostileUnit& h) {
    for (;;) {
      auto m = h.Read(20s);
      if (!m || std::holds_alternative<Ack>(*m) || std::holds_alternative<Nack>(*m)) return m;
    }
  }
};

TEST_F(ForgedPushes, ForgedRowsAreRefusedRecordedAndTheRestApplies) {
  StartHonestWriters();
  HostileUnit h(Bundle());
  auto w = h.Session(port_, 0, 0);
  ASSERT_TRUE(w) << h.error();
  const uint64_t seq = w->applied_seq + 1;
  ASSERT_TRUE(h.Send(Push{seq, h.SealPush(ForgedChangeset(dir_.File("forge.db")), seq)}));
  auto m = Answer(h);
  ASSERT_TRUE(m) << h.error();
  auto* nack = std::get_if<Nack>(&*m);
  ASSERT_NE(nack, nullptr) << "a forged push must not be acknowledged whole";
  EXPECT_EQ(nack->code, NackCode::kPartial);
  EXPECT_EQ(nack->seq, seq);
  std::set<std::tuple<std::string, std::string, int>> refused;
  for (const auto& r : nack->rows) refused.insert({r.table, r.id, r.reason});
  const std::set<std::tuple<std::string, std::string, int>> expected = {
      {"action_type", "f-at", 1},       // central_scope
      {"student", "f-foreign", 2},      // foreign_unit
      {"student", "s-unit-0001-0", 3},  // owned_elsewhere
      {"student", "s-unit-0002-0", 6},  // eviction
  };
  EXPECT_EQ(refused, expected);

  // A block naming a local-only column: every row of it is refused.
  ASSERT_TRUE(
      h.Send(Push{seq + 1, h.SealPush(ForgedChangeset(dir_.File("local.db"), true), seq + 1)}));
  m = Answer(h);
  ASSERT_TRUE(m) << h.error();
  nack = std::get_if<Nack>(&*m);
  ASSERT_NE(nack, nullptr);
  EXPECT_EQ(nack->code, NackCode::kPartial);
  ASSERT_EQ(nack->rows.size(), 1u);
  EXPECT_EQ(nack->rows[0].id, "f-local");
  EXPECT_EQ(nack->rows[0].reason, 4);  // local_only_column

  // Applied: the own row; refused: everything else, and the honest units' rows are as
  // they were.
  EXPECT_TRUE(AtCentral("student", "f-own"));
  EXPECT_FALSE(AtCentral("student", "f-foreign"));
  EXPECT_FALSE(AtCentral("student", "f-local"));
  EXPECT_FALSE(AtCentral("action_type", "f-at"));
  EXPECT_EQ(CentralQuery("SELECT unit_id FROM student WHERE id = 's-unit-0001-0'"), "unit-0001");
  EXPECT_TRUE(AtCentral("student", "s-unit-0002-0"));

  // Recorded where an admin looks: the rejections table (ids and reasons, no values),
  // `unitsyncctl units`, metrics, the log.
  EXPECT_EQ(CentralQuery("SELECT count(*) FROM _us_rejections WHERE peer = 'unit-0003' AND "
                         "direction = 'i'"),
            "5");
  const CliResult units = Ctl({"--config", dir_.File("central.toml"), "--json", "units"});
  ASSERT_EQ(units.code, 0) << units.err;
  bool listed = false;
  const nlohmann::json doc = nlohmann::json::parse(units.out);
  for (const auto& u : doc["units"]) {
    if (u["unit"] == "unit-0003") listed = u["rejected_rows"] == 5;
  }
  EXPECT_TRUE(listed) << units.out;
  EXPECT_EQ(Metric("unitsync_unit_rejected_rows{unit=\"unit-0003\"}"), 5.0);
  EXPECT_GE(CentralLogCount("event=push_rows_rejected unit=unit-0003"), 1u);

  // Broken versions: the changeset does not decode, nothing of it applies, the seq is
  // not consumed. Each in a new session: a unit stops pushing after `malformed`, and the
  // checks above may have taken longer than central's read deadline (a sanitized
  // unitsyncctl, a loaded machine), which ends a session that reads nothing meanwhile.
  auto new_session = [&] {
    h.Abort();
    w = h.Session(port_, seq + 1, 0);
    return w && w->applied_seq == seq + 1;
  };
  for (int variant = 0; variant < 2; ++variant) {
    ASSERT_TRUE(new_session()) << h.error() << " (applied_seq " << (w ? w->applied_seq : 0) << ")";
    auto bad = OwnRow(dir_.File("bad-" + std::to_string(variant) + ".db"), "f-bad", 1);
    if (variant == 0) bad.tables[0].rows[0].versions[0].prev = {0, "unit-0001"};  // disagree
    if (variant == 1) bad.tables[0].rows[0].versions[0].v.hlc = 0;  // no version at all
    ASSERT_TRUE(h.Send(Push{seq + 2, h.SealPush(bad, seq + 2)}));
    auto b = Answer(h);
    ASSERT_TRUE(b) << h.error();
    ASSERT_TRUE(std::holds_alternative<Nack>(*b));
    EXPECT_EQ(std::get<Nack>(*b).code, NackCode::kMalformed);
    EXPECT_FALSE(AtCentral("student", "f-bad"));
  }
  EXPECT_TRUE(new_session()) << "a malformed push consumed a seq: " << h.error();
  EXPECT_GE(Metric("unitsync_session_errors_total"), 1.0);

  ExpectHonestUnitsKeepSyncing();
  StopHonestWriters();
  ExpectCentralUp();
}

// A version from the end of time (hlc 2^64 - 1) on the unit's own row is refused with
// reason 8, future_version: accepted, no later write could ever supersede it (the next
// stamp, one above it, wraps to 0), and central and the unit would differ for good after
// central's next edit. (Before the fix central accepted it.)
TEST_F(ForgedPushes, AVersionAtTheEndOfTimeIsRefused) {
  HostileUnit h(Bundle());
  auto w = h.Session(port_, 0, 0);
  ASSERT_TRUE(w) << h.error();
  const uint64_t seq = w->applied_seq + 1;
  ASSERT_TRUE(h.Send(Push{seq, h.SealPush(OwnRow(dir_.File("max.db"), "f-max", UINT64_MAX), seq)}));
  auto m = Answer(h);
  ASSERT_TRUE(m) << h.error();
  auto* nack = std::get_if<Nack>(&*m);
  ASSERT_NE(nack, nullptr) << "central accepted a version it can never supersede";
  EXPECT_EQ(nack->code, NackCode::kPartial);
  ASSERT_EQ(nack->rows.size(), 1u);
  EXPECT_EQ(nack->rows[0].id, "f-max");
  EXPECT_EQ(nack->rows[0].reason, 8);  // future_version
  EXPECT_FALSE(AtCentral("student", "f-max"));
  ExpectCentralUp();
}

// Replays: the same sealed push twice in a session, again after its ack in a new session,
// under the next seq, sealed with another unit's key, sealed for another central. A repeat
// is acknowledged again and applied once; the rest do not open (NACK corrupt).
TEST_F(ForgedPushes, ReplayedPushesAreAcknowledgedAgainAndNeverAppliedTwice) {
  StartHonestWriters();
  HostileUnit h(Bundle());
  auto w = h.Session(port_, 0, 0);
  ASSERT_TRUE(w) << h.error();
  const uint64_t seq = w->applied_seq + 1;
  const Bytes env = h.SealPush(OwnRow(dir_.File("r.db"), "r-1"), seq);
  const Bytes frame = HostileUnit::Frame(Push{seq, env});
  auto acked = [&](uint64_t s) {
    auto m = Answer(h);
    return m && std::holds_alternative<Ack>(*m) && std::get<Ack>(*m).seq == s;
  };
  auto corrupt = [&](uint64_t s) {
    auto m = Answer(h);
    return m && std::holds_alternative<Nack>(*m) && std::get<Nack>(*m).seq == s &&
           std::get<Nack>(*m).code == NackCode::kCorrupt;
  };
  // Central's log holds one entry per change it accepted: r-1 once, however often it came.
  auto logged = [&] { return CentralQuery("SELECT count(*) FROM _us_changes WHERE pk = 'r-1'"); };

  ASSERT_TRUE(h.SendRaw(frame));
  ASSERT_TRUE(acked(seq));
  ASSERT_TRUE(AtCentral("student", "r-1"));
  ASSERT_EQ(logged(), "1");
  ASSERT_TRUE(h.SendRaw(frame));  // the same bytes again
  EXPECT_TRUE(acked(seq));
  EXPECT_EQ(logged(), "1");

  h.Abort();  // an old push after its ack, in a new session
  w = h.Session(port_, seq, 0);
  ASSERT_TRUE(w) << h.error();
  EXPECT_EQ(w->applied_seq, seq);
  ASSERT_TRUE(h.SendRaw(frame));
  EXPECT_TRUE(acked(seq));
  EXPECT_EQ(logged(), "1");

  // The same envelope as the next push: its AAD names seq, so it does not open.
  ASSERT_TRUE(h.Send(Push{seq + 1, env}));
  EXPECT_TRUE(corrupt(seq + 1));
  // A push sealed with another unit's key, and one sealed for another central.
  HostileUnit other(Bundle(4));
  auto theirs = OwnRow(dir_.File("o.db"), "r-2");
  ASSERT_TRUE(h.Send(Push{seq + 1, other.SealPush(theirs, seq + 1)}));
  EXPECT_TRUE(corrupt(seq + 1));
  ASSERT_TRUE(h.Send(Push{seq + 1, h.SealPush(theirs, seq + 1, "central-2")}));
  EXPECT_TRUE(corrupt(seq + 1));
  EXPECT_FALSE(AtCentral("student", "r-2"));
  EXPECT_EQ(logged(), "1");
  EXPECT_EQ(CentralQuery("SELECT received_seq FROM _us_peers WHERE peer = 'unit-0003'"),
            std::to_string(seq));
  EXPECT_GE(CentralLogCount("event=push_not_applied unit=unit-0003"), 1u);

  ExpectHonestUnitsKeepSyncing();
  StopHonestWriters();
  ExpectCentralUp();
}

}  // namespace
}  // namespace unitsync::testing
