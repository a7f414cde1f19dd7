#include "store/seed_tracking.h"

#include <map>
#include <string>

#include "store/meta_number.h"
#include "store/sync_state.h"

namespace unitsync::store::internal {
namespace {

constexpr const char* kCreate =
    "CREATE TABLE IF NOT EXISTS _us_seed_pending (tbl TEXT NOT NULL, pk TEXT NOT NULL, "
    "PRIMARY KEY (tbl, pk)) STRICT, WITHOUT ROWID";

std::string Quoted(const std::string& name) { return "\"" + name + "\""; }

Result<bool> TrackingExists(Replica& replica) {
  auto q = replica.db().Prepare(
      "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '_us_seed_pending'");
  if (!q) return tl::unexpected(q.error());
  return q->Step();
}

// True when the row must stay although the snapshot did not deliver it.
class KeepRule {
 public:
  static Result<KeepRule> Prepare(Replica& replica) {
    auto acked = GetMetaNumber(replica, kMetaPushAckedLogSeq);
    if (!acked) return tl::unexpected(acked.error());
    KeepRule rule;
    rule.acked_log_seq_ = *acked;
    auto born = replica.db().Prepare(
        "SELECT 1 FROM _us_changes WHERE tbl = ?1 AND pk = ?2 AND seq > ?3 AND op IN ('I', 'R') "
        "LIMIT 1");
    if (!born) return tl::unexpected(born.error());
    rule.born_here_ = std::move(*born);
    return rule;
  }

  Result<bool> Keep(Replica& replica, const TableSpec& spec, const std::string& pk) {
    born_here_.Reset();
    born_here_.BindText(1, spec.name);
    born_here_.BindText(2, pk);
    born_here_.BindInt(3, acked_log_seq_);
    auto found = born_here_.Step();
    if (!found) return tl::unexpected(found.error());
    born_here_.Reset();
    if (*found || spec.private_row_flag.empty()) return *found;
    auto it = private_.find(spec.name);
    if (it == private_.end()) {
      auto q = replica.db().Prepare("SELECT 1 FROM " + Quoted(spec.name) + " WHERE id = ?1 AND " +
                                    Quoted(spec.private_row_flag) + " = 1");
      if (!q) return tl::unexpected(q.error());
      it = private_.emplace(spec.name, std::move(*q)).first;
    }
    it->second.Reset();
    it->second.BindText(1, pk);
    auto is_private = it->second.Step();
    if (!is_private) return tl::unexpected(is_private.error());
    it->second.Reset();
    return *is_private;
  }

 private:
  int64_t acked_log_seq_ = 0;
  Statement born_here_;
  std::map<std::string, Statement> private_;
};

}  // namespace

Status StartSeedTracking(Replica& replica) {
  if (auto st = replica.db().Exec(kCreate); !st) return st;
  return replica.db().Exec(
      "DELETE FROM _us_seed_pending; INSERT INTO _us_seed_pending (tbl, pk) "
      "SELECT tbl, pk FROM _us_clock WHERE deleted <> 2");
}

Status StrikeDelivered(Replica& replica, const Changeset& changeset) {
  auto exists = TrackingExists(replica);
  if (!exists) return tl::unexpected(exists.error());
  if (!*exists) return {};
  auto strike = replica.db().Prepare("DELETE FROM _us_seed_pending WHERE tbl = ?1 AND pk = ?2");
  if (!strike) return tl::unexpected(strike.error());
  for (const TableChanges& block : changeset.tables) {
    for (const ChangeRow& row : block.rows) {
      strike->Reset();
      strike->BindText(1, block.table);
      strike->BindText(2, row.pk);
      if (auto st = strike->Run(); !st) return st;
    }
  }
  return {};
}

Result<Changeset> UndeliveredEvictions(Replica& replica) {
  Changeset out;
  out.origin = replica.node_id();
  auto exists = TrackingExists(replica);
  if (!exists) return tl::unexpected(exists.error());
  if (!*exists) return out;
  auto keep = KeepRule::Prepare(replica);
  if (!keep) return tl::unexpected(keep.error());
  auto q = replica.db().Prepare("SELECT tbl, pk FROM _us_seed_pending ORDER BY tbl, pk");
  if (!q) return tl::unexpected(q.error());
  for (;;) {
    auto row = q->Step();
    if (!row) return tl::unexpected(row.error());
    if (!*row) break;
    const std::string table = q->ColumnText(0);
    const TableSpec* spec = replica.manifest().Find(table);
    if (spec == nullptr) continue;  // Left the manifest: nothing to evict through.
    std::string pk = q->ColumnText(1);
    auto kept = keep->Keep(replica, *spec, pk);
    if (!kept) return tl::unexpected(kept.error());
    if (*kept) continue;
    if (out.tables.empty() || out.tables.back().table != table) {
      out.tables.push_back(TableChanges{table, spec->columns, {}});
    }
    ChangeRow evict;
    evict.pk = std::move(pk);
    evict.evict = true;
    out.tables.back().rows.push_back(std::move(evict));
  }
  q->Reset();
  return out;
}

Status EndSeedTracking(Replica& replica) {
  auto exists = TrackingExists(replica);
  if (!exists) return tl::unexpected(exists.error());
  if (*exists) {
    if (auto st = replica.db().Exec("DELETE FROM _us_seed_pending"); !st) return st;
  }
  return RewindOutbox(replica);
}

Status RewindOutbox(Replica& replica) {
  auto state = GetOutboxState(replica);
  if (!state) return tl::unexpected(state.error());
  if (auto st = replica.db().Exec("DELETE FROM _us_outbox"); !st) return st;
  if (auto st = replica.SetMeta(kMetaPushBuiltSeq, std::to_string(state->acked_seq)); !st) {
    return st;
  }
  return replica.SetMeta(kMetaPushBuiltLogSeq, std::to_string(state->acked_log_seq));
}

}  // namespace unitsync::store::internal
