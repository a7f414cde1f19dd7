// Property test: replicas that write at random, exchange changesets in random
// order with duplicates, drops and resends, under skewed clocks, end with
// identical digests.
//
// Every seed is independent and printed on failure. Replay one with
//   UNITSYNC_SEED=<seed> build/tests/store_test --gtest_filter='Convergence*'
// and run more with UNITSYNC_SEEDS=<count> (default: kDefaultSeeds).
#include <cstdlib>
#include <deque>
#include <random>

#include "store/conflicts.h"
#include "store/test_util.h"

namespace unitsync::store {
namespace {

using testing::TempDir;
using testing::ValueOrDie;

constexpr int kDefaultSeeds = 100;
constexpr int64_t kT0 = 1'780'000'000'000;
constexpr int kUnits = 3;

std::vector<uint64_t> SeedsToRun() {
  if (const char* one = std::getenv("UNITSYNC_SEED")) return {std::stoull(one)};
  int count = kDefaultSeeds;
  if (const char* n = std::getenv("UNITSYNC_SEEDS")) count = std::stoi(n);
  const uint64_t base = std::random_device{}();
  std::vector<uint64_t> seeds;
  for (int i = 0; i < count; ++i) seeds.push_back(base + static_cast<uint64_t>(i) * 7919);
  return seeds;
}

std::string UnitId(int u) { return "unit-000" + std::to_string(u + 1); }

// One in-flight changeset: who sent it, to whom, and the sender's cursor it
// advances when acknowledged.
struct Message {
  int from;  // -1 central, else unit index.
  int to;
  Blob bytes;
  int64_t last_seq;
};

class World {
 public:
  explicit World(uint64_t seed) : rng_(seed) {
    for (int n = 0; n <= kUnits; ++n) {
      // Clocks skewed by up to two days either way.
      const int64_t skew = static_cast<int64_t>(rng_() % (4 * 86'400'000ull)) - 2 * 86'400'000;
      clocks_.push_back(std::make_unique<ManualWallClock>(kT0 + skew));
    }
    central_ = std::make_unique<Replica>(
        testing::MakeReplica(dir_, "central", Role::kCentral, clocks_[kUnits].get()));
    for (int u = 0; u < kUnits; ++u) {
      units_.push_back(std::make_unique<Replica>(
          testing::MakeReplica(dir_, UnitId(u), Role::kUnit, clocks_[u].get())));
    }
    up_acked_.assign(kUnits, 0);
    down_acked_.assign(kUnits, 0);
  }

  Replica& node(int n) { return n < 0 ? *central_ : *units_[n]; }

  void Step() {
    for (auto& c : clocks_) c->Advance(static_cast<int64_t>(rng_() % 40));
    switch (rng_() % 10) {
      case 0:
      case 1:
      case 2:
      case 3:
        LocalWrite();
        break;
      case 4:
      case 5:
        Send();
        break;
      default:
        Deliver();
        break;
    }
  }

  // Faults stop; everything still unacknowledged is resent until quiet.
  void Drain() {
    in_flight_.clear();
    for (int round = 0; round < 4; ++round) {
      for (int u = 0; u < kUnits; ++u) Exchange(u, -1);
      for (int u = 0; u < kUnits; ++u) Exchange(-1, u);
    }
  }

  void ExpectConverged() {
    for (int u = 0; u < kUnits; ++u) {
      EXPECT_EQ(testing::Digests(*units_[u], UnitId(u)), testing::Digests(*central_, UnitId(u)))
          << UnitId(u) << " differs from central";
    }
  }

  size_t writes() const { return writes_; }
  size_t conflicts() { return ValueOrDie(ListConflicts(*central_, {true, {}, 100000, {}})).size(); }

 private:
  int RandomNode() { return static_cast<int>(rng_() % (kUnits + 1)) - 1; }

  std::string PickRow(Replica& r, const std::string& table, const std::string& unit) {
    auto stmt =
        ValueOrDie(r.db().Prepare("SELECT id FROM \"" + table +
                                  "\" WHERE (?1 = '' OR unit_id = ?1) ORDER BY random() LIMIT 1"));
    stmt.BindText(1, unit);
    return ValueOrDie(stmt.Step()) ? stmt.ColumnText(0) : std::string();
  }

  void LocalWrite() {
    const int n = RandomNode();
    Replica& r = node(n);
    // Central writes reference data and any unit's rows; a unit its own.
    const std::string unit = n < 0 ? UnitId(static_cast<int>(rng_() % kUnits)) : UnitId(n);
    const std::string id = r.NewId();
    const std::string text = "anteckning " + std::to_string(rng_() % 1000) + " åäö";
    std::string sql;
    switch (rng_() % 9) {
      case 0:
        sql = "INSERT INTO student(id, unit_id, pseudo_id, grade, personnummer) VALUES ('" + id +
              "', '" + unit + "', 'p" + std::to_string(rng_() % 100) + "', '" +
              std::to_string(rng_() % 9 + 1) + "', '20100101" + std::to_string(rng_() % 9999) +
              "')";
        break;
      case 1: {
        const std::string s = PickRow(r, "student", unit);
        if (s.empty()) return;
        sql = "INSERT INTO support_case(id, unit_id, student_id, opened_on) VALUES ('" + id +
              "', '" + unit + "', '" + s + "', '2026-02-0" + std::to_string(rng_() % 9 + 1) + "')";
        break;
      }
      case 2: {
        const std::string c = PickRow(r, "support_case", unit);
        if (c.empty()) return;
        sql =
            "INSERT INTO support_action(id, unit_id, case_id, action_type, description, "
            "start_on) VALUES ('" +
            id + "', '" + unit + "', '" + c + "', 'EA', '" + text + "', '2026-03-01')";
        break;
      }
      case 3:
      case 4: {
        const std::string a = PickRow(r, "support_action", unit);
        if (a.empty()) return;
        static const char* kStatus[] = {"planerad", "pagaende", "avslutad", "avbruten"};
        sql = rng_() % 2
                  ? "UPDATE support_action SET description = '" + text + "' WHERE id = '" + a + "'"
                  : "UPDATE support_action SET status = '" + std::string(kStatus[rng_() % 4]) +
                        "' WHERE id = '" + a + "'";
        break;
      }
      case 5: {
        const std::string s = PickRow(r, "student", unit);
        if (s.empty()) return;
        sql = "UPDATE student SET grade = '" + std::to_string(rng_() % 9 + 1) + "' WHERE id = '" +
              s + "'";
        break;
      }
      case 6: {
        const std::string a = PickRow(r, "support_action", unit);
        if (a.empty()) return;
        sql = "DELETE FROM support_action WHERE id = '" + a + "'";
        break;
      }
      case 7: {
        if (n >= 0) return;
        const std::string t = PickRow(r, "action_type", "");
        sql = t.empty() || rng_() % 2
                  ? "INSERT INTO action_type(id, code, name, level, valid_from) VALUES ('" + id +
                        "', 'K" + std::to_string(rng_() % 50) + "', '" + text +
                        "', 'ea', '2026-01-01')"
                  : "UPDATE action_type SET name = '" + text + "' WHERE id = '" + t + "'";
        break;
      }
      default: {
        const std::string c = PickRow(r, "support_case", unit);
        if (c.empty()) return;
        sql = "UPDATE support_case SET reason = '" + text + "' WHERE id = '" + c + "'";
        break;
      }
    }
    // A local write may fail for application reasons (a foreign key to a row
    // deleted meanwhile); that is the writer's business, not the engine's.
    if (r.db().Exec(sql)) ++writes_;
  }

  Message Build(int from, int to) {
    BuildRequest req;
    req.max_rows = 1 + rng_() % 20;
    if (from >= 0) {
      req.after_seq = up_acked_[from];
    } else {
      req.after_seq = down_acked_[to];
      req.destination_unit = UnitId(to);
    }
    auto built = ValueOrDie(BuildChangeset(node(from), req), "build");
    return {from, to, std::move(built.bytes), built.last_seq};
  }

  void Send() {
    const int u = static_cast<int>(rng_() % kUnits);
    Message m = rng_() % 2 ? Build(u, -1) : Build(-1, u);
    in_flight_.push_back(std::move(m));
  }

  void Deliver() {
    if (in_flight_.empty()) return;
    const size_t i = rng_() % in_flight_.size();  // Any order.
    Message m = in_flight_[i];
    const uint64_t fate = rng_() % 10;
    if (fate < 2) {  // Dropped: the sender resends from its acked cursor later.
      in_flight_.erase(in_flight_.begin() + static_cast<long>(i));
      return;
    }
    if (fate >= 8) {
      // Duplicated: stays in flight and arrives again later.
    } else {
      in_flight_.erase(in_flight_.begin() + static_cast<long>(i));
    }
    Receive(m);
  }

  void Receive(const Message& m) {
    if (!m.bytes.empty()) {
      auto report = ApplyChangeset(node(m.to), m.bytes);
      ASSERT_TRUE(report) << report.error().ToString();
    }
    // The ack: cursors only move forward.
    if (m.from >= 0) {
      up_acked_[m.from] = std::max(up_acked_[m.from], m.last_seq);
    } else {
      down_acked_[m.to] = std::max(down_acked_[m.to], m.last_seq);
    }
  }

  void Exchange(int from, int to) {
    for (int guard = 0; guard < 10000; ++guard) {
      Message m = Build(from, to);
      const int64_t before = from >= 0 ? up_acked_[from] : down_acked_[to];
      Receive(m);
      if (m.last_seq == before) return;
    }
    FAIL() << "exchange did not drain";
  }

  std::mt19937_64 rng_;
  TempDir dir_;
  std::vector<std::unique_ptr<ManualWallClock>> clocks_;
  std::unique_ptr<Replica> central_;
  std::vector<std::unique_ptr<Replica>> units_;
  std::vector<int64_t> up_acked_;    // Unit u's log, acknowledged by central.
  std::vector<int64_t> down_acked_;  // Central's log, acknowledged by unit u.
  std::deque<Message> in_flight_;
  size_t writes_ = 0;
};

TEST(Convergence, StarUnderReorderingDuplicatesDropsAndSkew) {
  size_t total_writes = 0, total_conflicts = 0;
  for (uint64_t seed : SeedsToRun()) {
    SCOPED_TRACE("seed " + std::to_string(seed) + " — replay: UNITSYNC_SEED=" +
                 std::to_string(seed) + " build/tests/store_test --gtest_filter='Convergence*'");
    World world(seed);
    for (int step = 0; step < 300; ++step) world.Step();
    world.Drain();
    world.ExpectConverged();
    total_writes += world.writes();
    total_conflicts += world.conflicts();
    if (::testing::Test::HasFailure()) break;
  }
  // The workload must really contend, or the test proves little.
  EXPECT_GT(total_writes, 0u);
  RecordProperty("writes", static_cast<int>(total_writes));
  RecordProperty("conflicts", static_cast<int>(total_conflicts));
}

// The same changesets in every order, any number of times, give one state.
TEST(Convergence, AnyDeliveryOrderGivesTheSameState) {
  for (uint64_t seed : SeedsToRun()) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    std::mt19937_64 rng(seed);
    TempDir dir;
    ManualWallClock clock(kT0);
    std::vector<Replica> writers;
    for (int w = 0; w < 3; ++w) {
      writers.push_back(testing::MakeReplica(dir, "w" + std::to_string(w), Role::kUnit, &clock));
    }
    // Shared rows first, so later writes contend on them.
    testing::Exec(writers[0],
                  "INSERT INTO student(id, unit_id, pseudo_id) VALUES ('s', 'u', 'p');"
                  "INSERT INTO support_case(id, unit_id, student_id, opened_on) "
                  "VALUES ('c', 'u', 's', '2026-01-01');");
    const Blob base = testing::Changes(writers[0]);
    for (int w = 1; w < 3; ++w) testing::Apply(writers[w], base);
    std::vector<Blob> sets = {base};
    for (int round = 0; round < 4; ++round) {
      for (auto& w : writers) {
        clock.Advance(static_cast<int64_t>(rng() % 3));  // Ties happen: origin breaks them.
        const std::string v = std::to_string(rng() % 100);
        switch (rng() % 3) {
          case 0:
            testing::Exec(w, "UPDATE support_case SET reason = 'r" + v + "' WHERE id = 'c'");
            break;
          case 1:
            testing::Exec(w, "UPDATE student SET grade = '" + v + "' WHERE id = 's'");
            break;
          default:
            if (rng() % 4 == 0) testing::Exec(w, "DELETE FROM support_case WHERE id = 'c'");
        }
        sets.push_back(testing::Changes(w));
      }
    }
    std::vector<std::vector<TableDigest>> results;
    for (int trial = 0; trial < 4; ++trial) {
      Replica r = testing::MakeReplica(dir, "r" + std::to_string(trial), Role::kCentral, &clock);
      std::vector<Blob> order = sets;
      for (size_t i = 0; i < sets.size(); ++i) order.push_back(sets[rng() % sets.size()]);
      std::shuffle(order.begin(), order.end(), rng);
      for (const Blob& b : order) testing::Apply(r, b);
      results.push_back(testing::Digests(r));
    }
    for (size_t t = 1; t < results.size(); ++t) EXPECT_EQ(results[t], results[0]);
    if (::testing::Test::HasFailure()) break;
  }
}

}  // namespace
}  // namespace unitsync::store
