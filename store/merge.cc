#include "store/merge.h"

#include "store/change_log.h"
#include "store/cursors.h"
#include "store/rejections.h"
#include "store/row_clock.h"
#include "store/seed_tracking.h"
#include "store/table_merger.h"

namespace unitsync::store {
namespace internal {

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

// A merge must not start when turning foreign keys off failed: with them on, a child
// that arrives before its parent fails as a constraint violation, which reads as schema
// skew and stops the sync, where the failure was a passing I/O error. Turning them on
// again is best effort (it runs after the commit; the next merge sets them again).
ForeignKeysOff::ForeignKeysOff(Db& db) : db_(db), status_(db_.Exec("PRAGMA foreign_keys = OFF")) {}
ForeignKeysOff::~ForeignKeysOff() {
  if (status_) (void)db_.Exec("PRAGMA foreign_keys = ON");
}

Status MergeRows(Replica& replica, const Changeset& cs, const std::vector<BlockPlan>& plans,
                 const ApplyOptions& options, MergeReport& report, const FreshBlockTest* fresh) {
  // Local writes not yet stamped must be versioned before anything can
  // overwrite them, or they would be lost without a conflict record.
  if (auto st = StampPendingChanges(replica); !st) return st;
  if (auto st = replica.db().Exec("INSERT INTO _us_applying(flag) VALUES (1)"); !st) return st;
  auto clocks = RowClockStore::Prepare(replica.db());
  if (!clocks) return tl::unexpected(clocks.error());
  MergeContext merger(replica, *clocks, options, report);
  if (auto st = merger.Init(); !st) return st;

  for (size_t t = 0; t < cs.tables.size(); ++t) {
    const TableChanges& block = cs.tables[t];
    const TableSpec& spec = *replica.manifest().Find(block.table);
    TableMerger tm(merger, spec, block, plans[t]);
    if (auto st = tm.Prepare(); !st) return st;
    bool is_fresh = false;
    if (fresh != nullptr) {
      auto f = (*fresh)(spec, block);
      if (!f) return tl::unexpected(f.error());
      is_fresh = *f;
    }
    for (const ChangeRow& row : block.rows) {
      if (auto st = is_fresh ? tm.ApplyFresh(row) : tm.Apply(row); !st) return st;
    }
  }
  return replica.db().Exec("DELETE FROM _us_applying");
}

}  // namespace internal

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
    case RowRejectReason::kFutureVersion:
      return "future_version";
    case RowRejectReason::kPurged:
      return "purged";
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
  auto plans = internal::MapColumns(replica, cs);
  if (!plans) return tl::unexpected(plans.error());

  MergeReport report;
  const uint64_t clock_before = replica.clock().last();
  internal::ForeignKeysOff fk_off(replica.db());
  if (!fk_off.status()) return tl::unexpected(fk_off.status().error());
  auto tx = Transaction::Begin(replica.db());
  if (!tx) return tl::unexpected(tx.error());
  auto fail = [&](const Error& e) {
    // Timestamps observed from a failed apply must not stick.
    replica.clock().Restore(clock_before);
    return tl::unexpected(e);
  };
  if (auto st = internal::MergeRows(replica, cs, *plans, options, report, nullptr); !st) {
    return fail(st.error());
  }
  if (options.end_forced_seed) {
    if (auto st = internal::EndSeedTracking(replica); !st) return fail(st.error());
  }
  for (const auto& [key, value] : options.set_meta) {
    if (auto st = replica.SetMeta(key, value); !st) return fail(st.error());
  }
  if (options.advance_received) {
    const ApplyOptions::Cursor& c = *options.advance_received;
    if (auto st = AdvanceReceived(replica, c.peer, c.seq); !st) return fail(st.error());
    // Refused rows are kept with the apply that refused them, for the admin.
    if (auto st = InsertRejections(replica, c.peer, RejectionDirection::kRefusedHere, c.seq,
                                   report.rejected);
        !st) {
      return fail(st.error());
    }
  }
  if (auto st = replica.SaveClock(); !st) return fail(st.error());
  if (auto st = tx->Commit(); !st) return fail(st.error());
  return report;
}

}  // namespace unitsync::store
