#include "store/cursors.h"

namespace unitsync::store {
namespace {

Status Advance(Replica& replica, const std::string& peer, const char* field, int64_t seq) {
  const std::string f(field);
  auto stmt = replica.db().Prepare("INSERT INTO _us_peers(peer, " + f +
                                   ", updated_ms) VALUES (?1, ?2, ?3) "
                                   "ON CONFLICT(peer) DO UPDATE SET " +
                                   f + " = max(" + f + ", excluded." + f +
                                   "), updated_ms = excluded.updated_ms");
  if (!stmt) return tl::unexpected(stmt.error());
  stmt->BindText(1, peer);
  stmt->BindInt(2, seq);
  stmt->BindInt(3, replica.NowMs());
  return stmt->Run();
}

}  // namespace

Result<PeerCursor> GetCursor(Replica& replica, const std::string& peer) {
  auto stmt = replica.db().Prepare(
      "SELECT sent_seq, acked_seq, received_seq, updated_ms FROM _us_peers WHERE peer = ?1");
  if (!stmt) return tl::unexpected(stmt.error());
  stmt->BindText(1, peer);
  auto row = stmt->Step();
  if (!row) return tl::unexpected(row.error());
  PeerCursor c;
  c.peer = peer;
  if (*row) {
    c.sent_seq = stmt->ColumnInt(0);
    c.acked_seq = stmt->ColumnInt(1);
    c.received_seq = stmt->ColumnInt(2);
    c.updated_ms = stmt->ColumnInt(3);
  }
  return c;
}

Result<std::vector<PeerCursor>> ListCursors(Replica& replica) {
  auto stmt = replica.db().Prepare(
      "SELECT peer, sent_seq, acked_seq, received_seq, updated_ms FROM _us_peers ORDER BY peer");
  if (!stmt) return tl::unexpected(stmt.error());
  std::vector<PeerCursor> out;
  for (;;) {
    auto row = stmt->Step();
    if (!row) return tl::unexpected(row.error());
    if (!*row) break;
    out.push_back({stmt->ColumnText(0), stmt->ColumnInt(1), stmt->ColumnInt(2), stmt->ColumnInt(3),
                   stmt->ColumnInt(4)});
  }
  return out;
}

Status AdvanceSent(Replica& r, const std::string& peer, int64_t seq) {
  return Advance(r, peer, "sent_seq", seq);
}
Status AdvanceAcked(Replica& r, const std::string& peer, int64_t seq) {
  return Advance(r, peer, "acked_seq", seq);
}
Status AdvanceReceived(Replica& r, const std::string& peer, int64_t seq) {
  return Advance(r, peer, "received_seq", seq);
}

Status ResetCursor(Replica& replica, const PeerCursor& c) {
  auto stmt = replica.db().Prepare(
      "INSERT INTO _us_peers(peer, sent_seq, acked_seq, received_seq, updated_ms) "
      "VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT(peer) DO UPDATE SET sent_seq = excluded.sent_seq, "
      "acked_seq = excluded.acked_seq, received_seq = excluded.received_seq, "
      "updated_ms = excluded.updated_ms");
  if (!stmt) return tl::unexpected(stmt.error());
  stmt->BindText(1, c.peer);
  stmt->BindInt(2, c.sent_seq);
  stmt->BindInt(3, c.acked_seq);
  stmt->BindInt(4, c.received_seq);
  stmt->BindInt(5, replica.NowMs());
  return stmt->Run();
}

}  // namespace unitsync::store
