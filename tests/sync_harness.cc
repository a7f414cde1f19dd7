#include "tests/sync_harness.h"

#include <array>
#include <stdexcept>

#include "store/change_log.h"
#include "store/sync_state.h"

namespace unitsync::testing {
namespace {

// Replica wall clocks follow simulated time from a fixed epoch, so HLCs replay too.
constexpr int64_t kEpochMs = 1'780'000'000'000;

class SimWallClock final : public WallClock {
 public:
  explicit SimWallClock(SimEnv& env) : env_(env) {}
  int64_t NowMs() override { return kEpochMs + env_.now_ms_; }

 private:
  SimEnv& env_;
};

template <typename T>
T OrThrow(Result<T> r, const std::string& what) {
  if (!r) throw std::runtime_error(what + ": " + r.error().ToString());
  return std::move(*r);
}

void OrThrow(const Status& st, const std::string& what) {
  if (!st) throw std::runtime_error(what + ": " + st.error().ToString());
}

}  // namespace

struct SyncHarness::Endpoint {
  std::map<protocol::TimerId, uint64_t> tokens;
};

struct SyncHarness::UnitNode {
  std::string id;
  std::unique_ptr<store::Replica> replica;
  daemon::KeyRing keys;
  std::unique_ptr<daemon::UnitExecutor> exec;
  std::unique_ptr<protocol::Uplink> uplink;
  Endpoint unit_ep;
  // The current connection, if any.
  std::unique_ptr<protocol::HubSession> hub;
  std::unique_ptr<daemon::CentralExecutor> hub_exec;
  Endpoint hub_ep;
  uint64_t link = 0;  // id of the current connection; 0 = none ever
  bool link_up = false;
  bool unit_closed = false;     // the unit side closed (frames to it are lost)
  bool central_closed = false;  // central's side closed
  bool partitioned = false;
};

SyncHarness::SyncHarness(const store::testing::TempDir& dir, int units, uint64_t seed,
                         protocol::SyncOptions options)
    : env_(seed), options_(options) {
  wall_ = std::make_unique<SimWallClock>(env_);
  store::ReplicaOptions ropts;
  ropts.clock = wall_.get();
  central_path_ = dir.File("central.db");
  central_ = std::make_unique<store::Replica>(OrThrow(
      store::Replica::Create(central_path_, store::Role::kCentral, "central", ropts), "central"));
  for (int i = 0; i < units; ++i) {
    auto u = std::make_unique<UnitNode>();
    char name[16];
    std::snprintf(name, sizeof(name), "unit-%04d", i + 1);
    u->id = name;
    u->replica = std::make_unique<store::Replica>(OrThrow(
        store::Replica::Create(dir.File(u->id + ".db"), store::Role::kUnit, u->id, ropts), u->id));
    std::array<uint8_t, protocol::kUnitSecretSize> secret{};
    for (auto& b : secret) b = static_cast<uint8_t>(env_.rng_());
    OrThrow(u->keys.Add(u->id, secret, 1), "unit key");
    OrThrow(central_keys_.Add(u->id, secret, 1), "central key");
    u->exec = std::make_unique<daemon::UnitExecutor>(*u->replica, "central", u->keys);
    auto state = OrThrow(u->exec->LoadState(), "load state");
    u->uplink = std::make_unique<protocol::Uplink>(u->id, state, options_, env_);
    units_.push_back(std::move(u));
  }
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
  if (!u.link_up) return;
  u.link_up = false;
  ++u.link;  // frames in flight belong to the old link id: lost
  u.uplink->OnDisconnected("connection reset");
  PumpUnit(u);
  if (u.hub) {
    u.hub->OnDisconnected("connection reset");
    PumpHub(u);
  }
}

void SyncHarness::ReplaceCentral(const std::string& path) {
  for (int i = 0; i < unit_count(); ++i) Drop(i);
  for (auto& u : units_) {
    u->hub.reset();
    u->hub_exec.reset();
  }
  central_.reset();
  store::ReplicaOptions ropts;
  ropts.clock = wall_.get();
  central_ = std::make_unique<store::Replica>(
      OrThrow(store::Replica::Open(path, ropts), "reopen central"));
}

void SyncHarness::Connect(UnitNode& u) {
  At(faults_.latency_ms, [this, &u] {
    if (u.partitioned) {
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
    u.hub = std::make_unique<protocol::HubSession>("central", u.id, options_, env_);
    u.hub_exec = std::make_unique<daemon::CentralExecutor>(*central_, u.id, central_keys_);
    u.hub_ep.tokens.clear();
    u.hub->OnConnected();
    PumpHub(u);
    u.uplink->OnConnected();
    PumpUnit(u);
  });
}

void SyncHarness::Send(UnitNode& u, bool to_central, protocol::Bytes frame) {
  if (!u.link_up || (to_central ? u.unit_closed : u.central_closed)) return;
  const uint64_t link = u.link;
  ++counters_.frames;
  const bool drop = faults_.drop_per_frame > 0 &&
                    std::uniform_real_distribution<>(0, 1)(env_.rng_) < faults_.drop_per_frame;
  const bool dup = faults_.duplicate_per_frame > 0 &&
                   std::uniform_real_distribution<>(0, 1)(env_.rng_) < faults_.duplicate_per_frame;
  auto deliver = [this, &u, link, to_central, drop](const protocol::Bytes& bytes) {
    if (u.link != link || !u.link_up) return;
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
  if (dup) At(faults_.latency_ms, [deliver, frame] { deliver(frame); });
  At(faults_.latency_ms, [deliver, frame = std::move(frame)] { deliver(frame); });
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
  At(faults_.latency_ms, [this, &u, link, by_central, reason] {
    if (u.link != link || !u.link_up) return;
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
            Arm(u.unit_ep, id, a.after_ms, [this, &u, id] {
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
            At(StoreDelay(), [this, &u, work = std::move(a)] {
              --work_pending_;
              u.uplink->OnStoreResult(u.exec->Run(work));
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
  for (auto& action : hub->TakeActions()) {
    std::visit(
        [&](auto& a) {
          using A = std::decay_t<decltype(a)>;
          if constexpr (std::is_same_v<A, protocol::SendFrame>) {
            Send(u, false, std::move(a.frame));
          } else if constexpr (std::is_same_v<A, protocol::ArmTimer>) {
            const protocol::TimerId id = a.id;
            Arm(u.hub_ep, id, a.after_ms, [this, &u, hub, id] {
              if (u.hub.get() != hub) return;
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
            daemon::CentralExecutor* exec = u.hub_exec.get();
            At(StoreDelay(), [this, &u, hub, exec, work = std::move(a)] {
              --work_pending_;
              // The store thread finishes work even for a session that has gone.
              auto result = exec->Run(work);
              if (u.hub.get() != hub) return;
              hub->OnStoreResult(std::move(result));
              PumpHub(u);
            });
          }
        },
        action);
  }
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
    auto stats = OrThrow(store::GetChangeLogStats(*u->replica, outbox.built_log_seq), "log");
    if (stats.pending != 0) return false;
  }
  return true;
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
