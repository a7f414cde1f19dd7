// Internal to ApplyChangeset (merge.cc): the state shared by one apply and
// the per-row merge logic of one table block. Not part of the store's API;
// the contract is store/merge.h.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "store/merge.h"
#include "store/row_clock.h"

namespace unitsync::store::internal {

// How one table block maps onto the local schema.
struct BlockPlan {
  std::vector<int> map;     // Block column -> local column index (-1: local-only).
  bool local_only = false;  // The block names a local-only column: every row is rejected.
};

// What one apply shares across table blocks: the report, the row clocks,
// the statements that record conflicts and central's fan-out log.
class MergeContext {
 public:
  MergeContext(Replica& replica, RowClockStore& clocks, const ApplyOptions& options,
               MergeReport& report)
      : replica_(replica), clocks_(clocks), options_(options), report_(report) {}

  Status Init();

  Status RecordConflict(const TableSpec& spec, const std::string& pk, size_t col, const char* kind,
                        const Value& winner_value, const Version& winner, const Value& loser_value,
                        const Version& loser);

  // Central keeps one log of every accepted change, the source of fan-out:
  // 'M' for a merged row (its current unit), 'X' when the merge moved the
  // row away from `unit` (that unit gets an eviction), 'P' a purge for `unit`.
  Status LogMerged(const TableSpec& spec, const std::string& pk, const std::string& unit,
                   const char* op);

  void Reject(const TableSpec& spec, const std::string& pk, RowRejectReason reason);

  // True when the row has change-log entries after the last one central
  // acknowledged (sync_state.h push_acked_log_seq): local work central may
  // not have.
  Result<bool> HasUnackedLocalChanges(const TableSpec& spec, const std::string& pk);

  void Observe(const Version& v);

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
  TableMerger(MergeContext& m, const TableSpec& spec, const TableChanges& block,
              const BlockPlan& plan)
      : m_(m), spec_(spec), block_(block), map_(plan.map), local_only_(plan.local_only) {}

  Status Prepare();

  Status Apply(const ChangeRow& row);

  // Apply() for a row of which the replica holds no clock record, without looking
  // one up (snapshot_apply.cc proves the precondition for a whole block). Evictions,
  // authorized and local-only blocks take Apply(). REQUIRES: no _us_clock row for
  // (this table, row.pk) — then the result is exactly Apply()'s.
  Status ApplyFresh(const ChangeRow& row);

 private:
  Status Reject(const ChangeRow& row, RowRejectReason reason);

  // Apply() from the row's stored clock (an empty one when it has none) on.
  Status ApplyWithClock(const ChangeRow& row, RowClock& clock);

  // DESIGN.md "Write authorization at central", for a row that `unit` sent.
  Result<std::optional<RowRejectReason>> Authorize(const ChangeRow& row, const RowClock& clock,
                                                   const std::string& unit);

  // Current values in spec order; read once per row, only when needed.
  Result<const std::vector<Value>*> Current(const std::string& pk);

  std::string Routing(const ChangeRow& row, const RowClock& clock) const;

  // The row now belongs to another unit: forget it, row and clock, without
  // capture (the apply flag is set). Local work central may not have is
  // kept as 'evict' conflicts, one per column this node wrote.
  Status ApplyEviction(const ChangeRow& row);

  // Erases the row and its history and keeps the marker (purge.h).
  Status ApplyPurge(const ChangeRow& row, RowClock& clock);

  Status ApplyTombstone(const ChangeRow& row, RowClock& clock, bool& changed);

  Status ApplyToDeleted(const ChangeRow& row, RowClock& clock, bool& changed);

  Status ApplyUpsert(const ChangeRow& row, RowClock& clock, bool& changed);

  MergeContext& m_;
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

// Maps each block's columns onto the manifest (merge.cc). Fails, before anything is
// written, with kRejected for an unknown table or column.
Result<std::vector<BlockPlan>> MapColumns(const Replica& replica, const Changeset& cs);

// Keeps foreign keys off for the duration of a merge (a child may arrive before its
// parent); SQLite only honours the pragma outside a transaction.
class ForeignKeysOff {
 public:
  explicit ForeignKeysOff(Db& db);
  ~ForeignKeysOff();
  ForeignKeysOff(const ForeignKeysOff&) = delete;
  ForeignKeysOff& operator=(const ForeignKeysOff&) = delete;
  // Whether turning them off worked; a merge must not start otherwise (merge.cc).
  const Status& status() const { return status_; }

 private:
  Db& db_;
  Status status_;
};

// Says whether a table block may take TableMerger::ApplyFresh for every row
// (snapshot_apply.cc).
using FreshBlockTest = std::function<Result<bool>(const TableSpec&, const TableChanges&)>;

// The merge of `cs` inside the caller's open write transaction (foreign keys off):
// stamps pending local changes, raises the apply flag, merges every block (`plans` from
// MapColumns) and lowers the flag. Blocks for which `fresh` (optional) answers true
// take ApplyFresh. Cursors, meta, the clock's persistence and the commit are the
// caller's. On failure the transaction holds partial writes: the caller rolls back.
Status MergeRows(Replica& replica, const Changeset& cs, const std::vector<BlockPlan>& plans,
                 const ApplyOptions& options, MergeReport& report, const FreshBlockTest* fresh);

}  // namespace unitsync::store::internal
