#include "store/snapshot_apply.h"

#include "store/seed_tracking.h"
#include "store/table_merger.h"

namespace unitsync::store {
namespace {

// The connection settings of one snapshot chunk's transaction, each put back as it was
// afterwards (also when the chunk fails):
//
//  - synchronous = NORMAL. Why that is crash-safe here, and only here: in WAL mode a
//    NORMAL commit is atomic and leaves the database consistent; what a power cut (not a
//    process crash: the OS still writes the WAL out) can cost is the last few commits. A
//    chunk's commit holds its rows *and* the seed state that says where to resume
//    (seed_next, seed_after), so a lost tail of chunks takes its resume point with it, and
//    the next HELLO asks central for exactly those chunks again; merge makes any overlap
//    harmless. Nothing outside the replica depends on a chunk being durable: central keeps
//    its snapshot state in memory (protocol/hub.cc), and chunk ACKs are flow control
//    only. What must survive — the pull cursor and the cleared seed state (FinishSeed),
//    every push and every other apply — commits with FULL, and a FULL commit syncs the
//    whole WAL, all earlier NORMAL commits included (the WAL is a log: durable up to a
//    point, never with holes).
//  - cache_size = kChunkCacheKiB. A chunk (up to half a frame of values, ~2 MiB) dirties
//    table, index and clock pages well beyond SQLite's default 2 MiB cache, which then
//    spills them into the WAL before the commit and reads them back
//    (bench/RESULTS.md "Re-seed": 141,697 writes and 84,962 reads for an 82 MB replica).
//  - Triggers off (Db::EnableTriggers). Every trigger of a replica is silent during the
//    engine's own apply (its WHEN tests _us_applying, store/DESIGN.md); off, SQLite does
//    not even evaluate those WHEN clauses — two per inserted row (the capture and the
//    id-reuse guard), about a third of a plain insert's time.
class ChunkSettings {
 public:
  static constexpr int64_t kChunkCacheKiB = 32 * 1024;

  explicit ChunkSettings(Db& db) : db_(db) {}
  ~ChunkSettings() {
    if (applied_) (void)Restore();
  }
  ChunkSettings(const ChunkSettings&) = delete;
  ChunkSettings& operator=(const ChunkSettings&) = delete;

  Status Apply() {
    for (Saved* s : {&synchronous_, &cache_size_}) {
      auto value = db_.QueryInt("PRAGMA " + std::string(s->name));
      if (!value) return tl::unexpected(value.error());
      s->value = *value;
    }
    applied_ = true;  // from here on, Restore puts back whatever was changed
    if (auto st = db_.Exec("PRAGMA synchronous = NORMAL"); !st) return st;
    if (auto st = db_.Exec("PRAGMA cache_size = " + std::to_string(-kChunkCacheKiB)); !st) {
      return st;
    }
    return db_.EnableTriggers(false);
  }

  // The settings from before Apply, synchronous last; a failure here must not go
  // unnoticed: it is returned, and the destructor tries once more.
  Status Restore() {
    Status first = db_.EnableTriggers(true);
    for (const Saved* s : {&cache_size_, &synchronous_}) {
      auto st = db_.Exec("PRAGMA " + std::string(s->name) + " = " + std::to_string(s->value));
      if (!st && first) first = st;
    }
    if (first) applied_ = false;
    return first;
  }

 private:
  struct Saved {
    const char* name;
    int64_t value;
  };

  Db& db_;
  bool applied_ = false;
  Saved synchronous_{"synchronous", 0};
  Saved cache_size_{"cache_size", 0};
};

// A block may skip the per-row clock lookup (TableMerger::ApplyFresh) when no row of it
// can have a clock record. Ids strictly ascending means no id repeats, so applying one
// row cannot create the record a later row of the block would find (a row's apply only
// writes its own id's record); no record of the table between the first and the last id
// (the same byte order: std::string compares as memcmp, as SQLite's BINARY collation)
// means none exists for any of them before the block. Under both, Load would return "no
// record" for every row, and ApplyFresh does exactly what Apply does after such a Load.
// A live row without a record (written before unitsync tracked it) is handled by the
// same code either way (ApplyUpsert merges into it on the UNIQUE failure).
class FreshProbe {
 public:
  explicit FreshProbe(Db& db) : db_(db) {}

  Result<bool> operator()(const TableSpec& spec, const TableChanges& block) {
    if (block.rows.empty()) return false;
    for (size_t i = 1; i < block.rows.size(); ++i) {
      if (!(block.rows[i - 1].pk < block.rows[i].pk)) return false;
    }
    if (!probe_.valid()) {
      auto probe = db_.Prepare("SELECT 1 FROM _us_clock WHERE tbl = ?1 AND pk >= ?2 AND pk <= ?3");
      if (!probe) return tl::unexpected(probe.error());
      probe_ = std::move(*probe);
    }
    probe_.Reset();
    probe_.BindText(1, spec.name);
    probe_.BindText(2, block.rows.front().pk);
    probe_.BindText(3, block.rows.back().pk);
    auto found = probe_.Step();
    if (!found) return tl::unexpected(found.error());
    probe_.Reset();
    return !*found;
  }

 private:
  Db& db_;
  Statement probe_;
};

}  // namespace

Status ApplyChunkRows(Replica& replica, const Changeset& chunk, MergeReport& report) {
  auto plans = internal::MapColumns(replica, chunk);
  if (!plans) return tl::unexpected(plans.error());
  FreshProbe probe(replica.db());
  const internal::FreshBlockTest fresh =
      [&probe](const TableSpec& spec, const TableChanges& block) { return probe(spec, block); };
  return internal::MergeRows(replica, chunk, *plans, ApplyOptions{}, report, &fresh);
}

Result<MergeReport> ApplySnapshotChunk(Replica& replica, const Changeset& chunk,
                                       const SeedState& next) {
  if (replica.role() != Role::kUnit) {
    return Fail(Errc::kInvalidArgument, "only a unit applies snapshot chunks");
  }
  MergeReport report;
  const uint64_t clock_before = replica.clock().last();
  ChunkSettings settings(replica.db());
  if (auto st = settings.Apply(); !st) return tl::unexpected(st.error());
  internal::ForeignKeysOff fk_off(replica.db());
  if (!fk_off.status()) return tl::unexpected(fk_off.status().error());
  auto tx = Transaction::Begin(replica.db());
  if (!tx) return tl::unexpected(tx.error());
  auto fail = [&](const Error& e) {
    replica.clock().Restore(clock_before);  // timestamps of a failed apply must not stick
    return tl::unexpected(e);
  };
  // A forced re-seed records what the unit held before its first chunk and strikes what
  // each chunk delivers (seed_tracking.h), in the chunk's transaction.
  if (next.forced && next.next_chunk == 1) {
    if (auto st = internal::StartSeedTracking(replica); !st) return fail(st.error());
  }
  if (auto st = ApplyChunkRows(replica, chunk, report); !st) return fail(st.error());
  if (next.forced) {
    if (auto st = internal::StrikeDelivered(replica, chunk); !st) return fail(st.error());
  }
  for (const auto& [key, value] : SeedStateMeta(next)) {
    if (auto st = replica.SetMeta(key, value); !st) return fail(st.error());
  }
  if (auto st = replica.SaveClock(); !st) return fail(st.error());
  if (auto st = tx->Commit(); !st) return fail(st.error());
  if (auto st = settings.Restore(); !st) return tl::unexpected(st.error());
  return report;
}

}  // namespace unitsync::store
