#include "store/rejections.h"

namespace unitsync::store {

Status InsertRejections(Replica& replica, const std::string& peer, RejectionDirection direction,
                        int64_t seq, const std::vector<RowRejection>& rows) {
  if (rows.empty()) return {};
  auto insert = replica.db().Prepare(
      "INSERT INTO _us_rejections(peer, direction, seq, tbl, pk, reason, detected_ms) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)");
  if (!insert) return tl::unexpected(insert.error());
  const std::string dir(1, static_cast<char>(direction));
  for (const RowRejection& r : rows) {
    insert->Reset();
    insert->BindText(1, peer);
    insert->BindText(2, dir);
    insert->BindInt(3, seq);
    insert->BindText(4, r.table);
    insert->BindText(5, r.pk);
    insert->BindInt(6, static_cast<int64_t>(r.reason));
    insert->BindInt(7, replica.NowMs());
    if (auto st = insert->Run(); !st) return st;
  }
  auto trim = replica.db().Prepare(
      "DELETE FROM _us_rejections WHERE id <= (SELECT max(id) FROM _us_rejections) - ?1");
  if (!trim) return tl::unexpected(trim.error());
  trim->BindInt(1, kMaxRejectionRecords);
  return trim->Run();
}

Status RecordRejections(Replica& replica, const std::string& peer, RejectionDirection direction,
                        int64_t seq, const std::vector<RowRejection>& rows) {
  auto tx = Transaction::Begin(replica.db());
  if (!tx) return tl::unexpected(tx.error());
  if (auto st = InsertRejections(replica, peer, direction, seq, rows); !st) return st;
  return tx->Commit();
}

Result<std::vector<RejectionRecord>> ListRejections(Replica& replica, size_t limit) {
  auto stmt = replica.db().Prepare(
      "SELECT id, peer, direction, seq, tbl, pk, reason, detected_ms FROM _us_rejections "
      "ORDER BY id DESC LIMIT ?1");
  if (!stmt) return tl::unexpected(stmt.error());
  stmt->BindInt(1, static_cast<int64_t>(limit));
  std::vector<RejectionRecord> out;
  for (;;) {
    auto row = stmt->Step();
    if (!row) return tl::unexpected(row.error());
    if (!*row) break;
    RejectionRecord r;
    r.id = stmt->ColumnInt(0);
    r.peer = stmt->ColumnText(1);
    const std::string dir = stmt->ColumnText(2);
    r.direction =
        dir == "o" ? RejectionDirection::kRefusedByPeer : RejectionDirection::kRefusedHere;
    r.seq = stmt->ColumnInt(3);
    r.table = stmt->ColumnText(4);
    r.pk = stmt->ColumnText(5);
    r.reason = static_cast<uint16_t>(stmt->ColumnInt(6));
    r.detected_ms = stmt->ColumnInt(7);
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace unitsync::store
