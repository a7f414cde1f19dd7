#include "daemon/bundle_exchange.h"

#include <sys/stat.h>

#include <algorithm>

#include "store/cursors.h"
#include "store/sync_state.h"

namespace unitsync::daemon {
namespace {

using protocol::ApplyOutcome;
using protocol::BundleKind;
using protocol::StoreResult;

// Pushes fetched per FetchPushes call while exporting (any number is fine: it loops).
constexpr uint32_t kFetchBatch = 64;

// The executors report store failures as text for the session log; here they become an
// operator's error. The text never holds row values (sync_executor.h).
Error StoreFailed(const std::string& what, const std::string& error) {
  return Error{Errc::kIo, what + ": " + error,
               "check the disk and the replica (unitsyncctl status), then run it again"};
}

Errc CodeOf(ApplyOutcome outcome) {
  switch (outcome) {
    case ApplyOutcome::kCorrupt:
      return Errc::kCorrupt;
    case ApplyOutcome::kMalformed:
      return Errc::kMalformed;
    case ApplyOutcome::kBusy:
      return Errc::kBusy;
    default:
      return Errc::kInternal;
  }
}

// The one result type `work` answers with; kInternal if the executor answered otherwise.
template <typename T>
Result<T> Answer(StoreResult result, const char* what) {
  if (auto* r = std::get_if<T>(&result)) return std::move(*r);
  if (auto* done = std::get_if<protocol::StoreDone>(&result); done && !done->ok) {
    return tl::unexpected(StoreFailed(what, done->error));
  }
  return Fail(Errc::kInternal, std::string(what) + ": unexpected store answer");
}

Status Done(StoreResult result, const char* what) {
  auto done = Answer<protocol::StoreDone>(std::move(result), what);
  if (!done) return tl::unexpected(done.error());
  if (!done->ok) return tl::unexpected(StoreFailed(what, done->error));
  return {};
}

recovery::UnitKeyLookup Lookup(const KeyRing& keys) {
  return [&keys](const std::string& unit, uint32_t key_id) { return keys.Find(unit, key_id); };
}

// Central's generation ids are "g-" + a UUIDv7 (store/sync_state.h), which sort by the
// time they were made: `a` is older than `b` when both have that form and a < b. Ids of
// another form are never judged older.
bool OlderGeneration(const std::string& a, const std::string& b) {
  auto v7 = [](const std::string& g) { return g.size() == 38 && g.rfind("g-", 0) == 0; };
  return v7(a) && v7(b) && a < b;
}

std::string Range(uint64_t from, uint64_t to) {
  return std::to_string(from) + ".." + std::to_string(to);
}

}  // namespace

Result<ExportedPushes> ExportPushes(store::Replica& unit, const KeyRing& keys,
                                    const std::string& central_node, const std::string& out_path,
                                    int64_t now_ms, ExecutorOptions options) {
  if (unit.role() != store::Role::kUnit) {
    return Fail(Errc::kWrongNode, unit.node_id() + " is central: it has no pushes to export",
                "at central, `export-bundle --unit UNIT` writes a reply for a unit");
  }
  auto key = keys.Current(unit.node_id());
  if (!key) return tl::unexpected(key.error());
  if (struct stat st{}; ::stat(out_path.c_str(), &st) == 0) {
    return Fail(Errc::kAlreadyExists, out_path + " exists",
                "choose another name; nothing is overwritten");
  }
  UnitExecutor exec(unit, central_node, keys, options);
  auto state = exec.LoadState();
  if (!state) return tl::unexpected(state.error());

  recovery::BundleToWrite b;
  b.out_path = out_path;
  b.origin = unit.node_id();
  b.destination = central_node;
  b.key = *key;
  b.manifest.kind = BundleKind::kPushes;
  b.manifest.created_ms = now_ms;
  b.manifest.applied = state->acked_seq;
  b.manifest.pull = state->pull_seq;
  b.manifest.generation = state->generation;
  uint64_t after = state->acked_seq;
  for (;;) {
    auto ready = Answer<protocol::PushesReady>(exec.Run(protocol::FetchPushes{after, kFetchBatch}),
                                               "building the pushes");
    if (!ready) return tl::unexpected(ready.error());
    if (!ready->ok) return tl::unexpected(StoreFailed("building the pushes", ready->error));
    for (auto& e : ready->entries) {
      b.manifest.records.push_back({e.seq, e.seq});
      b.envelopes.push_back(std::move(e.sealed));
      after = e.seq;
    }
    if (!ready->more || ready->entries.empty()) break;
  }
  auto info = recovery::WriteBundle(b);
  if (!info) return tl::unexpected(info.error());
  return ExportedPushes{std::move(*info), state->acked_seq, state->pull_seq};
}

Result<ExportedReply> ExportReply(store::Replica& central, const KeyRing& keys,
                                  const std::string& unit, std::optional<uint64_t> after_pull,
                                  const std::string& out_path, int64_t now_ms,
                                  ExecutorOptions options) {
  if (central.role() != store::Role::kCentral) {
    return Fail(Errc::kWrongNode, central.node_id() + " is a unit: only central writes replies",
                "at a unit, `export-bundle --out F` writes the unit's changes for central");
  }
  auto key = keys.Current(unit);
  if (!key) return tl::unexpected(key.error());
  CentralExecutor exec(central, unit, keys, options);
  auto loaded = Answer<protocol::UnitLoaded>(exec.Run(protocol::LoadUnit{}), "loading the unit");
  if (!loaded) return tl::unexpected(loaded.error());
  if (!loaded->ok) return tl::unexpected(StoreFailed("loading the unit", loaded->error));
  if (!after_pull) {
    auto cursor = store::GetCursor(central, unit);
    if (!cursor) return tl::unexpected(cursor.error());
    after_pull = static_cast<uint64_t>(cursor->acked_seq);
  }
  // A unit ahead of our log saw a central we no longer are: from our head, as a session.
  const uint64_t after = std::min(*after_pull, loaded->log_head);

  ExportedReply out;
  out.unit = unit;
  out.after_pull = after;
  recovery::BundleToWrite b;
  b.out_path = out_path;
  b.origin = central.node_id();
  b.destination = unit;
  b.key = *key;
  b.manifest.kind = BundleKind::kReply;
  b.manifest.created_ms = now_ms;
  b.manifest.applied = loaded->applied_seq;
  b.manifest.pull = loaded->log_head;
  b.manifest.generation = loaded->generation;
  uint64_t cursor = after;
  uint64_t from = after + 1;
  for (;;) {
    auto built = Answer<protocol::ChangesBuilt>(
        exec.Run(protocol::BuildChanges{cursor, from, loaded->generation}), "building changes");
    if (!built) return tl::unexpected(built.error());
    if (!built->ok) return tl::unexpected(StoreFailed("building changes", built->error));
    if (built->rows > 0) {
      // As a session sends them: each range starts after the previous one sent.
      b.manifest.records.push_back({from, built->to});
      b.envelopes.push_back(std::move(built->sealed));
      out.rows += built->rows;
      from = built->to + 1;
    }
    if (!built->more) break;
    if (built->to <= cursor) return Fail(Errc::kInternal, "building changes made no progress");
    cursor = built->to;
  }
  auto info = recovery::WriteBundle(b);
  if (!info) return tl::unexpected(info.error());
  out.bundle = std::move(*info);
  return out;
}

Result<ImportedPushes> ImportPushes(store::Replica& central, const KeyRing& keys,
                                    const std::string& path, const std::string& reply_out,
                                    int64_t now_ms, ExecutorOptions options,
                                    const BundleProgress& progress) {
  if (central.role() != store::Role::kCentral) {
    return Fail(Errc::kWrongNode, central.node_id() + " is a unit: units import replies only");
  }
  auto bundle =
      recovery::ReadBundle(path, central.node_id(), "", BundleKind::kPushes, Lookup(keys));
  if (!bundle) return tl::unexpected(bundle.error());
  const protocol::BundleManifest& m = bundle->info.manifest;
  ImportedPushes out;
  out.unit = bundle->info.header.origin;
  out.pushes = m.records.size();
  CentralExecutor exec(central, out.unit, keys, options);
  auto loaded = Answer<protocol::UnitLoaded>(exec.Run(protocol::LoadUnit{}), "loading the unit");
  if (!loaded) return tl::unexpected(loaded.error());
  if (!loaded->ok) return tl::unexpected(StoreFailed("loading the unit", loaded->error));
  out.applied_seq = loaded->applied_seq;
  // The unit's cursor into our log, as HELLO would give it (a session trusts it the same).
  const uint64_t pull = std::min(m.pull, loaded->log_head);

  if (!m.records.empty()) {
    const uint64_t first = m.records.front().seq_from;
    const uint64_t last = m.records.back().seq_to;
    if (last <= loaded->applied_seq) {
      return Fail(Errc::kAlreadyExists,
                  "already imported: pushes " + Range(first, last) + " of " + out.unit +
                      " were all applied before (applied up to " +
                      std::to_string(loaded->applied_seq) + "); nothing applied, no reply written",
                  "if " + out.unit +
                      " still needs its acknowledgement, write one with "
                      "`unitsyncctl export-bundle --unit " +
                      out.unit + " --out REPLY`");
    }
    if (first > loaded->applied_seq + 1) {
      // We lack pushes the unit thinks we acknowledged (restored from an older backup):
      // the reply's applied cursor makes the unit re-queue its state for the next bundle.
      auto reply = ExportReply(central, keys, out.unit, pull, reply_out, now_ms, options);
      if (!reply) return tl::unexpected(reply.error());
      return Fail(Errc::kRejected,
                  "pushes " + Range(first, last) + " of " + out.unit +
                      " do not follow what central has applied (up to " +
                      std::to_string(loaded->applied_seq) +
                      "; restored from an older backup?): nothing applied; the reply " + reply_out +
                      " makes the unit resend its state",
                  "import " + reply_out + " at " + out.unit +
                      ", then export a new bundle there and import that here");
    }
  }
  // The reply is written after the pushes are applied; make sure it can be.
  if (struct stat st{}; ::stat(reply_out.c_str(), &st) == 0) {
    return Fail(Errc::kAlreadyExists, reply_out + " exists; nothing applied",
                "name another reply file (--reply-out); nothing is overwritten");
  }
  for (size_t i = 0; i < m.records.size(); ++i) {
    const uint64_t seq = m.records[i].seq_from;
    if (progress) progress(i, m.records.size());
    if (seq <= out.applied_seq) {
      ++out.already;
      continue;
    }
    auto applied = Answer<protocol::PushApplied>(
        exec.Run(protocol::ApplyPush{seq, std::move(bundle->envelopes[i])}), "applying a push");
    if (!applied) return tl::unexpected(applied.error());
    if (applied->outcome != ApplyOutcome::kApplied) {
      return Fail(
          CodeOf(applied->outcome),
          "push " + std::to_string(seq) + " of " + out.unit + " was not applied: " + applied->error,
          std::to_string(out.applied) + " push(es) before it were applied; none after it");
    }
    ++out.applied;
    out.rows_rejected += applied->rejected.size();
    out.applied_seq = applied->applied_seq;
  }
  if (pull > 0) {
    if (auto st = Done(exec.Run(protocol::AckChanges{pull}), "acknowledging"); !st) {
      return tl::unexpected(st.error());
    }
  }
  auto reply = ExportReply(central, keys, out.unit, pull, reply_out, now_ms, options);
  if (!reply) {
    Error e = reply.error();
    e.hint = std::to_string(out.applied) +
             " push(es) were applied; write the reply with "
             "`unitsyncctl export-bundle --unit " +
             out.unit + " --out REPLY`";
    return tl::unexpected(e);
  }
  out.reply = std::move(*reply);
  return out;
}

Result<ImportedReply> ImportReply(store::Replica& unit, const KeyRing& keys,
                                  const std::string& central_node, const std::string& path,
                                  ExecutorOptions options, const BundleProgress& progress) {
  if (unit.role() != store::Role::kUnit) {
    return Fail(Errc::kWrongNode, unit.node_id() + " is central: central imports units' pushes");
  }
  auto bundle =
      recovery::ReadBundle(path, unit.node_id(), central_node, BundleKind::kReply, Lookup(keys));
  if (!bundle) return tl::unexpected(bundle.error());
  const protocol::BundleManifest& m = bundle->info.manifest;
  UnitExecutor exec(unit, central_node, keys, options);
  auto state = exec.LoadState();
  if (!state) return tl::unexpected(state.error());

  ImportedReply out;
  out.acked_before = out.acked_after = state->acked_seq;
  out.pull_before = state->pull_seq;
  out.changes = m.records.size();
  out.generation = m.generation;
  const bool same_generation = state->generation == m.generation;
  // A reply is a WELCOME read from a file, and files can be old. Central never forgets
  // within a generation, so less there means an older reply, not a central that went
  // back; a generation older than ours is an older reply too. Acting on either would
  // renumber our pushes under seqs central already holds.
  if ((same_generation && m.applied < state->acked_seq) ||
      OlderGeneration(m.generation, state->generation)) {
    return Fail(Errc::kAlreadyExists,
                "an older reply: " + path + " acknowledges pushes up to " +
                    std::to_string(m.applied) + ", this unit already knows " +
                    std::to_string(state->acked_seq) + "; nothing applied",
                "import the newest reply from central");
  }
  const bool new_generation = !state->generation.empty() && !same_generation;
  const bool central_ahead = m.applied > state->built_seq;
  const bool resync = new_generation || central_ahead;
  uint64_t pull = state->pull_seq;
  if (new_generation) pull = std::min(pull, m.pull);

  // Refuse a gap before changing anything: the first range we lack must start right
  // after our cursor (the ranges follow each other, ReadBundle checked).
  for (const auto& r : m.records) {
    if (r.seq_to <= pull) continue;
    if (r.seq_from > pull + 1) {
      return Fail(Errc::kRejected,
                  "the reply's changes start at central log seq " + std::to_string(r.seq_from) +
                      ", this unit has applied up to " + std::to_string(pull) + "; nothing applied",
                  "export a new bundle here and import it at central: its reply starts where "
                  "this unit is");
    }
    break;
  }

  bool changed = false;
  if (resync) {
    if (auto st = Done(exec.Run(protocol::Resync{m.applied, pull, m.generation}), "resync"); !st) {
      return tl::unexpected(st.error());
    }
    out.resynced = changed = true;
    out.acked_after = m.applied;
  } else {
    if (!same_generation) {
      if (auto st = Done(exec.Run(protocol::SaveGeneration{m.generation}), "saving generation");
          !st) {
        return tl::unexpected(st.error());
      }
      changed = true;
    }
    if (m.applied > state->acked_seq) {
      if (auto st = Done(exec.Run(protocol::AckPushes{m.applied}), "acknowledging pushes"); !st) {
        return tl::unexpected(st.error());
      }
      out.acked_after = m.applied;
      changed = true;
    }
  }
  for (size_t i = 0; i < m.records.size(); ++i) {
    const auto& r = m.records[i];
    if (progress) progress(i, m.records.size());
    if (r.seq_to <= pull) continue;  // applied before: never twice
    auto applied = Answer<protocol::ChangesApplied>(
        exec.Run(protocol::ApplyChanges{r.seq_from, r.seq_to, m.generation, central_node,
                                        std::move(bundle->envelopes[i])}),
        "applying changes");
    if (!applied) return tl::unexpected(applied.error());
    if (applied->outcome != ApplyOutcome::kApplied) {
      return Fail(CodeOf(applied->outcome),
                  "changes " + Range(r.seq_from, r.seq_to) + " were not applied: " + applied->error,
                  std::to_string(out.applied) + " record(s) before it were applied; none after");
    }
    ++out.applied;
    out.rows_rejected += applied->rejected.size();
    pull = r.seq_to;
    changed = true;
  }
  out.pull_after = pull;
  if (!changed) {
    return Fail(Errc::kAlreadyExists,
                "nothing new in " + path + ": its acknowledgement (pushes up to " +
                    std::to_string(m.applied) +
                    ") and its changes are already here (imported before?); nothing applied");
  }
  return out;
}

}  // namespace unitsync::daemon
