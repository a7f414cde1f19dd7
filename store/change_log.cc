#include "store/change_log.h"

#include "store/meta_number.h"
#include "store/row_clock.h"

namespace unitsync::store {
namespace {

std::vector<std::string> SplitCols(const std::string& cols) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start < cols.size()) {
    size_t end = cols.find(',', start);
    if (end == std::string::npos) end = cols.size();
    if (end > start) out.push_back(cols.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

}  // namespace

Status StampPendingChanges(Replica& replica) {
  auto stamped = GetMetaNumber(replica, "stamped_seq");
  if (!stamped) return tl::unexpected(stamped.error());
  const int64_t after = *stamped;

  auto entries = ListChanges(replica, after, SIZE_MAX);
  if (!entries) return tl::unexpected(entries.error());
  if (entries->empty()) return {};

  auto clocks = RowClockStore::Prepare(replica.db());
  if (!clocks) return tl::unexpected(clocks.error());
  const std::string& self = replica.node_id();

  for (const LoggedChange& e : *entries) {
    // 'M': merged from a peer, versioned by its origin already. 'X' (a row
    // moved away) and 'R' (re-queued for a resend) change no column: a
    // version bump here would invent a write nobody made. 'P': the purge was
    // versioned when it was made (purge.h).
    if (e.op == 'M' || e.op == 'X' || e.op == 'R' || e.op == 'P') continue;
    const TableSpec* spec = replica.manifest().Find(e.table);
    if (spec == nullptr) continue;  // Table left the manifest since capture.
    auto clock = clocks->Load(*spec, e.pk);
    if (!clock) return tl::unexpected(clock.error());
    if (clock->deleted) continue;  // Guards make this unreachable for local writes.

    // A new version must beat the version it replaces even if that one came
    // from a node whose clock runs ahead of ours.
    const uint64_t ts = std::max(replica.clock().Tick(), clock->MaxHlc() + 1);
    const Version stamp{ts, self};
    // `prev` is the newest version from another node that this node's writes of the
    // column replaced: overwriting our own version keeps that one. A chain of local
    // writes then still shows which foreign version it started from, so a peer's write
    // it never saw is found concurrent however the HLCs of the chain fall (merge.h).
    auto bump = [&](size_t i) {
      ColumnVersion& cur = clock->columns[i];
      cur = {stamp, cur.v.origin == self ? cur.prev : cur.v};
    };

    switch (e.op) {
      case 'I':
        for (size_t i = 0; i < spec->columns.size(); ++i) bump(i);
        clock->unit = e.unit;
        break;
      case 'U':
        for (const std::string& col : SplitCols(e.cols)) {
          const int i = spec->ColumnIndex(col);
          if (i >= 0) bump(static_cast<size_t>(i));
        }
        clock->unit = e.unit;
        break;
      case 'D':
        clock->deleted = true;
        clock->tombstone = stamp;
        if (!clock->exists) clock->unit = e.unit;
        break;
      default:
        return Fail(Errc::kCorrupt, "change log entry " + std::to_string(e.seq) + " has op '" +
                                        std::string(1, e.op) + "'");
    }
    clock->exists = true;
    if (auto st = clocks->Save(*spec, e.pk, *clock); !st) return st;
  }
  if (auto st = replica.SetMeta("stamped_seq", std::to_string(entries->back().seq)); !st) return st;
  return replica.SaveClock();
}

Status StampPendingChangesNow(Replica& replica) {
  auto tx = Transaction::Begin(replica.db());
  if (!tx) return tl::unexpected(tx.error());
  if (auto st = StampPendingChanges(replica); !st) return st;
  return tx->Commit();
}

Result<std::vector<LoggedChange>> ListChanges(Replica& replica, int64_t after_seq, size_t limit) {
  auto stmt = replica.db().Prepare(
      "SELECT seq, tbl, pk, op, cols, unit, wall_ms FROM _us_changes WHERE seq > ?1 "
      "ORDER BY seq LIMIT ?2");
  if (!stmt) return tl::unexpected(stmt.error());
  stmt->BindInt(1, after_seq);
  stmt->BindInt(2,
                limit > static_cast<size_t>(INT64_MAX) ? INT64_MAX : static_cast<int64_t>(limit));
  std::vector<LoggedChange> out;
  for (;;) {
    auto row = stmt->Step();
    if (!row) return tl::unexpected(row.error());
    if (!*row) break;
    LoggedChange c;
    c.seq = stmt->ColumnInt(0);
    c.table = stmt->ColumnText(1);
    c.pk = stmt->ColumnText(2);
    const std::string op = stmt->ColumnText(3);
    c.op = op.empty() ? '?' : op[0];
    c.cols = stmt->ColumnText(4);
    c.unit = stmt->ColumnText(5);
    c.wall_ms = stmt->ColumnInt(6);
    out.push_back(std::move(c));
  }
  return out;
}

Result<ChangeLogStats> GetChangeLogStats(Replica& replica, int64_t after_seq) {
  ChangeLogStats stats;
  auto head = replica.db().Prepare("SELECT max(seq) FROM _us_changes");
  if (!head) return tl::unexpected(head.error());
  auto row = head->Step();
  if (!row) return tl::unexpected(row.error());
  if (*row && !head->ColumnIsNull(0)) stats.head_seq = head->ColumnInt(0);

  auto pending =
      replica.db().Prepare("SELECT count(*), min(wall_ms) FROM _us_changes WHERE seq > ?1");
  if (!pending) return tl::unexpected(pending.error());
  pending->BindInt(1, after_seq);
  row = pending->Step();
  if (!row) return tl::unexpected(row.error());
  stats.pending = pending->ColumnInt(0);
  stats.oldest_wall_ms = pending->ColumnIsNull(1) ? 0 : pending->ColumnInt(1);
  return stats;
}

Status TrimChangeLog(Replica& replica, int64_t upto_seq) {
  auto stamped = GetMetaNumber(replica, "stamped_seq");
  if (!stamped) return tl::unexpected(stamped.error());
  // Never trim what has not been stamped: its versions would be lost.
  const int64_t limit = std::min<int64_t>(upto_seq, *stamped);
  // The newest entry always stays: seq is a plain rowid (AUTOINCREMENT's
  // bookkeeping cost a write per change), and max(seq) + 1 must never fall
  // back to a number a peer has already acknowledged.
  auto stmt = replica.db().Prepare(
      "DELETE FROM _us_changes WHERE seq <= ?1 AND seq < (SELECT max(seq) FROM _us_changes)");
  if (!stmt) return tl::unexpected(stmt.error());
  stmt->BindInt(1, limit);
  return stmt->Run();
}

}  // namespace unitsync::store
