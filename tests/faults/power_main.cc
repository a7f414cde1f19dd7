// unitsync_power: power loss at random points (tests/RELIABILITY.md, "Power loss").
// Central and two units wired by tests/sync_harness (real replicas, executors, sealed
// envelopes and encoded frames; simulated time and network, one thread), every replica
// on tests/faults/power_vfs: a file keeps only what was fsynced. Staff write at the units
// and central writes while they sync (tests/faults/ledger.h); now and then power is cut
// for one node after a random number of its file operations — inside a transaction, a
// commit, a checkpoint, or between them — and the node reboots from its durable bytes.
// Every ACK a node sends is recorded with the rows the acknowledged work applied
// (tests/faults/ack_book.h); after each reboot every acknowledged change must still be
// there, PRAGMA integrity_check must be ok and no committed staff write may be missing.
// At the end of each iteration sync must drain to the ledger's last writes everywhere.
//
//   unitsync_power [--iterations N] [--seed S] [--steps K]
//
// Iteration i runs seed S + i; the run is deterministic: a seed replays exactly. Exit 0
// when every check passed, 1 on a violation, 2 on a usage error.
#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <random>

#include "protocol/message_codec.h"
#include "store/digest.h"
#include "tests/faults/ack_book.h"
#include "tests/faults/ledger.h"
#include "tests/faults/power_vfs.h"
#include "tests/sync_harness.h"

namespace unitsync::faults {
namespace {

using testing::SyncHarness;

struct Totals {
  uint64_t iterations = 0, failed = 0, cuts = 0, lost_changes = 0, acks = 0, acked_rows = 0;
  uint64_t writes = 0, refused_writes = 0, integrity_checks = 0, syncs = 0;
};

class PowerIteration {
 public:
  PowerIteration(uint64_t seed, int steps) : seed_(seed), steps_(steps), rng_(seed) {}

  // Runs the iteration; violations are printed (ids only).
  bool Run(Totals& totals) {
    store::testing::TempDir dir;
    // The replicas exist (on disk, whole) before the power-loss disk is put under them,
    // as a deployed node's do; from then on every file goes through it.
    // (At the harness's simulated epoch, so their clocks replay with the seed.)
    ManualWallClock clock(testing::kSimEpochMs);
    store::ReplicaOptions opts;
    opts.clock = &clock;
    store::testing::ValueOrDie(
        store::Replica::Create(dir.File("central.db"), store::Role::kCentral, "central", opts));
    for (const char* u : {"unit-0001", "unit-0002"}) {
      store::testing::ValueOrDie(
          store::Replica::Create(dir.File(std::string(u) + ".db"), store::Role::kUnit, u, opts));
    }
    try {
      PowerLossVfs vfs;
      SyncHarness h(dir, 2, seed_);
      for (int i = 0; i < h.unit_count(); ++i) units_.push_back(h.unit_id(i));
      central_books_.resize(units_.size());
      unit_books_.resize(units_.size());
      Observe(h);
      h.Start();
      for (int step = 0; step < steps_ && violations_.empty(); ++step) Step(h, vfs, dir);
      if (vfs.PowerIsOff()) Reboot(h, vfs, dir);
      vfs.Disarm();  // nothing armed stays armed into the drain
      Drain(h);
      const auto& c = vfs.counters();
      totals.cuts += c.cuts;
      totals.lost_changes += c.lost_changes;
      totals.syncs += c.syncs;
    } catch (const std::exception& e) {
      // The harness throws when a node cannot open its replica again.
      violations_.push_back(std::string("a node did not come back: ") + e.what());
    }
    for (const auto* books : {&central_books_, &unit_books_}) {
      for (const auto& b : *books) {
        totals.acks += b.acks();
        totals.acked_rows += b.acked_rows();
      }
    }
    totals.writes += ledger_.counts().inserts + ledger_.counts().updates + ledger_.counts().deletes;
    totals.refused_writes += ledger_.counts().failed;
    totals.integrity_checks += integrity_checks_;
    for (const auto& v : violations_)
      std::printf("unitsync_power: seed %llu: %s\n", ULL(seed_), v.c_str());
    return violations_.empty();
  }

 private:
  static unsigned long long ULL(uint64_t v) { return static_cast<unsigned long long>(v); }
  // What `node` acknowledged in unit `unit`'s session (central's seqs are per unit).
  AckBook& Book(int node, int unit) {
    return (node == testing::kCentral ? central_books_ : unit_books_)[static_cast<size_t>(unit)];
  }
  store::Replica& At(SyncHarness& h, int node) {
    return node == testing::kCentral ? h.central() : h.unit(node);
  }
  std::string Name(int node) const {
    return node == testing::kCentral ? std::string(kCentralNode)
                                     : units_[static_cast<size_t>(node)];
  }
  Tokens Read(SyncHarness& h, int node) {
    auto t = ReadTokens(At(h, node));
    if (!t) violations_.push_back(Name(node) + ": cannot read: " + t.error().ToString());
    return t ? *t : Tokens{};
  }

  void Observe(SyncHarness& h) {
    h.SetStoreObserver([this, &h](const testing::StoreEvent& e) {
      const int node = e.at_central ? testing::kCentral : e.unit;
      std::optional<std::pair<protocol::AckOf, uint64_t>> key;
      if (const auto* p = std::get_if<protocol::ApplyPush>(e.work); p && e.at_central) {
        key = {protocol::AckOf::kPush, p->seq};
      } else if (const auto* c = std::get_if<protocol::ApplyChanges>(e.work); c && !e.at_central) {
        key = {protocol::AckOf::kChanges, c->to};
      } else if (const auto* s = std::get_if<protocol::ApplySnapshotChunk>(e.work);
                 s && !e.at_central) {
        key = {protocol::AckOf::kSnapshot, s->index};
      }
      if (!key) return;
      if (e.result == nullptr) {
        before_ = Read(h, node);
        return;
      }
      Book(node, e.unit).Applied(key->first, key->second, Difference(before_, Read(h, node)));
    });
    h.SetFrameObserver([this](int unit, bool to_central, const protocol::Bytes& frame) {
      if (frame.size() <= 4) return;
      auto msg = protocol::DecodeMessage(protocol::ByteView(frame).subspan(4));
      const auto* ack = msg ? std::get_if<protocol::Ack>(&*msg) : nullptr;
      if (ack == nullptr) return;
      // Central acknowledges pushes; a unit acknowledges CHANGES and snapshot chunks.
      if (to_central != (ack->of == protocol::AckOf::kPush)) {
        Book(to_central ? unit : testing::kCentral, unit).Acked(ack->of, ack->seq);
      }
    });
  }

  void Step(SyncHarness& h, PowerLossVfs& vfs, const store::testing::TempDir& dir) {
    const int dice = static_cast<int>(rng_() % 100);
    if (dice < 70) {
      const int node = static_cast<int>(rng_() % (units_.size() + 1)) - 1;
      ledger_.Write(At(h, node), Name(node), units_, rng_, violations_);
      if (node == testing::kCentral) {
        h.CentralChange();
      } else {
        h.LocalChange(node);
      }
    }
    h.RunFor(static_cast<int64_t>(rng_() % 40));
    if (!armed_ && rng_() % 8 == 0) {
      armed_node_ = static_cast<int>(rng_() % (units_.size() + 1)) - 1;
      armed_ = true;
      vfs.CutPowerAfter(dir.File(Name(armed_node_) + ".db"), rng_() % 60);
    }
    if (vfs.PowerIsOff()) Reboot(h, vfs, dir);
  }

  // The node whose power went off comes back from its durable bytes.
  void Reboot(SyncHarness& h, PowerLossVfs& vfs, const store::testing::TempDir& dir) {
    armed_ = false;
    if (armed_node_ == testing::kCentral) {
      h.CrashCentral();
    } else {
      h.CrashUnit(armed_node_);
    }
    const std::string name = Name(armed_node_);
    if (vfs.PowerIsOff()) {
      violations_.push_back(name + ": did not reboot (a file of it was still open)");
      return;
    }
    const std::string integrity = IntegrityCheck(dir.File(name + ".db"));
    ++integrity_checks_;
    if (integrity != "ok")
      violations_.push_back(name + ": integrity_check after power loss: " + integrity);
    const Tokens tokens = Read(h, armed_node_);
    for (int u = 0; u < static_cast<int>(units_.size()); ++u) {
      if (armed_node_ == testing::kCentral || armed_node_ == u) {
        Book(armed_node_, u).Check(ledger_, name, tokens, violations_);
      }
    }
    // A staff write committed at the node before the cut is durable too.
    for (const auto& [id, row] : ledger_.rows()) {
      if (row.writer == name && !row.deleted && !tokens.count(id)) {
        violations_.push_back(name + ": committed write " + row.token + " of " + id +
                              " lost after power loss");
      }
    }
  }

  void Drain(SyncHarness& h) {
    if (!h.RunUntilQuiet()) {
      violations_.push_back("did not drain: " + h.NotQuietBecause());
      return;
    }
    for (int node = testing::kCentral; node < static_cast<int>(units_.size()); ++node) {
      for (auto& v : CheckFinal(ledger_, Name(node), Read(h, node))) violations_.push_back(v);
      auto conflicts = ConflictCount(At(h, node));
      if (!conflicts || *conflicts != 0) {
        violations_.push_back(Name(node) + ": conflict records with one writer per row");
      }
    }
    for (int i = 0; i < static_cast<int>(units_.size()); ++i) {
      auto a = store::ComputeDigests(h.unit(i), store::DigestScope{units_[static_cast<size_t>(i)]});
      auto b =
          store::ComputeDigests(h.central(), store::DigestScope{units_[static_cast<size_t>(i)]});
      if (!a || !b || *a != *b) violations_.push_back(Name(i) + ": digests differ from central's");
    }
  }

  uint64_t seed_;
  int steps_;
  std::mt19937_64 rng_;
  std::vector<std::string> units_;
  std::vector<AckBook> central_books_, unit_books_;
  Ledger ledger_;
  Tokens before_;
  bool armed_ = false;
  int armed_node_ = 0;
  uint64_t integrity_checks_ = 0;
  std::vector<std::string> violations_;
};

}  // namespace
}  // namespace unitsync::faults

int main(int argc, char** argv) {
  uint64_t iterations = 30, seed = 1;
  int steps = 400;
  CLI::App app("power loss at random points; acknowledged changes must survive");
  app.add_option("--iterations", iterations, "iterations, each a fresh deployment (default 30)");
  app.add_option("--seed", seed, "seed of the first iteration (default 1)");
  app.add_option("--steps", steps, "workload steps per iteration (default 400)")
      ->check(CLI::Range(1, 1000000));
  CLI11_PARSE(app, argc, argv);
  const auto start = std::chrono::steady_clock::now();
  unitsync::faults::Totals t;
  for (uint64_t i = 0; i < iterations; ++i) {
    unitsync::faults::PowerIteration it(seed + i, steps);
    ++t.iterations;
    if (!it.Run(t)) {
      ++t.failed;
      std::printf(
          "unitsync_power: seed %llu failed; replay: unitsync_power --iterations 1 --seed %llu\n",
          static_cast<unsigned long long>(seed + i), static_cast<unsigned long long>(seed + i));
    }
  }
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  auto u = [](uint64_t v) { return static_cast<unsigned long long>(v); };
  std::printf(
      "unitsync_power: %llu iterations (seeds %llu-%llu), %llu failed, %.1f s; %llu power cuts, "
      "%llu unsynced writes thrown away; %llu ACKs recorded covering %llu row changes; %llu "
      "staff/central writes committed, %llu refused; %llu fsyncs; %llu integrity checks\n",
      u(t.iterations), u(seed), u(seed + iterations - 1), u(t.failed), s, u(t.cuts),
      u(t.lost_changes), u(t.acks), u(t.acked_rows), u(t.writes), u(t.refused_writes), u(t.syncs),
      u(t.integrity_checks));
  return t.failed == 0 ? 0 : 1;
}
