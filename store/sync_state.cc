#include "store/sync_state.h"

#include "store/change_log.h"
#include "store/cursors.h"
#include "store/merge.h"
#include "store/meta_number.h"
#include "store/seed_tracking.h"

namespace unitsync::store {
namespace {

Result<int64_t> GetMetaInt(Replica& replica, const char* key) {
  return GetMetaNumber(replica, key);
}

Status SetMetaInt(Replica& replica, const char* key, int64_t value) {
  return replica.SetMeta(key, std::to_string(value));
}

Status RequireCentral(Replica& replica, const char* what) {
  if (replica.role() == Role::kCentral) return {};
  return Fail(Errc::kInvalidArgument,
              std::string(what) + ": only a central replica has a generation id",
              "a unit remembers central's generation with SetSeenGeneration");
}

}  // namespace

Result<OutboxState> GetOutboxState(Replica& replica) {
  OutboxState s;
  const std::pair<const char*, int64_t*> fields[] = {
      {kMetaPushBuiltSeq, &s.built_seq},
      {kMetaPushBuiltLogSeq, &s.built_log_seq},
      {kMetaPushAckedSeq, &s.acked_seq},
      {kMetaPushAckedLogSeq, &s.acked_log_seq},
  };
  for (const auto& [key, out] : fields) {
    auto v = GetMetaInt(replica, key);
    if (!v) return tl::unexpected(v.error());
    *out = *v;
  }
  auto count = replica.db().Prepare("SELECT count(*) FROM _us_outbox");
  if (!count) return tl::unexpected(count.error());
  auto row = count->Step();
  if (!row) return tl::unexpected(row.error());
  s.pending = count->ColumnInt(0);
  return s;
}

Status AppendOutbox(Replica& replica, const OutboxEntry& entry) {
  auto tx = Transaction::Begin(replica.db());
  if (!tx) return tl::unexpected(tx.error());
  auto state = GetOutboxState(replica);
  if (!state) return tl::unexpected(state.error());
  if (entry.seq != state->built_seq + 1) {
    return Fail(Errc::kInvalidArgument,
                "outbox entry " + std::to_string(entry.seq) + " does not follow " +
                    std::to_string(state->built_seq),
                "push seqs are contiguous; read GetOutboxState before building");
  }
  if (entry.log_seq < state->built_log_seq) {
    return Fail(Errc::kInvalidArgument,
                "outbox entry " + std::to_string(entry.seq) + " covers change-log seq " +
                    std::to_string(entry.log_seq) + ", behind " +
                    std::to_string(state->built_log_seq),
                "build after push_built_log_seq");
  }
  if (entry.rows < 0) return Fail(Errc::kInvalidArgument, "outbox entry with a negative row count");
  auto ins = replica.db().Prepare(
      "INSERT INTO _us_outbox(seq, log_seq, rows, sealed, built_ms) VALUES (?1, ?2, ?3, ?4, ?5)");
  if (!ins) return tl::unexpected(ins.error());
  ins->BindInt(1, entry.seq);
  ins->BindInt(2, entry.log_seq);
  ins->BindInt(3, entry.rows);
  ins->BindBlob(4, entry.sealed);
  ins->BindInt(5, replica.NowMs());
  if (auto st = ins->Run(); !st) return st;
  if (auto st = SetMetaInt(replica, kMetaPushBuiltSeq, entry.seq); !st) return st;
  if (auto st = SetMetaInt(replica, kMetaPushBuiltLogSeq, entry.log_seq); !st) return st;
  return tx->Commit();
}

Result<std::vector<OutboxEntry>> ListOutbox(Replica& replica, int64_t after_seq, size_t limit) {
  auto stmt = replica.db().Prepare(
      "SELECT seq, log_seq, rows, sealed FROM _us_outbox WHERE seq > ?1 ORDER BY seq LIMIT ?2");
  if (!stmt) return tl::unexpected(stmt.error());
  stmt->BindInt(1, after_seq);
  stmt->BindInt(2,
                limit > static_cast<size_t>(INT64_MAX) ? INT64_MAX : static_cast<int64_t>(limit));
  std::vector<OutboxEntry> out;
  for (;;) {
    auto row = stmt->Step();
    if (!row) return tl::unexpected(row.error());
    if (!*row) break;
    out.push_back(
        {stmt->ColumnInt(0), stmt->ColumnInt(1), stmt->ColumnInt(2), stmt->ColumnBlob(3)});
  }
  return out;
}

Status AckOutbox(Replica& replica, int64_t upto_seq) {
  auto tx = Transaction::Begin(replica.db());
  if (!tx) return tl::unexpected(tx.error());
  auto state = GetOutboxState(replica);
  if (!state) return tl::unexpected(state.error());
  if (upto_seq > state->built_seq) {
    return Fail(Errc::kInvalidArgument,
                "central acknowledged push " + std::to_string(upto_seq) + " but only " +
                    std::to_string(state->built_seq) + " were built",
                "central is ahead of this unit (restored unit?): reset the outbox");
  }
  if (upto_seq <= state->acked_seq) return {};  // A late or repeated ack.
  auto find = replica.db().Prepare("SELECT log_seq FROM _us_outbox WHERE seq = ?1");
  if (!find) return tl::unexpected(find.error());
  find->BindInt(1, upto_seq);
  auto found = find->Step();
  if (!found) return tl::unexpected(found.error());
  if (!*found) {
    return Fail(Errc::kCorrupt, "the outbox lacks built push " + std::to_string(upto_seq),
                "reset the outbox to resend this unit's state");
  }
  const int64_t log_seq = std::max(state->acked_log_seq, find->ColumnInt(0));
  find->Reset();
  auto del = replica.db().Prepare("DELETE FROM _us_outbox WHERE seq <= ?1");
  if (!del) return tl::unexpected(del.error());
  del->BindInt(1, upto_seq);
  if (auto st = del->Run(); !st) return st;
  if (auto st = SetMetaInt(replica, kMetaPushAckedSeq, upto_seq); !st) return st;
  if (auto st = SetMetaInt(replica, kMetaPushAckedLogSeq, log_seq); !st) return st;
  // Central is a unit's only peer: what it acknowledged may go. TrimChangeLog
  // opens no transaction of its own, keeps unstamped entries and the newest.
  if (auto st = TrimChangeLog(replica, log_seq); !st) return st;
  return tx->Commit();
}

Status ResetOutbox(Replica& replica, int64_t central_applied_seq) {
  if (central_applied_seq < 0) {
    return Fail(Errc::kInvalidArgument, "central's applied push seq cannot be negative");
  }
  auto tx = Transaction::Begin(replica.db());
  if (!tx) return tl::unexpected(tx.error());
  if (auto st = replica.db().Exec("DELETE FROM _us_outbox"); !st) return st;
  if (auto st = SetMetaInt(replica, kMetaPushBuiltSeq, central_applied_seq); !st) return st;
  if (auto st = SetMetaInt(replica, kMetaPushAckedSeq, central_applied_seq); !st) return st;
  // One 'R' per row we hold, tombstones included; 'R' stamps no version, so
  // the resend repeats our writes instead of making new ones.
  auto requeue = replica.db().Prepare(
      "INSERT INTO _us_changes(tbl, pk, op, cols, unit, wall_ms) "
      "SELECT tbl, pk, 'R', NULL, unit, ?2 FROM _us_clock WHERE tbl = ?1 ORDER BY pk");
  if (!requeue) return tl::unexpected(requeue.error());
  for (const TableSpec& spec : replica.manifest().tables()) {
    if (spec.scope != Scope::kUnit) continue;
    requeue->Reset();
    requeue->BindText(1, spec.name);
    requeue->BindInt(2, replica.NowMs());
    if (auto st = requeue->Run(); !st) return st;
  }
  return tx->Commit();
}

Result<std::string> GetSeenGeneration(Replica& replica) {
  auto v = replica.GetMeta(kMetaCentralGeneration);
  if (!v) return tl::unexpected(v.error());
  return v->value_or(std::string());
}

Status SetSeenGeneration(Replica& replica, const std::string& generation) {
  return replica.SetMeta(kMetaCentralGeneration, generation);
}

Result<std::string> GetGeneration(Replica& replica) {
  if (auto st = RequireCentral(replica, "GetGeneration"); !st) return tl::unexpected(st.error());
  auto v = replica.GetMeta(kMetaGeneration);
  if (!v) return tl::unexpected(v.error());
  if (!*v || (*v)->empty()) {
    return Fail(Errc::kCorrupt, "central replica metadata lacks 'generation'",
                "set a new one with NewGeneration (units will resend what they hold)");
  }
  return **v;
}

Status NewGeneration(Replica& replica) {
  if (auto st = RequireCentral(replica, "NewGeneration"); !st) return st;
  return replica.SetMeta(kMetaGeneration, "g-" + replica.NewId());
}

}  // namespace unitsync::store

namespace unitsync::store {
namespace {

constexpr const char* kSeedWanted = "seed_wanted";
constexpr const char* kSeedSnap = "seed_snap";
constexpr const char* kSeedNext = "seed_next";
constexpr const char* kSeedTable = "seed_table";
constexpr const char* kSeedAfter = "seed_after";
constexpr const char* kSeedHead = "seed_head";
constexpr const char* kSeedRows = "seed_rows";
constexpr const char* kSeedTotal = "seed_total";
constexpr const char* kSeedForced = "seed_forced";

Result<std::string> GetMetaText(Replica& replica, const char* key) {
  auto v = replica.GetMeta(key);
  if (!v) return tl::unexpected(v.error());
  return v->value_or(std::string());
}

std::string PeerBuiltKey(const std::string& unit) { return "peer_built/" + unit; }

}  // namespace

Result<SeedState> GetSeedState(Replica& replica) {
  SeedState s;
  auto wanted = GetMetaInt(replica, kSeedWanted);
  if (!wanted) return tl::unexpected(wanted.error());
  s.wanted = *wanted != 0;
  auto forced = GetMetaInt(replica, kSeedForced);
  if (!forced) return tl::unexpected(forced.error());
  s.forced = *forced != 0;
  const std::pair<const char*, std::string*> texts[] = {
      {kSeedSnap, &s.snapshot}, {kSeedTable, &s.after_table}, {kSeedAfter, &s.after_pk}};
  for (const auto& [key, out] : texts) {
    auto v = GetMetaText(replica, key);
    if (!v) return tl::unexpected(v.error());
    *out = std::move(*v);
  }
  const std::pair<const char*, int64_t*> ints[] = {{kSeedNext, &s.next_chunk},
                                                   {kSeedHead, &s.head},
                                                   {kSeedRows, &s.rows_done},
                                                   {kSeedTotal, &s.rows_total}};
  for (const auto& [key, out] : ints) {
    auto v = GetMetaInt(replica, key);
    if (!v) return tl::unexpected(v.error());
    *out = *v;
  }
  return s;
}

std::vector<std::pair<std::string, std::string>> SeedStateMeta(const SeedState& s) {
  return {{kSeedWanted, s.wanted ? "1" : "0"},
          {kSeedSnap, s.snapshot},
          {kSeedNext, std::to_string(s.next_chunk)},
          {kSeedTable, s.after_table},
          {kSeedAfter, s.after_pk},
          {kSeedHead, std::to_string(s.head)},
          {kSeedRows, std::to_string(s.rows_done)},
          {kSeedTotal, std::to_string(s.rows_total)},
          {kSeedForced, s.forced ? "1" : "0"}};
}

Status RequestSeed(Replica& replica, bool forced) {
  if (replica.role() != Role::kUnit) {
    return Fail(Errc::kInvalidArgument, "only a unit replica is re-seeded",
                "central is recovered from a backup (unitsyncctl restore)");
  }
  auto tx = Transaction::Begin(replica.db());
  if (!tx) return tl::unexpected(tx.error());
  auto seed = GetSeedState(replica);
  if (!seed) return tl::unexpected(seed.error());
  // A snapshot under way keeps its progress, unless it becomes forced now: it did not
  // record what the unit held before its first chunk (seed_tracking.h), so resumed it
  // could not tell which rows to evict. It starts over from the first chunk.
  SeedState next = *seed;
  if (forced && !seed->forced && !seed->snapshot.empty()) next = SeedState{};
  next.wanted = true;
  next.forced = next.forced || forced;
  for (const auto& [key, value] : SeedStateMeta(next)) {
    if (auto st = replica.SetMeta(key, value); !st) return st;
  }
  return tx->Commit();
}

Status FinishSeed(Replica& replica, const std::string& central, int64_t head) {
  auto seed = GetSeedState(replica);
  if (!seed) return tl::unexpected(seed.error());
  if (seed->forced) {
    // The evictions, the cleared seed state and the cursor commit together.
    auto evictions = internal::UndeliveredEvictions(replica);
    if (!evictions) return tl::unexpected(evictions.error());
    ApplyOptions options;
    options.end_forced_seed = true;
    options.set_meta = SeedStateMeta(SeedState{});
    options.advance_received = ApplyOptions::Cursor{central, head};
    auto applied = ApplyChangeset(replica, *evictions, options);
    if (!applied) return tl::unexpected(applied.error());
    return {};
  }
  auto tx = Transaction::Begin(replica.db());
  if (!tx) return tl::unexpected(tx.error());
  auto cursor = GetCursor(replica, central);
  if (!cursor) return tl::unexpected(cursor.error());
  // The same rule as protocol::SeededPull (a unit that had pulled keeps the lower).
  if (cursor->received_seq == 0 || cursor->received_seq > head) cursor->received_seq = head;
  if (auto st = ResetCursor(replica, *cursor); !st) return st;
  for (const auto& [key, value] : SeedStateMeta(SeedState{})) {
    if (auto st = replica.SetMeta(key, value); !st) return st;
  }
  return tx->Commit();
}

Result<bool> IsPristine(Replica& replica) {
  auto q = replica.db().Prepare(
      "SELECT NOT EXISTS (SELECT 1 FROM _us_clock) AND NOT EXISTS (SELECT 1 FROM _us_changes) "
      "AND NOT EXISTS (SELECT 1 FROM _us_peers WHERE received_seq > 0 OR acked_seq > 0)");
  if (!q) return tl::unexpected(q.error());
  auto row = q->Step();
  if (!row) return tl::unexpected(row.error());
  if (!*row || q->ColumnInt(0) == 0) return false;
  auto generation = GetSeenGeneration(replica);
  if (!generation) return tl::unexpected(generation.error());
  auto outbox = GetOutboxState(replica);
  if (!outbox) return tl::unexpected(outbox.error());
  return generation->empty() && outbox->built_seq == 0;
}

Result<int64_t> GetPeerBuilt(Replica& replica, const std::string& unit) {
  return GetMetaNumber(replica, PeerBuiltKey(unit));
}

Status SetPeerBuilt(Replica& replica, const std::string& unit, int64_t built) {
  return replica.SetMeta(PeerBuiltKey(unit), std::to_string(built));
}

}  // namespace unitsync::store
