#include "tests/sim/checker.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <stdexcept>

#include "common/clock.h"
#include "protocol/envelope.h"
#include "store/conflicts.h"
#include "store/digest.h"
#include "store/merge.h"
#include "store/rejections.h"
#include "store/row_clock.h"
#include "store/sync_state.h"
#include "tests/sim/sql.h"

namespace unitsync::sim {
namespace {

using testing::kCentral;

int64_t TotalChanges(store::Replica& r) { return sqlite3_total_changes64(r.db().raw()); }

std::string RowName(const RowKey& row) { return row.first + " " + row.second; }

std::string NodeName(testing::SyncHarness& h, NodeIndex node) {
  return node == kCentral ? "central" : h.unit_id(node);
}

// Per tracked row at one replica: live value token (or none), tombstone, tracked version.
struct RowState {
  bool live = false;
  bool deleted = false;
  bool purged = false;  // only the purge marker (deleted = 2) is left
  std::string value;
  store::Version version;
  bool has_clock = false;
};

std::map<RowKey, RowState> ReadTracked(store::Replica& r) {
  std::map<RowKey, RowState> out;
  for (const auto& t : kTrackedTables) {
    for (auto& row : QueryRows(r, std::string("SELECT id, ") + t.column + " FROM " + t.table, 2)) {
      RowState& s = out[{t.table, row[0]}];
      s.live = true;
      s.value = row[1];
    }
  }
  auto clocks = store::RowClockStore::Prepare(r.db());
  if (!clocks) throw std::runtime_error("sim: " + clocks.error().ToString());
  for (auto& row : QueryRows(r, "SELECT tbl, pk, deleted FROM _us_clock", 3)) {
    const char* column = TrackedColumn(row[0]);
    if (column == nullptr) continue;
    const store::TableSpec* spec = r.manifest().Find(row[0]);
    auto clock = clocks->Load(*spec, row[1]);
    if (!clock) throw std::runtime_error("sim: " + clock.error().ToString());
    RowState& s = out[{row[0], row[1]}];
    s.has_clock = true;
    s.deleted = row[2] != "0";
    s.purged = row[2] == "2";
    const int i = spec->ColumnIndex(column);
    if (i >= 0) s.version = clock->columns[static_cast<size_t>(i)].v;
  }
  return out;
}

}  // namespace

void Checker::Report(const std::string& invariant, const std::string& detail) {
  if (!reported_.insert(invariant + "|" + detail).second) return;
  violations_.push_back({invariant, detail});
}

// ---- (2) and the replay log ----

void Checker::OnStoreEvent(const testing::StoreEvent& e) {
  store::Replica& r = e.at_central ? h_.central() : h_.unit(e.unit);
  if (e.result == nullptr) {
    changes_before_ = TotalChanges(r);
    return;
  }
  const bool wrote = TotalChanges(r) > changes_before_;
  const std::string& unit = h_.unit_id(e.unit);
  if (const auto* push = std::get_if<protocol::ApplyPush>(e.work)) {
    const auto* applied = std::get_if<protocol::PushApplied>(e.result);
    if (!applied || applied->outcome != protocol::ApplyOutcome::kApplied || !wrote) return;
    auto generation = store::GetGeneration(h_.central());
    const std::string key = generation.value_or("?") + "/" + unit + "/" +
                            std::string(push->envelope.begin(), push->envelope.end());
    if (!merged_.insert(key).second) {
      Report("(2) applied twice",
             "central merged push " + std::to_string(push->seq) + " of " + unit + " again");
    }
    protocol::EnvelopeHeader header;
    header.kind = protocol::EnvelopeKind::kPush;
    header.origin = unit;
    header.destination = h_.central().node_id();
    header.seq_from = header.seq_to = push->seq;
    auto key_id = protocol::EnvelopeKeyId(push->envelope);
    auto ring_key = h_.central_keys().Find(unit, key_id.value_or(0));
    if (!key_id || !ring_key) return Report("(3) replay", "cannot open push of " + unit);
    auto plain = protocol::OpenChangeset(**ring_key, header, push->envelope);
    auto cs = plain ? store::DecodeChangeset(*plain) : Result<store::Changeset>();
    if (!plain || !cs) return Report("(3) replay", "cannot open push of " + unit);
    // Rows central refused were not merged: they are not part of central's state.
    for (auto& t : cs->tables) {
      std::erase_if(t.rows, [&](const store::ChangeRow& row) {
        return std::any_of(applied->rejected.begin(), applied->rejected.end(),
                           [&](const auto& x) { return x.table == t.table && x.id == row.pk; });
      });
    }
    replay_.push_back(std::move(*cs));
  } else if (const auto* changes = std::get_if<protocol::ApplyChanges>(e.work)) {
    const auto* applied = std::get_if<protocol::ChangesApplied>(e.result);
    if (!applied || applied->outcome != protocol::ApplyOutcome::kApplied || !wrote) return;
    const std::string key =
        unit + "/" + std::string(changes->envelope.begin(), changes->envelope.end());
    if (!merged_.insert(key).second) {
      Report("(2) applied twice", unit + " merged changes " + std::to_string(changes->from) + ".." +
                                      std::to_string(changes->to) + " again");
    }
    protocol::EnvelopeHeader header;
    header.kind = protocol::EnvelopeKind::kChanges;
    header.origin = changes->central_node;
    header.destination = unit;
    header.seq_from = changes->from;
    header.seq_to = changes->to;
    header.stream = changes->generation;
    auto key_id = protocol::EnvelopeKeyId(changes->envelope);
    auto ring_key = h_.unit_keys(e.unit).Find(unit, key_id.value_or(0));
    if (!key_id || !ring_key) return Report("(3) replay", "cannot open changes for " + unit);
    auto plain = protocol::OpenChangeset(**ring_key, header, changes->envelope);
    auto cs = plain ? store::DecodeChangeset(*plain) : Result<store::Changeset>();
    if (!plain || !cs) return Report("(3) replay", "cannot open changes for " + unit);
    // Evictions are instructions to one unit, not state.
    for (auto& t : cs->tables) {
      std::erase_if(t.rows, [](const store::ChangeRow& row) { return row.evict; });
    }
    replay_.push_back(std::move(*cs));
  } else if (const auto* chunk = std::get_if<protocol::ApplySnapshotChunk>(e.work)) {
    const auto* applied = std::get_if<protocol::SnapshotChunkApplied>(e.result);
    if (!applied || applied->outcome != protocol::ApplyOutcome::kApplied) return;
    const std::string key =
        unit + "/" + std::string(chunk->envelope.begin(), chunk->envelope.end());
    if (!merged_.insert(key).second) {
      Report("(2) applied twice", unit + " merged snapshot chunk " + std::to_string(chunk->index) +
                                      " of " + chunk->snapshot + " again");
    }
    protocol::EnvelopeHeader header;
    header.kind = protocol::EnvelopeKind::kSnapshot;
    header.origin = chunk->central_node;
    header.destination = unit;
    header.seq_from = header.seq_to = chunk->index;
    header.stream = chunk->snapshot;
    auto key_id = protocol::EnvelopeKeyId(chunk->envelope);
    auto ring_key = h_.unit_keys(e.unit).Find(unit, key_id.value_or(0));
    if (!key_id || !ring_key) return Report("(3) replay", "cannot open a chunk for " + unit);
    auto plain = protocol::OpenChangeset(**ring_key, header, chunk->envelope);
    auto cs = plain ? store::DecodeChangeset(*plain) : Result<store::Changeset>();
    if (!plain || !cs) return Report("(3) replay", "cannot open a chunk for " + unit);
    replay_.push_back(std::move(*cs));
  }
}

// ---- excuses: what central refused ----

void Checker::LoadExcuses() {
  excused_.clear();
  std::map<std::string, NodeIndex> by_id;
  for (int i = 0; i < h_.unit_count(); ++i) by_id[h_.unit_id(i)] = i;
  auto central = store::ListRejections(h_.central(), 100'000);
  if (central) {
    for (const auto& r : *central) {
      auto it = by_id.find(r.peer);
      if (it != by_id.end()) excused_[it->second].insert({r.table, r.pk});
    }
  }
  for (int i = 0; i < h_.unit_count(); ++i) {
    auto rejected = store::ListRejections(h_.unit(i), 100'000);
    if (rejected) {
      for (const auto& r : *rejected) excused_[i].insert({r.table, r.pk});
    }
    store::ConflictFilter all;
    all.include_resolved = true;
    all.limit = 100'000;
    auto conflicts = store::ListConflicts(h_.unit(i), all);
    if (conflicts) {
      for (const auto& c : *conflicts) {
        if (c.kind == "evict") excused_[i].insert({c.table, c.pk});
      }
    }
  }
}

bool Checker::Excused(NodeIndex node, const RowKey& row) {
  auto it = excused_.find(node);
  return it != excused_.end() && it->second.count(row) > 0;
}

// ---- (4), (5), (6) while running ----

void Checker::CheckScope(int u) {
  store::Replica& r = h_.unit(u);
  const std::string& unit = h_.unit_id(u);
  for (const auto& spec : r.manifest().tables()) {
    if (spec.scope != store::Scope::kUnit) continue;
    for (const auto& id : QueryColumn(
             r, "SELECT id FROM " + spec.name + " WHERE " + spec.routing + " IS NOT ?1", {unit})) {
      Report("(6) row outside its unit's scope", unit + " holds " + spec.name + " " + id);
    }
  }
  for (auto& row : QueryRows(r, "SELECT tbl, pk FROM _us_clock WHERE unit IS NOT ?1", 2, {unit})) {
    const store::TableSpec* spec = r.manifest().Find(row[0]);
    if (spec != nullptr && spec->scope == store::Scope::kUnit) {
      Report("(6) row outside its unit's scope",
             unit + " keeps a version record of " + row[0] + " " + row[1]);
    }
  }
}

void Checker::Observe() {
  LoadExcuses();
  for (int u = 0; u < h_.unit_count(); ++u) {
    CheckScope(u);
    const std::string& unit = h_.unit_id(u);
    for (const auto& [row, now] : ReadTracked(h_.unit(u))) {
      if (Excused(u, row)) continue;
      Seen& before = seen_[{u, row}];
      if (before.deleted && now.live) {
        Report("(5) deleted row back", RowName(row) + " live again at " + unit);
      }
      // A purge marker keeps no column versions: nothing to compare.
      if (now.has_clock && !now.purged && now.version < before.version) {
        Report("(4) monotonic reads", RowName(row) + " went back to an older version at " + unit);
      }
      auto mine = model_.last_local_write.find({u, row});
      if (now.live && mine != model_.last_local_write.end() && now.value != Token(mine->second) &&
          now.version.origin == unit) {
        Report("(4) read-your-writes",
               RowName(row) + " at " + unit + " lost its own write " + Token(mine->second));
      }
      if (now.has_clock) {
        if (!now.purged) before.version = now.version;
        before.deleted = now.deleted;
      } else if (!now.live) {
        before = Seen{};  // evicted: the unit forgot the row
      }
      before.live = now.live;
    }
  }
}

// ---- the final checks ----

void Checker::CheckFinalWrites() {
  // Where each row's final state is read: central, or the unit a private row lives on.
  std::map<RowKey, RowState> at_central = ReadTracked(h_.central());
  std::vector<std::map<RowKey, RowState>> at_unit;
  for (int u = 0; u < h_.unit_count(); ++u) at_unit.push_back(ReadTracked(h_.unit(u)));
  std::set<RowKey> deleted_rows;
  for (const auto& d : model_.deletes) {
    if (!d.purge) deleted_rows.insert(d.row);
  }
  auto final_state = [&](const RowKey& row) -> RowState {
    auto info = model_.rows.find(row);
    const auto& where = info != model_.rows.end() && info->second.private_row
                            ? at_unit[static_cast<size_t>(info->second.created_by)]
                            : at_central;
    auto it = where.find(row);
    if (it != where.end()) return it->second;
    RowState gone;  // no record: a tombstone central's GC dropped, or nothing at all
    gone.deleted = tombstone_gc_ && deleted_rows.count(row) > 0;
    return gone;
  };

  std::set<std::tuple<std::string, std::string, std::string>> losers;  // table, pk, token
  std::set<RowKey> with_conflicts;  // rows any replica holds a conflict record for
  store::ConflictFilter all;
  all.include_resolved = true;
  all.limit = 100'000;
  auto collect = [&](store::Replica& r) {
    auto conflicts = store::ListConflicts(r, all);
    if (!conflicts) return Report("(1) acknowledged write lost", "cannot list conflicts");
    for (const auto& c : *conflicts) {
      with_conflicts.insert({c.table, c.pk});
      if (const auto* s = std::get_if<std::string>(&c.loser_value)) {
        losers.insert({c.table, c.pk, *s});
      }
    }
  };
  collect(h_.central());
  for (int u = 0; u < h_.unit_count(); ++u) collect(h_.unit(u));

  std::set<uint64_t> overwritten;
  std::map<uint64_t, const Write*> by_id;
  for (const auto& w : model_.writes) {
    if (w.prev != 0) overwritten.insert(w.prev);
    by_id[w.id] = &w;
  }
  for (const auto& w : model_.writes) {
    const RowState s = final_state(w.row);
    if (Excused(w.node, w.row)) continue;
    if (!s.live && !s.deleted) {
      Report("(1) acknowledged write lost",
             RowName(w.row) + " written by " + NodeName(h_, w.node) + " exists nowhere");
      continue;
    }
    if (s.deleted || (s.live && s.value == Token(w.id)) || overwritten.count(w.id) > 0 ||
        losers.count({w.row.first, w.row.second, Token(w.id)}) > 0) {
      continue;
    }
    Report("(1) acknowledged write lost", RowName(w.row) + " write " + Token(w.id) + " by " +
                                              NodeName(h_, w.node) +
                                              " is neither current nor a conflict loser");
  }
  // Every final value is one of the writes to that row.
  for (const auto& [row, s] : at_central) {
    if (!s.live) continue;
    auto id = ParseToken(s.value);
    auto it = id ? by_id.find(*id) : by_id.end();
    if (it == by_id.end() || it->second->row != row) {
      Report("(1) acknowledged write lost", RowName(row) + " holds a value no write made");
    }
  }
  // (5) Deletes hold everywhere.
  for (const auto& d : model_.deletes) {
    if (Excused(d.node, d.row)) continue;
    if (!final_state(d.row).deleted) {
      Report("(5) deleted row back",
             RowName(d.row) + " deleted by " + NodeName(h_, d.node) + " has no tombstone");
    }
    if (d.purge && !final_state(d.row).purged) {
      Report("(5) purged row back",
             RowName(d.row) + " purged by " + NodeName(h_, d.node) + " has no purge marker");
    }
    if (d.purge && with_conflicts.count(d.row) > 0) {
      Report("(5) purged row back",
             RowName(d.row) + " purged by " + NodeName(h_, d.node) + " still has conflict records");
    }
    auto live_at = [&](const std::map<RowKey, RowState>& m) {
      auto it = m.find(d.row);
      return it != m.end() && it->second.live;
    };
    if (live_at(at_central)) Report("(5) deleted row back", RowName(d.row) + " live at central");
    for (int u = 0; u < h_.unit_count(); ++u) {
      if (live_at(at_unit[static_cast<size_t>(u)])) {
        Report("(5) deleted row back", RowName(d.row) + " live at " + h_.unit_id(u));
      }
    }
  }
}

void Checker::CheckReplay(const std::string& scratch, uint64_t seed) {
  // Every changeset that was merged anywhere, in another order and with repeats, into a
  // replica that saw none of them: the merge is a join, so it must land on central's
  // state exactly.
  ManualWallClock clock(testing::kSimEpochMs);
  store::ReplicaOptions options;
  options.clock = &clock;
  // `scratch` may hold a fresh copy already (tests/sim/scenario.h ReplicaTemplates).
  auto fresh = std::filesystem::exists(scratch)
                   ? store::Replica::Open(scratch, options)
                   : store::Replica::Create(scratch, store::Role::kCentral, "replay", options);
  if (!fresh) return Report("(3) delivery order changes state", "cannot create the replica");
  std::vector<const store::Changeset*> order;
  std::mt19937_64 rng(seed ^ 0x5eed);
  for (const auto& cs : replay_) {
    order.push_back(&cs);
    if (rng() % 8 == 0) order.push_back(&cs);
  }
  std::shuffle(order.begin(), order.end(), rng);
  for (const auto* cs : order) {
    if (auto st = store::ApplyChangeset(*fresh, *cs); !st) {
      return Report("(3) delivery order changes state", "replay refused a changeset");
    }
  }
  if (tombstone_gc_) {
    // Tombstones central's GC dropped (it holds no record of the row) go here too.
    std::set<std::pair<std::string, std::string>> at_central;
    for (auto& row : QueryRows(h_.central(), "SELECT tbl, pk FROM _us_clock", 2)) {
      at_central.insert({row[0], row[1]});
    }
    for (auto& row : QueryRows(*fresh, "SELECT tbl, pk FROM _us_clock WHERE deleted = 1", 2)) {
      if (at_central.count({row[0], row[1]}) > 0) continue;
      (void)fresh->db().Exec("DELETE FROM _us_clock WHERE tbl = '" + row[0] + "' AND pk = '" +
                             row[1] + "'");
    }
  }
  auto want = store::ComputeDigests(h_.central());
  auto got = store::ComputeDigests(*fresh);
  if (!want || !got) {
    return Report("(3) delivery order changes state",
                  "no digests: " + (want ? got.error().ToString() : want.error().ToString()));
  }
  for (size_t i = 0; i < want->size() && i < got->size(); ++i) {
    if ((*want)[i] != (*got)[i]) {
      Report("(3) delivery order changes state",
             "table " + (*want)[i].table + ": central " + std::to_string((*want)[i].rows) +
                 " rows, shuffled replay " + std::to_string((*got)[i].rows));
    }
  }
}

void Checker::Final(const std::string& scratch, uint64_t seed) {
  Observe();
  // (3) Every replica of a scope holds the same.
  for (int u = 0; u < h_.unit_count(); ++u) {
    const std::string& unit = h_.unit_id(u);
    auto a = store::ComputeDigests(h_.unit(u), store::DigestScope{unit});
    auto b = store::ComputeDigests(h_.central(), store::DigestScope{unit});
    if (!a || !b) {
      Report("(3) replicas differ",
             "no digests for " + unit + ": " + (a ? b.error().ToString() : a.error().ToString()));
      continue;
    }
    for (size_t i = 0; i < a->size() && i < b->size(); ++i) {
      if ((*a)[i] != (*b)[i]) {
        Report("(3) replicas differ", "table " + (*a)[i].table + " of " + unit + ": unit " +
                                          std::to_string((*a)[i].rows) + " rows, central " +
                                          std::to_string((*b)[i].rows));
        if (std::getenv("UNITSYNC_SIM_DEBUG")) {
          for (const auto& id :
               QueryColumn(h_.unit(u), "SELECT id || ' ' || unit_id FROM " + (*a)[i].table)) {
            std::fprintf(stderr, "debug unit %s: %s\n", unit.c_str(), id.c_str());
          }
          for (const auto& id :
               QueryColumn(h_.central(), "SELECT id || ' ' || unit_id FROM " + (*a)[i].table)) {
            std::fprintf(stderr, "debug central: %s\n", id.c_str());
          }
          for (const auto& l : h_.logs(unit)) std::fprintf(stderr, "debug log: %s\n", l.c_str());
        }
      }
    }
  }
  // (6) Nothing local-only or private reached central.
  for (const auto& id : QueryColumn(h_.central(),
                                    "SELECT id FROM student WHERE personnummer IS NOT NULL OR "
                                    "name IS NOT NULL OR protected_identity = 1")) {
    Report("(6) local-only data at central", "student " + id);
  }
  CheckFinalWrites();
  CheckReplay(scratch, seed);
}

}  // namespace unitsync::sim
