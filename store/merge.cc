#include "store/merge.h"

#include <map>

#include "store/change_log.h"
#include "store/cursors.h"
#include "store/row_clock.h"
#include "store/sync_state.h"

namespace unitsync::store {
namespace {

std::string Quote(const std::string& ident) { return "\"" + ident + "\""; }

// How one table block maps onto the local schema.
struct BlockPlan {
  std::vector<int> map;     // Block column -> local column index (-1: local-only).
  bool local_only = false;  // The block names a local-only column: every row is rejected.
};

// Checks the changeset against the manifest before anything is written, and
// maps each block column to the local column index. Unknown tables and
// columns are schema skew and reject the whole changeset; a local-only
// column rejects only that block's rows (TableMerger).
Result<std::vector<BlockPlan>> MapColumns(const Replica& replica, const Changeset& cs) {
  std::vector<BlockPlan> plans;
  for (const TableChanges& t : cs.tables) {
    const TableSpec* spec = replica.manifest().Find(t.table);
    if (spec == nullptr) {
      return Fail(Errc::kRejected, "changeset rejected: unknown table '" + t.table + "'",
                  "the sender runs another schema; upgrade the older node");
    }
    BlockPlan plan;
    for (const std::string& c : t.columns) {
      if (spec->IsLocalOnly(c)) {
        plan.local_only = true;
        plan.map.push_back(-1);
        continue;
      }
      const int i = spec->ColumnIndex(c);
      if (i < 0) {
        return Fail(Errc::kRejected, "changeset rejected: unknown column " + t.table + "." + c,
                    "the sender runs another schema; upgrade the older node");
      }
      plan.map.push_back(i);
    }
    plans.push_back(std::move(plan));
  }
  return plans;
}

// Keeps foreign keys off for the duration of a merge; SQLite only honours
// the pragma outside a transaction.
class ForeignKeysOff {
 public:
  explicit ForeignKeysOff(Db& db) : db_(db) { (void)db_.Exec("PRAGMA foreign_keys = OFF"); }
  ~ForeignKeysOff() { (void)db_.Exec("PRAGMA foreign_keys = ON"); }

 private:
  Db& db_;
};

class Merger {
 public:
  Merger(Replica& replica, RowClockStore& clocks, const ApplyOptions& options, MergeReport& report)
      : replica_(replica), clocks_(clocks), options_(options), report_(report) {}

  Status Init() {
    auto conflict = replica_.db().Prepare(
        "INSERT OR IGNORE INTO _us_conflicts(tbl, pk, col, kind, winner_value, winner_hlc, "
        "winner_origin, loser_value, loser_hlc, loser_origin, detected_ms) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)");
    if (!conflict) return tl::unexpected(conflict.error());
    conflict_ = std::move(*conflict);
    auto log = replica_.db().Prepare(
        "INSERT INTO _us_changes(tbl, pk, op, cols, unit, wall_ms) VALUES (?1, ?2, ?3, NULL, ?4, "
        "?5)");
    if (!log) return tl::unexpected(log.error());
    log_ = std::move(*log);
    return {};
  }

  Status RecordConflict(const TableSpec& spec, const std::string& pk, size_t col, const char* kind,
                        const Value& winner_value, const Version& winner, const Value& loser_value,
                        const Version& loser) {
    conflict_.Reset();
    conflict_.BindText(1, spec.name);
    conflict_.BindText(2, pk);
    conflict_.BindText(3, spec.columns[col]);
    conflict_.BindText(4, kind);
    conflict_.BindValue(5, winner_value);
    conflict_.BindInt(6, static_cast<int64_t>(winner.hlc));
    conflict_.BindText(7, winner.origin);
    conflict_.BindValue(8, loser_value);
    conflict_.BindInt(9, static_cast<int64_t>(loser.hlc));
    conflict_.BindText(10, loser.origin);
    conflict_.BindInt(11, replica_.NowMs());
    if (auto st = conflict_.Run(); !st) return st;
    report_.conflicts += static_cast<size_t>(replica_.db().Changes());
    return {};
  }

  // Central keeps one log of every accepted change, the source of fan-out:
  // 'M' for a merged row (its current unit), 'X' when the merge moved the
  // row away from `unit` (that unit gets an eviction).
  Status LogMerged(const TableSpec& spec, const std::string& pk, const std::string& unit,
                   const char* op) {
    if (replica_.role() != Role::kCentral) return {};
    log_.Reset();
    log_.BindText(1, spec.name);
    log_.BindText(2, pk);
    log_.BindText(3, op);
    if (unit.empty()) {
      log_.BindNull(4);
    } else {
      log_.BindText(4, unit);
    }
    log_.BindInt(5, replica_.NowMs());
    return log_.Run();
  }

  void Reject(const TableSpec& spec, const std::string& pk, RowRejectReason reason) {
    report_.rejected.push_back({spec.name, pk, reason});
  }

  // True when the row has change-log entries after the last one central
  // acknowledged (sync_state.h push_acked_log_seq): local work central may
  // not have.
  Result<bool> HasUnackedLocalChanges(const TableSpec& spec, const std::string& pk) {
    if (!unacked_.valid()) {
      auto acked = replica_.GetMeta(kMetaPushAckedLogSeq);
      if (!acked) return tl::unexpected(acked.error());
      acked_log_seq_ = *acked ? std::stoll(**acked) : 0;
      // No index on (tbl, pk): evictions are rare and a unit's log is
      // trimmed as central acknowledges it.
      auto stmt = replica_.db().Prepare(
          "SELECT 1 FROM _us_changes WHERE tbl = ?1 AND pk = ?2 AND seq > ?3 LIMIT 1");
      if (!stmt) return tl::unexpected(stmt.error());
      unacked_ = std::move(*stmt);
    }
    unacked_.Reset();
    unacked_.BindText(1, spec.name);
    unacked_.BindText(2, pk);
    unacked_.BindInt(3, acked_log_seq_);
    auto found = unacked_.Step();
    if (!found) return tl::unexpected(found.error());
    unacked_.Reset();
    return *found;
  }

  void Observe(const Version& v) {
    if (!replica_.clock().Observe(v.hlc)) {
      ++report_.far_future_versions;
      const int64_t ahead = HlcWallMs(v.hlc) - replica_.NowMs();
      report_.max_far_future_ms = std::max<uint64_t>(report_.max_far_future_ms, ahead);
    }
  }

  Replica& replica() { return replica_; }
  RowClockStore& clocks() { return clocks_; }
  MergeReport& report() { return report_; }
  const std::optional<std::string>& authorize_unit() const { return options_.authorize_unit; }

 private:
  Replica& replica_;
  RowClockStore& clocks_;
  const ApplyOptions& options_;
  MergeReport& report_;
  Statement conflict_;
  Statement log_;
  Statement unacked_;  // Prepared on the first eviction.
  int64_t acked_log_seq_ = 0;
};

// A conflict found while merging a row, written only once the row's own
// write has succeeded: a row rejected by a constraint leaves nothing behind.
struct PendingConflict {
  size_t col = 0;
  const char* kind = "";
  Value winner_value;
  Version winner;
  Value loser_value;
  Version loser;
};

// Prepared statements and the per-row logic for one table block.
class TableMerger {
 public:
  TableMerger(Merger& m, const TableSpec& spec, const TableChanges& block, const BlockPlan& plan)
      : m_(m), spec_(spec), block_(block), map_(plan.map), local_only_(plan.local_only) {}

  Status Prepare() {
    if (local_only_) return {};  // Every row is rejected; nothing is written.
    Db& db = m_.replica().db();
    std::string cols, marks;
    for (size_t i = 0; i < block_.columns.size(); ++i) {
      cols += ", " + Quote(block_.columns[i]);
      marks += ", ?" + std::to_string(i + 2);
      if (!spec_.routing.empty() && block_.columns[i] == spec_.routing) {
        routing_block_ = static_cast<int>(i);
      }
    }
    routing_index_ = spec_.routing.empty() ? -1 : spec_.ColumnIndex(spec_.routing);
    auto insert = db.Prepare("INSERT INTO " + Quote(spec_.name) + "(id" + cols + ") VALUES (?1" +
                             marks + ")");
    if (!insert) return tl::unexpected(insert.error());
    insert_ = std::move(*insert);
    std::string all;
    for (size_t i = 0; i < spec_.columns.size(); ++i)
      all += (i ? ", " : "") + Quote(spec_.columns[i]);
    auto select = db.Prepare("SELECT " + (all.empty() ? std::string("1") : all) + " FROM " +
                             Quote(spec_.name) + " WHERE id = ?1");
    if (!select) return tl::unexpected(select.error());
    select_ = std::move(*select);
    auto del = db.Prepare("DELETE FROM " + Quote(spec_.name) + " WHERE id = ?1");
    if (!del) return tl::unexpected(del.error());
    delete_ = std::move(*del);
    return {};
  }

  Status Apply(const ChangeRow& row) {
    MergeReport& report = m_.report();
    ++report.rows_received;
    current_loaded_ = false;
    pending_.clear();
    const std::optional<std::string>& unit = m_.authorize_unit();
    if (unit && spec_.scope == Scope::kCentral) return Reject(row, RowRejectReason::kCentralScope);
    if (local_only_) return Reject(row, RowRejectReason::kLocalOnlyColumn);
    if (row.evict) {
      if (unit) return Reject(row, RowRejectReason::kEviction);
      return ApplyEviction(row);
    }
    auto clock = m_.clocks().Load(spec_, row.pk);
    if (!clock) return tl::unexpected(clock.error());
    if (unit) {
      auto reason = Authorize(row, *clock, *unit);
      if (!reason) return tl::unexpected(reason.error());
      if (*reason) return Reject(row, **reason);
    }
    const std::string old_unit = clock->exists ? clock->unit : std::string();

    Status st;
    bool changed = false;
    if (row.tombstone) {
      st = ApplyTombstone(row, *clock, changed);
    } else if (clock->deleted) {
      st = ApplyToDeleted(row, *clock, changed);
    } else {
      st = ApplyUpsert(row, *clock, changed);
    }
    if (!st) {
      if (st.error().code != Errc::kConstraint) return st;
      // SQLite rolled the failing statement back; the clock is not saved,
      // nothing is logged and the pending conflicts are dropped.
      return Reject(row, RowRejectReason::kConstraint);
    }
    for (const PendingConflict& c : pending_) {
      if (auto s = m_.RecordConflict(spec_, row.pk, c.col, c.kind, c.winner_value, c.winner,
                                     c.loser_value, c.loser);
          !s) {
        return s;
      }
    }
    for (const ColumnVersion& cv : row.versions) {
      if (!cv.v.empty()) m_.Observe(cv.v);
    }
    if (row.tombstone) m_.Observe(row.tombstone_version);
    if (!changed) {
      ++report.rows_unchanged;
      return {};
    }
    clock->exists = true;
    if (auto s = m_.clocks().Save(spec_, row.pk, *clock); !s) return s;
    if (auto s = m_.LogMerged(spec_, row.pk, clock->unit, "M"); !s) return s;
    if (!old_unit.empty() && old_unit != clock->unit) {
      return m_.LogMerged(spec_, row.pk, old_unit, "X");
    }
    return {};
  }

 private:
  Status Reject(const ChangeRow& row, RowRejectReason reason) {
    pending_.clear();
    m_.Reject(spec_, row.pk, reason);
    return {};
  }

  // DESIGN.md "Write authorization at central", for a row that `unit` sent.
  Result<std::optional<RowRejectReason>> Authorize(const ChangeRow& row, const RowClock& clock,
                                                   const std::string& unit) {
    std::string incoming;
    if (row.tombstone) {
      incoming = row.tombstone_unit;
    } else if (routing_block_ >= 0) {
      if (const auto* s = std::get_if<std::string>(&row.values[routing_block_])) incoming = *s;
    }
    if (incoming != unit) return RowRejectReason::kForeignUnit;
    if (clock.exists) {
      if (clock.unit != unit) return RowRejectReason::kOwnedElsewhere;
      return std::nullopt;
    }
    // A row written before unitsync tracked it has no clock: ask the row.
    auto values = Current(row.pk);
    if (!values) return tl::unexpected(values.error());
    if (current_found_ && routing_index_ >= 0) {
      const auto* s = std::get_if<std::string>(&(**values)[routing_index_]);
      if (s == nullptr || *s != unit) return RowRejectReason::kOwnedElsewhere;
    }
    return std::nullopt;
  }

  // Current values in spec order; read once per row, only when needed.
  Result<const std::vector<Value>*> Current(const std::string& pk) {
    if (current_loaded_) return &current_;
    current_loaded_ = true;
    current_found_ = false;
    current_.assign(spec_.columns.size(), Value{});
    select_.Reset();
    select_.BindText(1, pk);
    auto found = select_.Step();
    if (!found) return tl::unexpected(found.error());
    if (*found) {
      current_found_ = true;
      for (size_t i = 0; i < spec_.columns.size(); ++i) {
        current_[i] = select_.ColumnValue(static_cast<int>(i));
      }
    }
    select_.Reset();
    return &current_;
  }

  std::string Routing(const ChangeRow& row, const RowClock& clock) const {
    if (routing_block_ >= 0) {
      if (const auto* s = std::get_if<std::string>(&row.values[routing_block_])) return *s;
    }
    return clock.unit;
  }

  // The row now belongs to another unit: forget it, row and clock, without
  // capture (the apply flag is set). Local work central may not have is
  // kept as 'evict' conflicts, one per column this node wrote.
  Status ApplyEviction(const ChangeRow& row) {
    MergeReport& report = m_.report();
    if (m_.replica().role() == Role::kCentral) {
      ++report.rows_unchanged;  // Only central evicts; one arriving here changes nothing.
      return {};
    }
    auto clock = m_.clocks().Load(spec_, row.pk);
    if (!clock) return tl::unexpected(clock.error());
    auto values = Current(row.pk);
    if (!values) return tl::unexpected(values.error());
    if (!clock->exists && !current_found_) {
      ++report.rows_unchanged;
      return {};
    }
    if (clock->exists) {
      auto unacked = m_.HasUnackedLocalChanges(spec_, row.pk);
      if (!unacked) return tl::unexpected(unacked.error());
      const std::string& self = m_.replica().node_id();
      for (size_t c = 0; *unacked && c < spec_.columns.size(); ++c) {
        const ColumnVersion& cv = clock->columns[c];
        if (cv.v.empty() || cv.v.origin != self) continue;
        if (auto st = m_.RecordConflict(spec_, row.pk, c, "evict", Value{}, Version{},
                                        (**values)[c], cv.v);
            !st) {
          return st;
        }
      }
    }
    delete_.Reset();
    delete_.BindText(1, row.pk);
    if (auto st = delete_.Run(); !st) return st;
    if (auto st = m_.clocks().Erase(spec_, row.pk); !st) return st;
    ++report.rows_evicted;
    return {};
  }

  Status ApplyTombstone(const ChangeRow& row, RowClock& clock, bool& changed) {
    if (clock.deleted) {
      if (row.tombstone_version > clock.tombstone) {
        clock.tombstone = row.tombstone_version;
        changed = true;
      }
      return {};
    }
    // Columns the deleter never saw are conflicts that the delete wins.
    for (size_t b = 0; b < block_.columns.size(); ++b) {
      const size_t c = static_cast<size_t>(map_[b]);
      const ColumnVersion& cur = clock.columns[c];
      if (!cur.v.empty() && cur.v > row.versions[b].v) {
        auto values = Current(row.pk);
        if (!values) return tl::unexpected(values.error());
        pending_.push_back({c, "delete", Value{}, row.tombstone_version, (**values)[c], cur.v});
      }
      if (row.versions[b].v > cur.v) clock.columns[c] = row.versions[b];
    }
    delete_.Reset();
    delete_.BindText(1, row.pk);
    if (auto st = delete_.Run(); !st) return st;
    if (m_.replica().db().Changes() > 0 || clock.exists) ++m_.report().rows_deleted;
    if (clock.unit.empty()) clock.unit = row.tombstone_unit;
    clock.deleted = true;
    clock.tombstone = row.tombstone_version;
    changed = true;
    return {};
  }

  Status ApplyToDeleted(const ChangeRow& row, RowClock& clock, bool& changed) {
    for (size_t b = 0; b < block_.columns.size(); ++b) {
      const size_t c = static_cast<size_t>(map_[b]);
      if (row.versions[b].v > clock.columns[c].v) {
        pending_.push_back(
            {c, "delete", Value{}, clock.tombstone, row.values[b], row.versions[b].v});
      }
    }
    (void)changed;  // The tombstone absorbs the update; the clock stays as is.
    return {};
  }

  Status ApplyUpsert(const ChangeRow& row, RowClock& clock, bool& changed) {
    if (!clock.exists) {
      insert_.Reset();
      insert_.BindText(1, row.pk, Statement::Bytes::kBorrow);
      for (size_t b = 0; b < row.values.size(); ++b) {
        // The changeset outlives the statement's use: no copy.
        insert_.BindValue(static_cast<int>(b) + 2, row.values[b], Statement::Bytes::kBorrow);
      }
      auto st = insert_.Run();
      if (st) {
        for (size_t b = 0; b < block_.columns.size(); ++b) {
          clock.columns[static_cast<size_t>(map_[b])] = row.versions[b];
        }
        clock.unit = Routing(row, clock);
        ++m_.report().rows_inserted;
        changed = true;
        return {};
      }
      // A row written before unitsync tracked it has no clock: merge into it.
      if (st.error().code != Errc::kConstraint ||
          st.error().message.find("UNIQUE") == std::string::npos)
        return st;
    }
    std::vector<size_t> set;  // Block indexes whose incoming value wins.
    for (size_t b = 0; b < block_.columns.size(); ++b) {
      const size_t c = static_cast<size_t>(map_[b]);
      const ColumnVersion& in = row.versions[b];
      ColumnVersion& cur = clock.columns[c];
      if (in.v == cur.v) continue;
      if (in.v > cur.v) {
        if (!cur.v.empty() && cur.v > in.prev) {
          auto values = Current(row.pk);
          if (!values) return tl::unexpected(values.error());
          pending_.push_back({c, "update", row.values[b], in.v, (**values)[c], cur.v});
        }
        cur = in;
        set.push_back(b);
      } else if (in.v > cur.prev) {
        auto values = Current(row.pk);
        if (!values) return tl::unexpected(values.error());
        pending_.push_back({c, "update", (**values)[c], cur.v, row.values[b], in.v});
      }
    }
    if (set.empty()) return {};
    std::string key;
    for (size_t b : set) key += std::to_string(b) + ",";
    auto it = updates_.find(key);
    if (it == updates_.end()) {
      std::string sql = "UPDATE " + Quote(spec_.name) + " SET ";
      for (size_t i = 0; i < set.size(); ++i) {
        sql += (i ? ", " : "") + Quote(block_.columns[set[i]]) + " = ?" + std::to_string(i + 2);
      }
      auto stmt = m_.replica().db().Prepare(sql + " WHERE id = ?1");
      if (!stmt) return tl::unexpected(stmt.error());
      it = updates_.emplace(key, std::move(*stmt)).first;
    }
    Statement& update = it->second;
    update.Reset();
    update.BindText(1, row.pk);
    for (size_t i = 0; i < set.size(); ++i) {
      update.BindValue(static_cast<int>(i) + 2, row.values[set[i]], Statement::Bytes::kBorrow);
    }
    if (auto st = update.Run(); !st) return st;
    clock.unit = Routing(row, clock);
    ++m_.report().rows_updated;
    changed = true;
    return {};
  }

  Merger& m_;
  const TableSpec& spec_;
  const TableChanges& block_;
  const std::vector<int>& map_;
  const bool local_only_;
  int routing_block_ = -1;  // Block index of the routing column, or -1.
  int routing_index_ = -1;  // Spec index of the routing column, or -1.
  Statement insert_;
  Statement select_;
  Statement delete_;
  std::map<std::string, Statement> updates_;  // Keyed by the set of columns updated.
  std::vector<Value> current_;
  bool current_loaded_ = false;
  bool current_found_ = false;
  std::vector<PendingConflict> pending_;
};

}  // namespace

std::string_view RowRejectReasonName(RowRejectReason reason) {
  switch (reason) {
    case RowRejectReason::kCentralScope:
      return "central_scope";
    case RowRejectReason::kForeignUnit:
      return "foreign_unit";
    case RowRejectReason::kOwnedElsewhere:
      return "owned_elsewhere";
    case RowRejectReason::kLocalOnlyColumn:
      return "local_only_column";
    case RowRejectReason::kConstraint:
      return "constraint";
    case RowRejectReason::kEviction:
      return "eviction";
  }
  return "unknown";
}

Result<MergeReport> ApplyChangeset(Replica& replica, std::span<const uint8_t> bytes,
                                   const ApplyOptions& options) {
  auto cs = DecodeChangeset(bytes);
  if (!cs) return tl::unexpected(cs.error());
  return ApplyChangeset(replica, *cs, options);
}

Result<MergeReport> ApplyChangeset(Replica& replica, const Changeset& cs,
                                   const ApplyOptions& options) {
  if (options.authorize_unit) {
    if (replica.role() != Role::kCentral) {
      return Fail(Errc::kInvalidArgument, "only central authorizes the rows of a unit's push");
    }
    if (options.authorize_unit->empty()) {
      return Fail(Errc::kInvalidArgument, "authorize_unit names no unit");
    }
  }
  if (options.advance_received && options.advance_received->peer.empty()) {
    return Fail(Errc::kInvalidArgument, "advance_received names no peer");
  }
  auto plans = MapColumns(replica, cs);
  if (!plans) return tl::unexpected(plans.error());

  MergeReport report;
  const uint64_t clock_before = replica.clock().last();
  ForeignKeysOff fk_off(replica.db());
  auto tx = Transaction::Begin(replica.db());
  if (!tx) return tl::unexpected(tx.error());
  auto fail = [&](const Error& e) {
    // Timestamps observed from a failed apply must not stick.
    replica.clock().Restore(clock_before);
    return tl::unexpected(e);
  };
  // Local writes not yet stamped must be versioned before anything can
  // overwrite them, or they would be lost without a conflict record.
  if (auto st = StampPendingChanges(replica); !st) return fail(st.error());
  if (auto st = replica.db().Exec("INSERT INTO _us_applying(flag) VALUES (1)"); !st) {
    return fail(st.error());
  }
  auto clocks = RowClockStore::Prepare(replica.db());
  if (!clocks) return fail(clocks.error());
  Merger merger(replica, *clocks, options, report);
  if (auto st = merger.Init(); !st) return fail(st.error());

  for (size_t t = 0; t < cs.tables.size(); ++t) {
    const TableChanges& block = cs.tables[t];
    TableMerger tm(merger, *replica.manifest().Find(block.table), block, (*plans)[t]);
    if (auto st = tm.Prepare(); !st) return fail(st.error());
    for (const ChangeRow& row : block.rows) {
      if (auto st = tm.Apply(row); !st) return fail(st.error());
    }
  }
  if (auto st = replica.db().Exec("DELETE FROM _us_applying"); !st) return fail(st.error());
  if (options.advance_received) {
    const ApplyOptions::Cursor& c = *options.advance_received;
    if (auto st = AdvanceReceived(replica, c.peer, c.seq); !st) return fail(st.error());
  }
  if (auto st = replica.SaveClock(); !st) return fail(st.error());
  if (auto st = tx->Commit(); !st) return fail(st.error());
  return report;
}

}  // namespace unitsync::store
