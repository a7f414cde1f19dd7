#include "store/merge.h"

#include <map>

#include "store/change_log.h"
#include "store/row_clock.h"

namespace unitsync::store {
namespace {

std::string Quote(const std::string& ident) { return "\"" + ident + "\""; }

// Checks the changeset against the manifest before anything is written, and
// maps each block column to the local column index.
Result<std::vector<std::vector<int>>> MapColumns(const Replica& replica, const Changeset& cs) {
  std::vector<std::vector<int>> maps;
  for (const TableChanges& t : cs.tables) {
    const TableSpec* spec = replica.manifest().Find(t.table);
    if (spec == nullptr) {
      return Fail(Errc::kRejected, "changeset rejected: unknown table '" + t.table + "'",
                  "the sender runs another schema; upgrade the older node");
    }
    std::vector<int> map;
    for (const std::string& c : t.columns) {
      if (spec->IsLocalOnly(c)) {
        return Fail(Errc::kRejected,
                    "changeset rejected: column " + t.table + "." + c + " is local-only");
      }
      const int i = spec->ColumnIndex(c);
      if (i < 0) {
        return Fail(Errc::kRejected, "changeset rejected: unknown column " + t.table + "." + c,
                    "the sender runs another schema; upgrade the older node");
      }
      map.push_back(i);
    }
    maps.push_back(std::move(map));
  }
  return maps;
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

class TableMerger;

class Merger {
 public:
  Merger(Replica& replica, RowClockStore& clocks, MergeReport& report)
      : replica_(replica), clocks_(clocks), report_(report) {}

  Status Init() {
    auto conflict = replica_.db().Prepare(
        "INSERT OR IGNORE INTO _us_conflicts(tbl, pk, col, kind, winner_value, winner_hlc, "
        "winner_origin, loser_value, loser_hlc, loser_origin, detected_ms) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)");
    if (!conflict) return tl::unexpected(conflict.error());
    conflict_ = std::move(*conflict);
    auto log = replica_.db().Prepare(
        "INSERT INTO _us_changes(tbl, pk, op, cols, unit, wall_ms) VALUES (?1, ?2, 'M', NULL, ?3, "
        "?4)");
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

  // Central keeps one log of every accepted change, the source of fan-out.
  Status LogMerged(const TableSpec& spec, const std::string& pk, const std::string& unit) {
    if (replica_.role() != Role::kCentral) return {};
    log_.Reset();
    log_.BindText(1, spec.name);
    log_.BindText(2, pk);
    if (unit.empty()) {
      log_.BindNull(3);
    } else {
      log_.BindText(3, unit);
    }
    log_.BindInt(4, replica_.NowMs());
    return log_.Run();
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

 private:
  Replica& replica_;
  RowClockStore& clocks_;
  MergeReport& report_;
  Statement conflict_;
  Statement log_;
};

// Prepared statements and the per-row logic for one table block.
class TableMerger {
 public:
  TableMerger(Merger& m, const TableSpec& spec, const TableChanges& block,
              const std::vector<int>& map)
      : m_(m), spec_(spec), block_(block), map_(map) {}

  Status Prepare() {
    Db& db = m_.replica().db();
    std::string cols, marks;
    for (size_t i = 0; i < block_.columns.size(); ++i) {
      cols += ", " + Quote(block_.columns[i]);
      marks += ", ?" + std::to_string(i + 2);
    }
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
    ++m_.report().rows_received;
    auto clock = m_.clocks().Load(spec_, row.pk);
    if (!clock) return tl::unexpected(clock.error());
    for (const ColumnVersion& cv : row.versions) {
      if (!cv.v.empty()) m_.Observe(cv.v);
    }
    if (row.tombstone) m_.Observe(row.tombstone_version);

    Status st;
    bool changed = false;
    if (row.tombstone) {
      st = ApplyTombstone(row, *clock, changed);
    } else if (clock->deleted) {
      st = ApplyToDeleted(row, *clock, changed);
    } else {
      st = ApplyUpsert(row, *clock, changed);
    }
    if (!st) return Reject(row, st.error());
    if (!changed) {
      ++m_.report().rows_unchanged;
      return {};
    }
    clock->exists = true;
    if (auto s = m_.clocks().Save(spec_, row.pk, *clock); !s) return s;
    return m_.LogMerged(spec_, row.pk, clock->unit);
  }

 private:
  Status Reject(const ChangeRow& row, const Error& e) {
    if (e.code != Errc::kConstraint) return tl::unexpected(e);
    return Fail(
        Errc::kRejected,
        "changeset rejected: table " + spec_.name + " row " + row.pk + ": " + e.message,
        "the sender wrote a value this replica's schema does not allow; nothing was applied");
  }

  // Current values in spec order; read once per row, only when needed.
  Result<const std::vector<Value>*> Current(const std::string& pk) {
    if (current_loaded_) return &current_;
    current_loaded_ = true;
    current_.assign(spec_.columns.size(), Value{});
    select_.Reset();
    select_.BindText(1, pk);
    auto found = select_.Step();
    if (!found) return tl::unexpected(found.error());
    if (*found) {
      for (size_t i = 0; i < spec_.columns.size(); ++i) {
        current_[i] = select_.ColumnValue(static_cast<int>(i));
      }
    }
    select_.Reset();
    return &current_;
  }

  std::string Routing(const ChangeRow& row, const RowClock& clock) const {
    for (size_t b = 0; b < block_.columns.size(); ++b) {
      if (!spec_.routing.empty() && block_.columns[b] == spec_.routing) {
        if (const auto* s = std::get_if<std::string>(&row.values[b])) return *s;
      }
    }
    return clock.unit;
  }

  Status ApplyTombstone(const ChangeRow& row, RowClock& clock, bool& changed) {
    current_loaded_ = false;
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
        if (auto st = m_.RecordConflict(spec_, row.pk, c, "delete", Value{}, row.tombstone_version,
                                        (**values)[c], cur.v);
            !st) {
          return st;
        }
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
        if (auto st = m_.RecordConflict(spec_, row.pk, c, "delete", Value{}, clock.tombstone,
                                        row.values[b], row.versions[b].v);
            !st) {
          return st;
        }
      }
    }
    (void)changed;  // The tombstone absorbs the update; the clock stays as is.
    return {};
  }

  Status ApplyUpsert(const ChangeRow& row, RowClock& clock, bool& changed) {
    current_loaded_ = false;
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
          if (auto st = m_.RecordConflict(spec_, row.pk, c, "update", row.values[b], in.v,
                                          (**values)[c], cur.v);
              !st) {
            return st;
          }
        }
        cur = in;
        set.push_back(b);
      } else if (in.v > cur.prev) {
        auto values = Current(row.pk);
        if (!values) return tl::unexpected(values.error());
        if (auto st = m_.RecordConflict(spec_, row.pk, c, "update", (**values)[c], cur.v,
                                        row.values[b], in.v);
            !st) {
          return st;
        }
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
  Statement insert_;
  Statement select_;
  Statement delete_;
  std::map<std::string, Statement> updates_;  // Keyed by the set of columns updated.
  std::vector<Value> current_;
  bool current_loaded_ = false;
};

}  // namespace

Result<MergeReport> ApplyChangeset(Replica& replica, std::span<const uint8_t> bytes,
                                   const ApplyOptions& options) {
  auto cs = DecodeChangeset(bytes);
  if (!cs) return tl::unexpected(cs.error());
  return ApplyChangeset(replica, *cs, options);
}

Result<MergeReport> ApplyChangeset(Replica& replica, const Changeset& cs,
                                   const ApplyOptions& options) {
  (void)options;  // TODO(sync): authorization and in-transaction cursors.
  auto maps = MapColumns(replica, cs);
  if (!maps) return tl::unexpected(maps.error());

  MergeReport report;
  const uint64_t clock_before = replica.clock().last();
  ForeignKeysOff fk_off(replica.db());
  auto tx = Transaction::Begin(replica.db());
  if (!tx) return tl::unexpected(tx.error());
  auto fail = [&](const Error& e) {
    // Timestamps observed from a rejected changeset must not stick.
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
  Merger merger(replica, *clocks, report);
  if (auto st = merger.Init(); !st) return fail(st.error());

  for (size_t t = 0; t < cs.tables.size(); ++t) {
    const TableChanges& block = cs.tables[t];
    TableMerger tm(merger, *replica.manifest().Find(block.table), block, (*maps)[t]);
    if (auto st = tm.Prepare(); !st) return fail(st.error());
    for (const ChangeRow& row : block.rows) {
      if (auto st = tm.Apply(row); !st) return fail(st.error());
    }
  }
  if (auto st = replica.db().Exec("DELETE FROM _us_applying"); !st) return fail(st.error());
  if (auto st = replica.SaveClock(); !st) return fail(st.error());
  if (auto st = tx->Commit(); !st) return fail(st.error());
  return report;
}

}  // namespace unitsync::store
