#include "tests/sync_harness.h"

#include <array>
#include <filesystem>
#include <stdexcept>

#include "store/change_log.h"
#include "store/changeset_builder.h"
#include "store/sync_state.h"

namespace unitsync::testing {
namespace {

template <typename T>
T OrThrow(Result<T> r, const std::string& what) {
  if (!r) throw std::runtime_error(what + ": " + r.error().ToString());
  return std::move(*r);
}

void OrThrow(const Status& st, const std::string& what) {
  if (!st) throw std::runtime_error(what + ": " + st.error().ToString());
}

// Rows the unit's next push would carry: change-log entries after `built_log_seq` that
// produce nothing to send (a private row's) are not waiting for anything.
size_t UnbuiltRows(store::Replica& r, int64_t built_log_seq) {
  auto stats = OrThrow(store::GetChangeLogStats(r, built_log_seq), "log");
  if (stats.pending == 0) return 0;
  store::BuildRequest request;
  request.after_seq = built_log_seq;
  request.max_rows = 1;
  return OrThrow(store::BuildChangeset(r, request), "build").rows;
}

}  // namespace

// A node's wall clock: simulated time from a fixed epoch, plus the node's skew.
class SyncHarness::NodeClock final : public WallClock {
 public:
  explicit NodeClock(SimEnv& env) : env_(env) {}
  int64_t NowMs() override { return kSimEpochMs + env_.now_ms_ + offset_ms_; }
  int64_t offset_ms_ = 0;

 private:
  SimEnv& env_;
};

struct SyncHarness::Endpoint {
  std::map<protocol::TimerId, uint64_t> tokens;
  // Timers armed before a crash or by an earlier session must not fire into the new one.
  void InvalidateAll() {
    for (auto& [id, token] : tokens) ++token;
  }
};

struct SyncHarness::UnitNode {
  std::string id;
  std::string path;
  std::unique_ptr<NodeClock> clock;
  std::unique_ptr<store::Replica> replica;
  daemon::KeyRing keys;
  std::unique_ptr<daemon::UnitExecutor> exec;
  std::unique_ptr<protocol::Uplink> uplink;
  Endpoint unit_ep;
  uint64_t incarnation = 0;  // bumped by a crash: work and events of the old one are void
  bool crash_after_work = false;
  // The current connection, if any. Its executor is shared with the store work queued
  // for it, which finishes even after the session has gone.
  std::unique_ptr<protocol::HubSession> hub;
  std::shared_ptr<daemon::CentralExecutor> hub_exec;
  uint64_t hub_session = 0;  // id of `hub` (addresses can be reused)
  Endpoint hub_ep;
  uint64_t link = 0;  // id of the current connection; 0 = none ever
  bool link_up = false;
  bool unit_closed = false;     // the unit side closed (frames to it are lost)
  bool central_closed = false;  // central's side closed
  bool partitioned = false;
  uint64_t silent_link = 0;  // a link cut silently: nothing on it arrives any more
  // Per direction (0: to central, 1: to the unit) of the current link, when the last
  // frame is due: a delayed frame holds up the ones behind it, as in TCP.
  int64_t due_ms[2] = {0, 0};
};

SyncHarness::SyncHarness(const store::testing::TempDir& dir, int units, uint64_t seed,
                         protocol::SyncOptions options)
    : env_(seed), options_(options) {
  central_clock_ = std::make_unique<NodeClock>(env_);
  store::ReplicaOptions ropts;
  ropts.clock = central_clock_.get();
  central_path_ = dir.File("central.db");
  // A replica file already in `dir` is a fresh copy made for us (SyncHarness header).
  auto made = [](const std::string& path) { return std::filesystem::exists(path); };
  central_ = std::make_unique<store::Replica>(
      made(central_path_)
          ? OrThrow(store::Replica::Open(central_path_, ropts), "central")
          : OrThrow(store::Replica::Create(central_path_, store::Role::kCentral, "central", ropts),
                    "central"));
  for (int i = 0; i < units; ++i) {
    auto u = std::make_unique<UnitNode>();
    char name[16];
    std::snprintf(name, sizeof(name), "unit-%04d", i + 1);
    u->id = name;
    u->path = dir.File(u->id + ".db");
    u->clock = std::make_unique<NodeClock>(env_);
    store::ReplicaOptions uopts;
    uopts.clock = u->clock.get();
    if (!made(u->path)) {
      OrThrow(store::Replica::Create(u->path, store::Role::kUnit, u->id, uopts), u->id);
    }
    std::array<uint8_t, protocol::kUnitSecretSize> secret{};
    for (auto& b : secret) b = static_cast<uint8_t>(env_.rng_());
    OrThrow(u->keys.Add(u->id, secret, 1), "unit key");
    OrThrow(central_keys_.Add(u->id, secret, 1), "central key");
    OpenUnit(*u);
    units_.push_back(std::move(u));
  }
}

void SyncHarness::OpenUnit(UnitNode& u) {
  u.uplink.reset();
  u.exec.reset();
  u.replica.reset();
  store::ReplicaOptions ropts;
  ropts.clock = u.clock.get();
  u.replica = std::make_unique<store::Replica>(
      OrThrow(store::Replica::Open(u.path, ropts), "open " + u.id));
  u.exec = std::make_unique<daemon::UnitExecutor>(*u.replica, "central", u.keys);
  auto state = OrThrow(u.exec->LoadState(), "load state");
  u.uplink = std::make_unique<protocol::Uplink>(u.id, state, options_, env_);
}

const daemon::KeyRing& SyncHarness::unit_keys(int i) const { return units_[i]->keys; }

void SyncHarness::SetClockOffset(int node, int64_t offset_ms) {
  (node == kCentral ? *central_clock_ : *units_[node]->clock).offset_ms_ = offset_ms;
}

void SyncHarness::CrashAfterNextStoreWork(int node) {
  (node == kCentral ? central_crash_after_work_ : units_[node]->crash_after_work) = true;
}

void SyncHarness::CrashUnit(int i) {
  UnitNode& u = *units_[i];
  ++counters_.unit_crashes;
  ++u.incarnation;
  u.crash_after_work = false;
  u.unit_ep.InvalidateAll();
  // Central sees the connection reset; the unit itself is gone.
  if (u.link_up) {
    u.link_up = false;
    ++u.link;
    if (u.hub) {
      u.hub->OnDisconnected("connection reset");
      PumpHub(u);
    }
  }
  OpenUnit(u);
  u.uplink->Start();
  PumpUnit(u);
}

void SyncHarness::CrashCentral() {
  ++counters_.central_crashes;
  ReopenCentral(central_path_);
}

void SyncHarness::Cut(int i) {
  UnitNode& u = *units_[i];
  if (u.link_up) u.silent_link = u.link;
}

SyncHarness::~SyncHarness() = default;

protocol::HubSession* SyncHarness::hub(int i) { return units_[i]->hub.get(); }
store::Replica& SyncHarness::unit(int i) { return *units_[i]->replica; }
const std::string& SyncHarness::unit_id(int i) const { return units_[i]->id; }
protocol::Uplink& SyncHarness::uplink(int i) { return *units_[i]->uplink; }

bool SyncHarness::Logged(const std::string& node, const std::string& event) const {
  auto it = logs_.find(node);
  if (it == logs_.end()) return false;
  for (const auto& line : it->second) {
    if (line.rfind(event + " ", 0) == 0 || line == event) return true;
  }
  return false;
}

void SyncHarness::At(int64_t delay_ms, Event event) {
  events_.push({env_.now_ms_ + delay_ms, order_++, std::move(event)});
}

void SyncHarness::Arm(Endpoint& e, protocol::TimerId id, int64_t after_ms,
                      std::function<void()> fire) {
  const uint64_t token = ++e.tokens[id];
  timers_pending_++;
  events_.push({env_.now_ms_ + after_ms, order_++, [this, &e, id, token, fire = std::move(fire)] {
                  --timers_pending_;
                  if (e.tokens[id] == token) fire();
                }});
}

void SyncHarness::Start() {
  for (auto& u : units_) {
    u->uplink->Start();
    PumpUnit(*u);
  }
}

void SyncHarness::LocalChange(int i) {
  units_[i]->uplink->OnLocalChange();
  PumpUnit(*units_[i]);
}

void SyncHarness::CentralChange() {
  for (auto& u : units_) {
    if (!u->hub) continue;
    u->hub->OnLogAdvanced();
    PumpHub(*u);
  }
}

void SyncHarness::Partition(int i, bool partitioned) { units_[i]->partitioned = partitioned; }

void SyncHarness::Drop(int i) {
  UnitNode& u = *units_[i];
  if (!u.link_up || u.silent_link == u.link) return;
  u.link_up = false;
  ++u.link;  // frames in flight belong to the old link id: lost
  u.uplink->OnDisconnected("connection reset");
  PumpUnit(u);
  if (u.hub) {
    u.hub->OnDisconnected("connection reset");
    PumpHub(u);
  }
}

void SyncHarness::ReplaceCentral(const std::string& path) { ReopenCentral(path); }

void SyncHarness::ReopenCentral(const std::string& path) {
  ++central_incarnation_;
  central_crash_after_work_ = false;
  for (auto& u : units_) {
    // Every unit sees its connection reset; central's sessions are simply gone.
    if (u->link_up) {
      u->link_up = false;
      ++u->link;
      u->uplink->OnDisconnected("connection reset");
      PumpUnit(*u);
    }
    u->hub.reset();
    u->hub_exec.reset();
    u->hub_ep.InvalidateAll();
  }
  central_.reset();
  central_path_ = path;
  store::ReplicaOptions ropts;
  ropts.clock = central_clock_.get();
  central_ = std::make_unique<store::Replica>(
      OrThrow(store::Replica::Open(path, ropts), "reopen central"));
}

void SyncHarness::Connect(UnitNode& u) {
  const uint64_t incarnation = u.incarnation;
  At(faults_.latency_ms, [this, &u, incarnation] {
    if (u.incarnation != incarnation) return;  // the unit crashed meanwhile
    if (u.partitioned) {
      ++counters_.refused_connects;
      u.uplink->OnDisconnected("connection refused");
      PumpUnit(u);
      return;
    }
    if (u.hub) {
      // One session per unit: a new connection replaces the old one.
      u.hub->Stop();
      u.hub->TakeActions();
    }
    ++u.link;
    ++counters_.connections;
    u.link_up = true;
    u.unit_closed = u.central_closed = false;
    u.due_ms[0] = u.due_ms[1] = 0;
    u.hub = std::make_unique<protocol::HubSession>("central", u.id, options_, env_);
    daemon::ExecutorOptions exec_options;
    exec_options.log_retention_ms = log_retention_ms_;
    u.hub_exec =
        std::make_shared<daemon::CentralExecutor>(*central_, u.id, central_keys_, exec_options);
    ++u.hub_session;
    u.hub_ep.InvalidateAll();
    u.hub->OnConnected();
    PumpHub(u);
    u.uplink->OnConnected();
    PumpUnit(u);
  });
}

void SyncHarness::Send(UnitNode& u, bool to_central, protocol::Bytes frame) {
  if (!u.link_up || (to_central ? u.unit_closed : u.central_closed)) return;
  if (frame_observer_) frame_observer_(IndexOf(u), to_central, frame);
  const uint64_t link = u.link;
  ++counters_.frames;
  if (u.silent_link == link) {
    ++counters_.blackholed;
    return;
  }
  auto chance = [this](double p) {
    return p > 0 && std::uniform_real_distribution<>(0, 1)(env_.rng_) < p;
  };
  const bool drop = chance(faults_.drop_per_frame);
  const bool dup = chance(faults_.duplicate_per_frame);
  // Held up in order (TCP stall) or overtaken (reordered): the extra wait.
  int64_t& due = u.due_ms[to_central ? 0 : 1];
  int64_t at = env_.now_ms_ + faults_.latency_ms;
  if (faults_.max_delay_ms > 0 && chance(faults_.delay_per_frame)) {
    ++counters_.delays;
    at += 1 + static_cast<int64_t>(env_.rng_() % static_cast<uint64_t>(faults_.max_delay_ms));
  }
  bool overtaken = false;
  if (faults_.max_delay_ms > 0 && chance(faults_.reorder_per_frame)) {
    ++counters_.reorders;
    overtaken = true;
  }
  if (overtaken) {
    at += 1 + static_cast<int64_t>(env_.rng_() % static_cast<uint64_t>(faults_.max_delay_ms));
  } else {
    at = std::max(at, due);
    due = at;
  }
  const int64_t delay = at - env_.now_ms_;
  auto deliver = [this, &u, link, to_central, drop](const protocol::Bytes& bytes) {
    if (u.link != link || !u.link_up || u.silent_link == link) return;
    if (drop) {
      ++counters_.drops;
      Drop(IndexOf(u));
      return;
    }
    if (to_central) {
      if (u.central_closed || !u.hub) return;
      u.hub->OnBytes(bytes);
      PumpHub(u);
    } else {
      if (u.unit_closed) return;
      u.uplink->OnBytes(bytes);
      PumpUnit(u);
    }
  };
  if (dup) ++counters_.duplicates;
  if (dup) At(delay, [deliver, frame] { deliver(frame); });
  At(delay, [deliver, frame = std::move(frame)] { deliver(frame); });
}

int SyncHarness::IndexOf(const UnitNode& u) const {
  for (size_t i = 0; i < units_.size(); ++i) {
    if (units_[i].get() == &u) return static_cast<int>(i);
  }
  return -1;
}

void SyncHarness::CloseLink(UnitNode& u, bool by_central, const std::string& reason) {
  if (!u.link_up) return;
  (by_central ? u.central_closed : u.unit_closed) = true;
  const uint64_t link = u.link;
  // Graceful: what was written before arrives first, then the peer sees the close.
  const int64_t due = u.due_ms[by_central ? 1 : 0];
  At(std::max(faults_.latency_ms, due - env_.now_ms_), [this, &u, link, by_central, reason] {
    if (u.link != link || !u.link_up || u.silent_link == link) return;
    u.link_up = false;
    if (by_central) {
      u.uplink->OnDisconnected("closed by central: " + reason);
      PumpUnit(u);
    } else if (u.hub) {
      u.hub->OnDisconnected("closed by unit: " + reason);
      PumpHub(u);
    }
  });
}

void SyncHarness::PumpUnit(UnitNode& u) {
  for (auto& action : u.uplink->TakeActions()) {
    std::visit(
        [&](auto& a) {
          using A = std::decay_t<decltype(a)>;
          if constexpr (std::is_same_v<A, protocol::SendFrame>) {
            Send(u, true, std::move(a.frame));
          } else if constexpr (std::is_same_v<A, protocol::ArmTimer>) {
            const protocol::TimerId id = a.id;
            const uint64_t incarnation = u.incarnation;
            Arm(u.unit_ep, id, a.after_ms, [this, &u, id, incarnation] {
              if (u.incarnation != incarnation) return;
              u.uplink->OnTimer(id);
              PumpUnit(u);
            });
          } else if constexpr (std::is_same_v<A, protocol::CancelTimer>) {
            ++u.unit_ep.tokens[a.id];
          } else if constexpr (std::is_same_v<A, protocol::Connect>) {
            Connect(u);
          } else if constexpr (std::is_same_v<A, protocol::CloseConnection>) {
            CloseLink(u, false, a.reason);
          } else if constexpr (std::is_same_v<A, protocol::LogLine>) {
            logs_[u.id].push_back(a.event + " " + a.fields);
          } else if constexpr (std::is_same_v<A, protocol::VerifyDone>) {
            verify_done_.insert_or_assign({u.id, a.id}, std::move(a.result));
          } else if constexpr (std::is_same_v<A, protocol::StoreWork>) {
            ++work_pending_;
            const uint64_t incarnation = u.incarnation;
            At(StoreDelay(), [this, &u, incarnation, work = std::move(a)] {
              --work_pending_;
              if (u.incarnation != incarnation) {
                ++counters_.store_work_lost;  // the unit crashed before it ran
                return;
              }
              protocol::StoreResult result;
              RunStoreWork(u, false, work, result);
              if (u.crash_after_work) {
                ++counters_.crashes_after_commit;
                CrashUnit(IndexOf(u));
                return;
              }
              u.uplink->OnStoreResult(std::move(result));
              PumpUnit(u);
            });
          }
        },
        action);
  }
}

void SyncHarness::PumpHub(UnitNode& u) {
  protocol::HubSession* hub = u.hub.get();
  if (hub == nullptr) return;
  const uint64_t session = u.hub_session;
  for (auto& action : hub->TakeActions()) {
    std::visit(
        [&](auto& a) {
          using A = std::decay_t<decltype(a)>;
          if constexpr (std::is_same_v<A, protocol::SendFrame>) {
            Send(u, false, std::move(a.frame));
          } else if constexpr (std::is_same_v<A, protocol::ArmTimer>) {
            const protocol::TimerId id = a.id;
            Arm(u.hub_ep, id, a.after_ms, [this, &u, hub, session, id] {
              if (!u.hub || u.hub_session != session) return;
              hub->OnTimer(id);
              PumpHub(u);
            });
          } else if constexpr (std::is_same_v<A, protocol::CancelTimer>) {
            ++u.hub_ep.tokens[a.id];
          } else if constexpr (std::is_same_v<A, protocol::CloseConnection>) {
            CloseLink(u, true, a.reason);
          } else if constexpr (std::is_same_v<A, protocol::LogAdvanced>) {
            At(0, [this, &u] {
              for (auto& other : units_) {
                if (other.get() == &u || !other->hub) continue;
                other->hub->OnLogAdvanced();
                PumpHub(*other);
              }
            });
          } else if constexpr (std::is_same_v<A, protocol::LogLine>) {
            logs_["central"].push_back(a.event + " " + a.fields);
          } else if constexpr (std::is_same_v<A, protocol::VerifyDone>) {
            verify_done_.insert_or_assign({"central/" + u.id, a.id}, std::move(a.result));
          } else if constexpr (std::is_same_v<A, protocol::StoreWork>) {
            ++work_pending_;
            const uint64_t incarnation = central_incarnation_;
            At(StoreDelay(),
               [this, &u, hub, session, incarnation, exec = u.hub_exec, work = std::move(a)] {
                 --work_pending_;
                 if (central_incarnation_ != incarnation) {
                   ++counters_.store_work_lost;  // central crashed before it ran
                   return;
                 }
                 // The store thread finishes work even for a session that has gone.
                 protocol::StoreResult result;
                 if (store_observer_) store_observer_({IndexOf(u), true, &work, nullptr});
                 result = exec->Run(work);
                 if (store_observer_) store_observer_({IndexOf(u), true, &work, &result});
                 if (central_crash_after_work_) {
                   ++counters_.crashes_after_commit;
                   CrashCentral();
                   return;
                 }
                 if (!u.hub || u.hub_session != session) return;
                 hub->OnStoreResult(std::move(result));
                 PumpHub(u);
               });
          }
        },
        action);
  }
}

void SyncHarness::RunStoreWork(UnitNode& u, bool at_central, const protocol::StoreWork& work,
                               protocol::StoreResult& result) {
  if (store_observer_) store_observer_({IndexOf(u), at_central, &work, nullptr});
  result = u.exec->Run(work);
  if (store_observer_) store_observer_({IndexOf(u), at_central, &work, &result});
}

int64_t SyncHarness::StoreDelay() { return static_cast<int64_t>(env_.rng_() % 3); }

size_t SyncHarness::RunFor(int64_t ms) {
  const int64_t until = env_.now_ms_ + ms;
  size_t ran = 0;
  while (!events_.empty() && events_.top().at <= until) {
    Scheduled s = events_.top();
    events_.pop();
    env_.now_ms_ = std::max(env_.now_ms_, s.at);
    s.event();
    ++ran;
  }
  env_.now_ms_ = until;
  return ran;
}

bool SyncHarness::Quiet() {
  if (work_pending_ > 0 || events_.size() > timers_pending_) return false;
  for (auto& u : units_) {
    if (u->uplink->phase() != protocol::Uplink::Phase::kSyncing) return false;
    if (u->uplink->in_flight() != 0) return false;
    if (!u->hub || u->hub->phase() != protocol::HubSession::Phase::kSyncing) return false;
    if (u->hub->fan_acked() != u->hub->fan_sent_to()) return false;
    auto outbox = OrThrow(store::GetOutboxState(*u->replica), "outbox");
    if (outbox.pending != 0) return false;
    if (UnbuiltRows(*u->replica, outbox.built_log_seq) != 0) return false;
  }
  return true;
}

std::string SyncHarness::NotQuietBecause() {
  std::string out;
  if (work_pending_ > 0) out += "store work pending; ";
  if (events_.size() > timers_pending_) out += "events pending; ";
  for (auto& u : units_) {
    auto outbox = OrThrow(store::GetOutboxState(*u->replica), "outbox");
    const size_t unbuilt = UnbuiltRows(*u->replica, outbox.built_log_seq);
    const bool quiet =
        u->uplink->phase() == protocol::Uplink::Phase::kSyncing && u->uplink->in_flight() == 0 &&
        u->hub && u->hub->phase() == protocol::HubSession::Phase::kSyncing &&
        u->hub->fan_acked() == u->hub->fan_sent_to() && outbox.pending == 0 && unbuilt == 0;
    if (quiet) continue;
    out += u->id + ": uplink phase " + std::to_string(static_cast<int>(u->uplink->phase())) +
           " in_flight " + std::to_string(u->uplink->in_flight()) + " attempts " +
           std::to_string(u->uplink->attempts()) + ", outbox " + std::to_string(outbox.pending) +
           " (built " + std::to_string(outbox.built_seq) + " acked " +
           std::to_string(outbox.acked_seq) + "), unbuilt rows " + std::to_string(unbuilt);
    if (u->hub) {
      out += ", hub phase " + std::to_string(static_cast<int>(u->hub->phase())) + " applied " +
             std::to_string(u->hub->applied_seq()) + " fan sent " +
             std::to_string(u->hub->fan_sent_to()) + " acked " +
             std::to_string(u->hub->fan_acked());
    } else {
      out += ", no session at central";
    }
    out += "; ";
  }
  return out;
}

bool SyncHarness::RunUntil(const std::function<bool()>& done, int64_t limit_ms) {
  const int64_t until = env_.now_ms_ + limit_ms;
  while (env_.now_ms_ < until) {
    if (done()) return true;
    if (events_.empty()) return done();
    Scheduled s = events_.top();
    if (s.at > until) break;
    events_.pop();
    env_.now_ms_ = std::max(env_.now_ms_, s.at);
    s.event();
  }
  return done();
}

bool SyncHarness::RunUntilQuiet(int64_t limit_ms) {
  return RunUntil([this] { return Quiet(); }, limit_ms);
}

uint64_t SyncHarness::StartVerify(int i, bool from_central) {
  UnitNode& u = *units_[i];
  const uint64_t id = ++last_verify_id_;
  if (from_central) {
    if (!u.hub || !u.hub->StartVerify(id)) return 0;
    PumpHub(u);
  } else {
    if (!u.uplink->StartVerify(id)) return 0;
    PumpUnit(u);
  }
  return id;
}

std::optional<Result<protocol::VerifyReport>> SyncHarness::AwaitVerify(int i, bool from_central,
                                                                       uint64_t id,
                                                                       int64_t limit_ms) {
  const std::pair<std::string, uint64_t> key{
      from_central ? "central/" + units_[i]->id : units_[i]->id, id};
  if (!RunUntil([&] { return verify_done_.count(key) > 0; }, limit_ms)) return std::nullopt;
  auto it = verify_done_.find(key);
  Result<protocol::VerifyReport> result = std::move(it->second);
  verify_done_.erase(it);
  return result;
}

Result<protocol::VerifyReport> SyncHarness::Verify(int i, bool from_central) {
  const uint64_t id = StartVerify(i, from_central);
  if (id == 0) return Fail(Errc::kRejected, "the verify could not start: not syncing");
  auto result = AwaitVerify(i, from_central, id);
  if (!result) return Fail(Errc::kInternal, "the verify did not end in time");
  return std::move(*result);
}

}  // namespace unitsync::testing
