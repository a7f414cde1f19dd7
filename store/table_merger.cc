#include "store/table_merger.h"

#include "store/meta_number.h"
#include "store/purge.h"
#include "store/sync_state.h"

namespace unitsync::store::internal {
namespace {

std::string Quote(const std::string& ident) { return "\"" + ident + "\""; }

}  // namespace

Status MergeContext::Init() {
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

Status MergeContext::RecordConflict(const TableSpec& spec, const std::string& pk, size_t col,
                                    const char* kind, const Value& winner_value,
                                    const Version& winner, const Value& loser_value,
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

Status MergeContext::LogMerged(const TableSpec& spec, const std::string& pk,
                               const std::string& unit, const char* op) {
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

void MergeContext::Reject(const TableSpec& spec, const std::string& pk, RowRejectReason reason) {
  report_.rejected.push_back({spec.name, pk, reason});
}

Result<bool> MergeContext::HasUnackedLocalChanges(const TableSpec& spec, const std::string& pk) {
  if (!unacked_.valid()) {
    auto acked = GetMetaNumber(replica_, kMetaPushAckedLogSeq);
    if (!acked) return tl::unexpected(acked.error());
    acked_log_seq_ = *acked;
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

void MergeContext::Observe(const Version& v) {
  if (!replica_.clock().Observe(v.hlc)) {
    ++report_.far_future_versions;
    const int64_t ahead = HlcWallMs(v.hlc) - replica_.NowMs();
    report_.max_far_future_ms = std::max<uint64_t>(report_.max_far_future_ms, ahead);
  }
}

Status TableMerger::Prepare() {
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
  auto insert =
      db.Prepare("INSERT INTO " + Quote(spec_.name) + "(id" + cols + ") VALUES (?1" + marks + ")");
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

Status TableMerger::Apply(const ChangeRow& row) {
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
    if (*reason == RowRejectReason::kPurged) {
      // A stale copy (a restored backup, a resend): the sender gets the purge.
      if (auto st = m_.LogMerged(spec_, row.pk, *unit, "P"); !st) return st;
    }
    if (*reason) return Reject(row, **reason);
  }
  return ApplyWithClock(row, *clock);
}

Status TableMerger::ApplyFresh(const ChangeRow& row) {
  if (row.evict || local_only_ || m_.authorize_unit()) return Apply(row);
  ++m_.report().rows_received;
  ++m_.report().rows_fresh;
  current_loaded_ = false;
  pending_.clear();
  // What RowClockStore::Load returns for a row without a record.
  RowClock clock;
  clock.columns.resize(spec_.columns.size());
  return ApplyWithClock(row, clock);
}

Status TableMerger::ApplyWithClock(const ChangeRow& row, RowClock& clock) {
  MergeReport& report = m_.report();
  if (row.purge) return ApplyPurge(row, clock);
  if (clock.purged) {
    ++report.rows_unchanged;  // A purged row never comes back.
    return {};
  }
  const std::string old_unit = clock.exists ? clock.unit : std::string();

  Status st;
  bool changed = false;
  if (row.tombstone) {
    st = ApplyTombstone(row, clock, changed);
  } else if (clock.deleted) {
    st = ApplyToDeleted(row, clock, changed);
  } else {
    st = ApplyUpsert(row, clock, changed);
  }
  if (!st) {
    if (st.error().code != Errc::kConstraint) return st;
    // A value this schema refuses: the whole changeset is rejected (the
    // caller rolls back). Both ends check the same rules on local writes,
    // so this means schema skew between versions: stop, don't half-apply.
    return Fail(
        Errc::kRejected,
        "changeset rejected: table " + spec_.name + " row " + row.pk + ": " + st.error().message,
        "the sender wrote a value this replica's schema does not allow; nothing was "
        "applied");
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
  clock.exists = true;
  if (auto s = m_.clocks().Save(spec_, row.pk, clock); !s) return s;
  if (auto s = m_.LogMerged(spec_, row.pk, clock.unit, "M"); !s) return s;
  if (!old_unit.empty() && old_unit != clock.unit) {
    return m_.LogMerged(spec_, row.pk, old_unit, "X");
  }
  return {};
}

Status TableMerger::Reject(const ChangeRow& row, RowRejectReason reason) {
  pending_.clear();
  m_.Reject(spec_, row.pk, reason);
  return {};
}

Result<std::optional<RowRejectReason>> TableMerger::Authorize(const ChangeRow& row,
                                                              const RowClock& clock,
                                                              const std::string& unit) {
  if (clock.purged && !row.purge) return RowRejectReason::kPurged;
  // Versions central could never write over (merge.h kMaxFutureVersionMs).
  const int64_t horizon = m_.replica().NowMs() + kMaxFutureVersionMs;
  auto beyond = [horizon](const Version& v) { return HlcWallMs(v.hlc) > horizon; };
  if ((row.tombstone || row.purge) && beyond(row.tombstone_version)) {
    return RowRejectReason::kFutureVersion;
  }
  for (const ColumnVersion& cv : row.versions) {
    if (beyond(cv.v)) return RowRejectReason::kFutureVersion;
  }
  std::string incoming;
  if (row.tombstone || row.purge) {
    incoming = row.tombstone_unit;
  } else if (routing_block_ >= 0) {
    if (const auto* s = std::get_if<std::string>(&row.values[routing_block_])) incoming = *s;
  }
  if (incoming != unit) return RowRejectReason::kForeignUnit;
  if (clock.exists && clock.unit != unit) return RowRejectReason::kOwnedElsewhere;
  if (clock.deleted) return std::nullopt;
  // The live row too: it may predate unitsync's tracking (no clock), and an
  // authorization check should not rest on bookkeeping alone.
  auto values = Current(row.pk);
  if (!values) return tl::unexpected(values.error());
  if (current_found_ && routing_index_ >= 0) {
    const auto* s = std::get_if<std::string>(&(**values)[routing_index_]);
    if (s == nullptr || *s != unit) return RowRejectReason::kOwnedElsewhere;
  }
  return std::nullopt;
}

Result<const std::vector<Value>*> TableMerger::Current(const std::string& pk) {
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

std::string TableMerger::Routing(const ChangeRow& row, const RowClock& clock) const {
  if (routing_block_ >= 0) {
    if (const auto* s = std::get_if<std::string>(&row.values[routing_block_])) return *s;
  }
  return clock.unit;
}

Status TableMerger::ApplyEviction(const ChangeRow& row) {
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
      if (auto st =
              m_.RecordConflict(spec_, row.pk, c, "evict", Value{}, Version{}, (**values)[c], cv.v);
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

Status TableMerger::ApplyPurge(const ChangeRow& row, RowClock& clock) {
  MergeReport& report = m_.report();
  m_.Observe(row.tombstone_version);
  if (clock.purged) {
    if (!(row.tombstone_version > clock.tombstone)) {
      ++report.rows_unchanged;
      return {};
    }
    clock.tombstone = row.tombstone_version;  // Of two purges the higher version stays.
    if (auto st = m_.clocks().Save(spec_, row.pk, clock); !st) return st;
    ++report.rows_purged;
    return m_.LogMerged(spec_, row.pk, clock.unit, "P");
  }
  auto values = Current(row.pk);
  if (!values) return tl::unexpected(values.error());
  const bool central = m_.replica().role() == Role::kCentral;
  if (!central && spec_.scope == Scope::kUnit && row.tombstone_unit != m_.replica().node_id()) {
    // The row moved to another unit before it was purged: this unit keeps nothing of it,
    // not even the marker (its scope is its own rows).
    if (!clock.exists && !current_found_) {
      ++report.rows_unchanged;
      return {};
    }
    if (auto st = internal::EraseRowHistory(m_.replica(), spec_, row.pk, "", false); !st) {
      return st;
    }
    if (auto st = m_.clocks().Erase(spec_, row.pk); !st) return st;
    ++report.rows_purged;
    return {};
  }
  // The purge names the row's unit as its sender saw it last: this unit at a unit (see
  // above), the sender's own unit at central (authorized). Every replica keeps that, so
  // their digests agree.
  const std::string unit = spec_.scope == Scope::kCentral ? std::string() : row.tombstone_unit;
  if (auto st = internal::EraseRowHistory(m_.replica(), spec_, row.pk, unit, central); !st) {
    return st;
  }
  const RowClock marker = RowClock::PurgeMarker(spec_.columns.size(), unit, row.tombstone_version);
  if (auto st = m_.clocks().Save(spec_, row.pk, marker); !st) return st;
  ++report.rows_purged;
  return {};
}

Status TableMerger::ApplyTombstone(const ChangeRow& row, RowClock& clock, bool& changed) {
  if (clock.deleted) {
    if (row.tombstone_version > clock.tombstone) {
      clock.tombstone = row.tombstone_version;
      ++m_.report().rows_tombstoned;
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
  if (m_.replica().db().Changes() > 0 || clock.exists) {
    ++m_.report().rows_deleted;
  } else {
    ++m_.report().rows_tombstoned;  // a row deleted before this replica saw it
  }
  if (clock.unit.empty()) clock.unit = row.tombstone_unit;
  clock.deleted = true;
  clock.tombstone = row.tombstone_version;
  changed = true;
  return {};
}

Status TableMerger::ApplyToDeleted(const ChangeRow& row, RowClock& clock, bool& changed) {
  for (size_t b = 0; b < block_.columns.size(); ++b) {
    const size_t c = static_cast<size_t>(map_[b]);
    if (row.versions[b].v > clock.columns[c].v) {
      pending_.push_back({c, "delete", Value{}, clock.tombstone, row.values[b], row.versions[b].v});
    }
  }
  (void)changed;  // The tombstone absorbs the update; the clock stays as is.
  return {};
}

Status TableMerger::ApplyUpsert(const ChangeRow& row, RowClock& clock, bool& changed) {
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
    // One node's versions of a column are sequential: it wrote each with the others in
    // view. Between nodes, `prev` (change_log.cc) says what the writer had seen.
    const bool same_writer = in.v.origin == cur.v.origin;
    if (in.v > cur.v) {
      if (!cur.v.empty() && !same_writer && cur.v > in.prev) {
        auto values = Current(row.pk);
        if (!values) return tl::unexpected(values.error());
        pending_.push_back({c, "update", row.values[b], in.v, (**values)[c], cur.v});
      }
      cur = in;
      set.push_back(b);
    } else if (!same_writer && in.v > cur.prev) {
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

}  // namespace unitsync::store::internal
