#include "store/log_gc.h"

#include <algorithm>
#include <charconv>
#include <limits>
#include <set>
#include <utility>

#include "store/cursors.h"
#include "store/meta_number.h"
#include "store/sync_state.h"

namespace unitsync::store {
namespace {

constexpr const char* kLogTrimmed = "log_trimmed_upto";
constexpr const char* kTombsTrimmed = "tombs_trimmed_upto";
constexpr const char* kLastRun = "log_gc_ms";
constexpr int64_t kNone = std::numeric_limits<int64_t>::max();

std::string HelloKey(const std::string& unit) { return "peer_hello/" + unit; }
std::string SafeKey(const std::string& unit) { return "peer_safe/" + unit; }

Result<int64_t> ParseNumber(std::string_view text, const std::string& what) {
  int64_t v = 0;
  const auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || p != text.data() + text.size() || v < 0) {
    return Fail(Errc::kCorrupt, "replica metadata '" + what + "' is not a number",
                "restore central from a backup");
  }
  return v;
}

// What a unit's last HELLO said: "pull built seen_ms".
struct HelloRecord {
  int64_t pull = 0;
  int64_t built = 0;
  int64_t seen_ms = 0;
};

Result<HelloRecord> GetHello(Replica& replica, const std::string& unit) {
  auto v = replica.GetMeta(HelloKey(unit));
  if (!v) return tl::unexpected(v.error());
  HelloRecord h;
  if (!*v) return h;
  const std::string& text = **v;
  const size_t a = text.find(' ');
  const size_t b = a == std::string::npos ? a : text.find(' ', a + 1);
  if (b == std::string::npos) {
    return Fail(Errc::kCorrupt, "replica metadata '" + HelloKey(unit) + "' is malformed",
                "restore central from a backup");
  }
  int64_t* fields[] = {&h.pull, &h.built, &h.seen_ms};
  const std::string_view parts[] = {std::string_view(text).substr(0, a),
                                    std::string_view(text).substr(a + 1, b - a - 1),
                                    std::string_view(text).substr(b + 1)};
  for (int i = 0; i < 3; ++i) {
    auto n = ParseNumber(parts[i], HelloKey(unit));
    if (!n) return tl::unexpected(n.error());
    *fields[i] = *n;
  }
  return h;
}

// safe_u: the pull cursor of the newest HELLO whose pushes have all arrived.
Result<int64_t> SafeSeq(Replica& replica, const std::string& unit, const HelloRecord& hello,
                        int64_t received) {
  auto safe = GetMetaNumber(replica, SafeKey(unit));
  if (!safe) return tl::unexpected(safe.error());
  return received >= hello.built ? std::max(*safe, hello.pull) : *safe;
}

Status RequireCentral(Replica& replica, const LogGcPolicy* policy) {
  if (replica.role() != Role::kCentral) {
    return Fail(Errc::kInvalidArgument, "only central trims its log by the units' cursors");
  }
  if (policy != nullptr && policy->retention_ms <= 0) {
    return Fail(Errc::kInvalidArgument, "the log retention must be positive");
  }
  return {};
}

Result<int64_t> QueryInt(Replica& replica, const std::string& sql, int64_t a, int64_t fallback) {
  auto q = replica.db().Prepare(sql);
  if (!q) return tl::unexpected(q.error());
  q->BindInt(1, a);
  auto row = q->Step();
  if (!row) return tl::unexpected(row.error());
  return *row && !q->ColumnIsNull(0) ? q->ColumnInt(0) : fallback;
}

// The log's age, without trusting the entries' own capture times (the capture triggers
// read the system clock, the engine its own): each pass records "ms:head" in
// log_gc_marks, and an entry is older than the retention once a mark at or before the
// cutoff covers it. Marks older than the newest one before the cutoff are dropped.
constexpr const char* kMarks = "log_gc_marks";

Result<std::vector<std::pair<int64_t, int64_t>>> GetMarks(Replica& replica) {
  auto v = replica.GetMeta(kMarks);
  if (!v) return tl::unexpected(v.error());
  std::vector<std::pair<int64_t, int64_t>> out;
  if (!*v) return out;
  std::string_view text = **v;
  while (!text.empty()) {
    const size_t comma = text.find(',');
    const std::string_view item = text.substr(0, comma);
    const size_t colon = item.find(':');
    if (colon == std::string_view::npos) {
      return Fail(Errc::kCorrupt, "replica metadata 'log_gc_marks' is malformed",
                  "restore central from a backup");
    }
    auto ms = ParseNumber(item.substr(0, colon), kMarks);
    auto seq = ParseNumber(item.substr(colon + 1), kMarks);
    if (!ms) return tl::unexpected(ms.error());
    if (!seq) return tl::unexpected(seq.error());
    out.emplace_back(*ms, *seq);
    text = comma == std::string_view::npos ? std::string_view() : text.substr(comma + 1);
  }
  return out;
}

// The head of the newest mark at or before `cutoff` (0: none).
int64_t OldSeq(const std::vector<std::pair<int64_t, int64_t>>& marks, int64_t cutoff) {
  int64_t old = 0;
  for (const auto& [ms, seq] : marks) {
    if (ms <= cutoff) old = std::max(old, seq);
  }
  return old;
}

Status SaveMarks(Replica& replica, std::vector<std::pair<int64_t, int64_t>> marks, int64_t now,
                 int64_t head, int64_t cutoff) {
  marks.emplace_back(now, head);
  int64_t newest_old = -1;
  for (const auto& [ms, seq] : marks) {
    if (ms <= cutoff) newest_old = std::max(newest_old, ms);
  }
  std::string text;
  for (const auto& [ms, seq] : marks) {
    if (ms < newest_old) continue;
    if (!text.empty()) text += ',';
    text += std::to_string(ms) + ":" + std::to_string(seq);
  }
  return replica.SetMeta(kMarks, text);
}

struct Watermarks {
  int64_t log = 0;
  int64_t tombs = 0;
  int64_t old = 0;  // entries <= this are older than the retention
  std::vector<std::string> silent;
};

Result<Watermarks> ComputeWatermarks(Replica& replica, const LogGcPolicy& policy, int64_t now) {
  auto cursors = ListCursors(replica);
  if (!cursors) return tl::unexpected(cursors.error());
  Watermarks w;
  if (cursors->empty()) return w;  // No unit has synced: nothing is known to be applied.
  const int64_t cutoff = now - policy.retention_ms;
  int64_t all = kNone, active = kNone, safe_all = kNone, safe_active = kNone;
  for (const PeerCursor& c : *cursors) {
    auto hello = GetHello(replica, c.peer);
    if (!hello) return tl::unexpected(hello.error());
    auto s = SafeSeq(replica, c.peer, *hello, c.received_seq);
    if (!s) return tl::unexpected(s.error());
    all = std::min(all, c.acked_seq);
    safe_all = std::min(safe_all, *s);
    if (std::max(c.updated_ms, hello->seen_ms) < cutoff) {
      w.silent.push_back(c.peer);
      continue;
    }
    active = std::min(active, c.acked_seq);
    safe_active = std::min(safe_active, *s);
  }
  auto marks = GetMarks(replica);
  if (!marks) return tl::unexpected(marks.error());
  w.old = OldSeq(*marks, cutoff);
  if (active == kNone) {
    // No unit within the retention: more likely central's clock jumped, or central itself
    // was down, than every unit gone. Trim only what every unit has.
    w.silent.clear();
    w.log = all;
    w.tombs = std::min(all, safe_all);
    return w;
  }
  const int64_t old = w.old;
  w.log = std::max(all, std::min(active, old));
  w.tombs = std::min(w.log, safe_active);
  return w;
}

// Tombstones of unit-scope rows whose every log entry is <= upto:
// erased with their entries, and an 'X' logged for the row's unit, whose fan-out then
// carries an eviction that drops the unit's tombstone too (replicas keep equal digests).
// Central-scope tombstones (reference data: every unit holds them, and an eviction is a
// unit-scope notion) stay. Returns how many went.
Result<int64_t> DropTombstones(Replica& replica, int64_t upto, int64_t now) {
  std::set<std::pair<std::string, std::string>> young;  // rows with a later entry
  auto tail = replica.db().Prepare("SELECT tbl, pk FROM _us_changes WHERE seq > ?1");
  if (!tail) return tl::unexpected(tail.error());
  tail->BindInt(1, upto);
  for (;;) {
    auto row = tail->Step();
    if (!row) return tl::unexpected(row.error());
    if (!*row) break;
    young.emplace(tail->ColumnText(0), tail->ColumnText(1));
  }
  auto candidates = replica.db().Prepare(
      "SELECT DISTINCT ch.tbl, ch.pk FROM _us_changes ch JOIN _us_clock c "
      "ON c.tbl = ch.tbl AND c.pk = ch.pk WHERE ch.seq <= ?1 AND c.deleted = 1");
  if (!candidates) return tl::unexpected(candidates.error());
  candidates->BindInt(1, upto);
  std::vector<std::pair<std::string, std::string>> drop;
  for (;;) {
    auto row = candidates->Step();
    if (!row) return tl::unexpected(row.error());
    if (!*row) break;
    auto key = std::make_pair(candidates->ColumnText(0), candidates->ColumnText(1));
    const TableSpec* spec = replica.manifest().Find(key.first);
    if (spec == nullptr || spec->scope != Scope::kUnit) continue;
    if (!young.count(key)) drop.push_back(std::move(key));
  }
  auto evict = replica.db().Prepare(
      "INSERT INTO _us_changes(tbl, pk, op, cols, unit, wall_ms) SELECT tbl, pk, 'X', NULL, "
      "unit, ?3 FROM _us_clock WHERE tbl = ?1 AND pk = ?2 AND deleted = 1 AND unit <> ''");
  if (!evict) return tl::unexpected(evict.error());
  auto erase_clock =
      replica.db().Prepare("DELETE FROM _us_clock WHERE tbl = ?1 AND pk = ?2 AND deleted = 1");
  auto erase_log = replica.db().Prepare(
      "DELETE FROM _us_changes WHERE tbl = ?1 AND pk = ?2 AND seq <= ?3 "
      "AND seq < (SELECT max(seq) FROM _us_changes)");
  if (!erase_clock) return tl::unexpected(erase_clock.error());
  if (!erase_log) return tl::unexpected(erase_log.error());
  for (const auto& [tbl, pk] : drop) {
    evict->Reset();
    evict->BindText(1, tbl);
    evict->BindText(2, pk);
    evict->BindInt(3, now);
    if (auto st = evict->Run(); !st) return tl::unexpected(st.error());
    erase_clock->Reset();
    erase_clock->BindText(1, tbl);
    erase_clock->BindText(2, pk);
    if (auto st = erase_clock->Run(); !st) return tl::unexpected(st.error());
    erase_log->Reset();
    erase_log->BindText(1, tbl);
    erase_log->BindText(2, pk);
    erase_log->BindInt(3, upto);
    if (auto st = erase_log->Run(); !st) return tl::unexpected(st.error());
  }
  return static_cast<int64_t>(drop.size());
}

}  // namespace

Result<LogGcState> GetLogGcState(Replica& replica) {
  LogGcState s;
  const std::pair<const char*, int64_t*> fields[] = {{kLogTrimmed, &s.log_trimmed_upto},
                                                     {kTombsTrimmed, &s.tombs_trimmed_upto},
                                                     {kLastRun, &s.last_run_ms}};
  for (const auto& [key, out] : fields) {
    auto v = GetMetaNumber(replica, key);
    if (!v) return tl::unexpected(v.error());
    *out = *v;
  }
  return s;
}

Result<std::pair<int64_t, int64_t>> CountLogAndTombstones(Replica& replica) {
  auto q = replica.db().Prepare(
      "SELECT (SELECT count(*) FROM _us_changes), "
      "(SELECT count(*) FROM _us_clock WHERE deleted = 1)");
  if (!q) return tl::unexpected(q.error());
  auto row = q->Step();
  if (!row) return tl::unexpected(row.error());
  return std::make_pair(q->ColumnInt(0), q->ColumnInt(1));
}

Result<LogGcReport> CollectLogGarbage(Replica& replica, const LogGcPolicy& policy) {
  if (auto st = RequireCentral(replica, &policy); !st) return tl::unexpected(st.error());
  auto tx = Transaction::Begin(replica.db());
  if (!tx) return tl::unexpected(tx.error());
  const int64_t now = replica.NowMs();
  auto before = GetLogGcState(replica);
  if (!before) return tl::unexpected(before.error());
  auto w = ComputeWatermarks(replica, policy, now);
  if (!w) return tl::unexpected(w.error());
  // Never past what is stamped: an unstamped entry's versions are not written yet.
  auto stamped = GetMetaNumber(replica, "stamped_seq");
  if (!stamped) return tl::unexpected(stamped.error());
  LogGcReport report;
  report.silent_units = std::move(w->silent);
  report.state.log_trimmed_upto = std::max(before->log_trimmed_upto, std::min(w->log, *stamped));
  // A tombstone also waits for the retention: its newest entry must be old.
  report.state.tombs_trimmed_upto = std::max(
      before->tombs_trimmed_upto, std::min({w->tombs, w->old, report.state.log_trimmed_upto}));
  report.state.last_run_ms = now;

  if (report.state.tombs_trimmed_upto > 0) {
    auto dropped = DropTombstones(replica, report.state.tombs_trimmed_upto, now);
    if (!dropped) return tl::unexpected(dropped.error());
    report.tombstones_deleted = *dropped;
  }
  // A live tombstone's entries stay until the tombstone goes: its newest entry is how a
  // later pass knows when every unit has it.
  auto trim = replica.db().Prepare(
      "DELETE FROM _us_changes WHERE seq <= ?1 AND seq < (SELECT max(seq) FROM _us_changes) "
      "AND NOT EXISTS (SELECT 1 FROM _us_clock c WHERE c.tbl = _us_changes.tbl "
      "AND c.pk = _us_changes.pk AND c.deleted = 1)");
  if (!trim) return tl::unexpected(trim.error());
  trim->BindInt(1, report.state.log_trimmed_upto);
  if (auto st = trim->Run(); !st) return tl::unexpected(st.error());
  report.entries_deleted = replica.db().Changes();
  auto marks = GetMarks(replica);
  if (!marks) return tl::unexpected(marks.error());
  auto head = QueryInt(replica, "SELECT max(seq) FROM _us_changes WHERE seq > ?1", 0, 0);
  if (!head) return tl::unexpected(head.error());
  if (auto st = SaveMarks(replica, std::move(*marks), now, *head, now - policy.retention_ms); !st) {
    return tl::unexpected(st.error());
  }
  const std::pair<const char*, int64_t> meta[] = {{kLogTrimmed, report.state.log_trimmed_upto},
                                                  {kTombsTrimmed, report.state.tombs_trimmed_upto},
                                                  {kLastRun, now}};
  for (const auto& [key, value] : meta) {
    if (auto st = replica.SetMeta(key, std::to_string(value)); !st) {
      return tl::unexpected(st.error());
    }
  }
  if (auto st = tx->Commit(); !st) return tl::unexpected(st.error());
  return report;
}

Result<bool> RecordHello(Replica& replica, const std::string& unit, int64_t pull, int64_t built) {
  if (auto st = RequireCentral(replica, nullptr); !st) return tl::unexpected(st.error());
  auto tx = Transaction::Begin(replica.db());
  if (!tx) return tl::unexpected(tx.error());
  auto gc = GetLogGcState(replica);
  if (!gc) return tl::unexpected(gc.error());
  auto cursor = GetCursor(replica, unit);
  if (!cursor) return tl::unexpected(cursor.error());
  auto hello = GetHello(replica, unit);
  if (!hello) return tl::unexpected(hello.error());
  auto safe = SafeSeq(replica, unit, *hello, cursor->received_seq);
  if (!safe) return tl::unexpected(safe.error());
  // Pushes central has not received may have been built before a tombstone we dropped.
  const bool unsent = built > cursor->received_seq;
  const bool reseed = pull < gc->log_trimmed_upto || (unsent && *safe < gc->tombs_trimmed_upto);
  if (auto st = replica.SetMeta(SafeKey(unit), std::to_string(*safe)); !st) {
    return tl::unexpected(st.error());
  }
  const std::string record =
      std::to_string(pull) + " " + std::to_string(built) + " " + std::to_string(replica.NowMs());
  if (auto st = replica.SetMeta(HelloKey(unit), record); !st) return tl::unexpected(st.error());
  if (auto st = tx->Commit(); !st) return tl::unexpected(st.error());
  return reseed;
}

}  // namespace unitsync::store
