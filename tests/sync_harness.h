// An in-process deployment for sync tests: one central and N units, each a real replica
// file with its real executor, the two sans-I/O state machines wired together through a
// fake link instead of TLS. Time is simulated and every random choice comes from one
// seed, so a run is replayable (UNITSYNC_SEED).
//
// The link behaves like a TCP/TLS stream: frames arrive in order after a latency, a
// graceful close delivers what was written first, an abort (Drop) loses what is in
// flight. Faults the tests inject: connection drops, frames held up (in order), refused
// connects and silent links (partitions), store work finishing late, node crashes
// (also between a store commit and the frames that would have reported it), skewed
// wall clocks, central restored from an older file. Two faults break the stream model
// on purpose, to test the core's own defences: frames duplicated or overtaken inside
// one connection (FORMAT.md section 6 says what the core does with each).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <queue>
#include <random>
#include <string>
#include <vector>

#include "common/clock.h"
#include "daemon/key_ring.h"
#include "daemon/sync_executor.h"
#include "protocol/hub.h"
#include "protocol/uplink.h"
#include "store/replica.h"
#include "store/test_util.h"

namespace unitsync::testing {

// Replica wall clocks follow simulated time from this fixed epoch, so HLCs replay too.
inline constexpr int64_t kSimEpochMs = 1'780'000'000'000;

class SimEnv final : public protocol::SyncEnv {
 public:
  explicit SimEnv(uint64_t seed) : rng_(seed) {}
  int64_t MonotonicMs() override { return now_ms_; }
  uint64_t Random() override { return rng_(); }
  int64_t now_ms_ = 0;
  std::mt19937_64 rng_;
};

struct Faults {
  double drop_per_frame = 0;       // chance that a frame's delivery aborts the connection
  double duplicate_per_frame = 0;  // chance that a frame is delivered twice
  int64_t latency_ms = 5;
  // Chance that a frame is held up by up to max_delay_ms; the frames behind it on the
  // same connection wait for it (a stalled TCP stream).
  double delay_per_frame = 0;
  int64_t max_delay_ms = 0;
  // Chance that a frame is held up by up to max_delay_ms while later frames of the same
  // connection overtake it (not something TCP does: a robustness fault).
  double reorder_per_frame = 0;
};

// A node of the deployment for the fault API: kCentral or a unit index (0-based).
inline constexpr int kCentral = -1;

// One store request carried out, for observers (tests/sim checks exactly-once applies
// and replays what was applied). `result` is null before the work runs.
struct StoreEvent {
  int unit = 0;             // the unit (central: the unit whose session asked)
  bool at_central = false;  // central's executor ran it (else the unit's)
  const protocol::StoreWork* work = nullptr;
  const protocol::StoreResult* result = nullptr;
};

class SyncHarness {
 public:
  // Central "central" and units "unit-0001".."unit-000N", secrets derived from the seed.
  // Replica files already in `dir` (central.db, unit-000N.db) are opened instead of
  // created; they must be fresh replicas of those node ids (tests/sim copies templates:
  // creating a replica is most of a short scenario's set-up).
  SyncHarness(const store::testing::TempDir& dir, int units, uint64_t seed,
              protocol::SyncOptions options = {});
  ~SyncHarness();

  store::Replica& central() { return *central_; }
  store::Replica& unit(int i);
  const std::string& unit_id(int i) const;
  protocol::Uplink& uplink(int i);
  protocol::HubSession* hub(int i);
  int unit_count() const { return static_cast<int>(units_.size()); }
  SimEnv& env() { return env_; }
  // Faults that actually happened, so a test can tell it exercised them.
  struct Counters {
    size_t connections = 0;
    size_t frames = 0;
    size_t drops = 0;
    size_t duplicates = 0;
    size_t delays = 0;
    size_t reorders = 0;
    size_t blackholed = 0;        // frames lost on a link cut silently
    size_t refused_connects = 0;  // connects refused by a partition
    size_t unit_crashes = 0;
    size_t central_crashes = 0;
    size_t crashes_after_commit = 0;  // of those: right after a store commit
    size_t store_work_lost = 0;       // store work a crash kept from running
  };
  const Counters& counters() const { return counters_; }
  Faults& faults() { return faults_; }
  // Log lines emitted so far, "event fields", per node ("central" or a unit id).
  const std::vector<std::string>& logs(const std::string& node) { return logs_[node]; }
  bool Logged(const std::string& node, const std::string& event) const;

  // Starts every uplink.
  void Start();
  // Tells unit i's uplink that its change log grew (the daemon does this on a timer and
  // on local writes it sees).
  void LocalChange(int i);
  // Central wrote locally: every hub session fans out.
  void CentralChange();
  // Aborts unit i's connection (both sides see a reset; in-flight frames are lost).
  void Drop(int i);
  // While partitioned, unit i's connects fail.
  void Partition(int i, bool partitioned);
  // Unit i's current connection goes silent: nothing more arrives either way and
  // neither side is told (a cable pulled); the read deadlines find out.
  void Cut(int i);
  // Central trims its log and tombstones (store/log_gc.h) with this retention, in
  // sessions started from now on; 0 (the default) = never.
  void SetLogRetention(int64_t ms) { log_retention_ms_ = ms; }
  // Closes and reopens central's replica from `path` (a restore), keeping the harness.
  void ReplaceCentral(const std::string& path);

  // Crashes a node (kill -9): its core objects, timers, connections and store work not
  // yet run are lost; its replica file is closed and reopened, and the node starts again
  // from what is durable. A crashed unit starts connecting at once.
  void CrashUnit(int i);
  void CrashCentral();
  // The node's next store work commits, then the node crashes before anything reports
  // the result (the window between a store commit and the ack).
  void CrashAfterNextStoreWork(int node);
  // Skews node's wall clock (the replica's HLC source) by offset_ms from simulated time;
  // may be called at any time (a clock jump).
  void SetClockOffset(int node, int64_t offset_ms);
  // Called around every store request that runs (not for work lost to a crash).
  void SetStoreObserver(std::function<void(const StoreEvent&)> observer) {
    store_observer_ = std::move(observer);
  }
  // Called for every frame a node sends on a live connection, before any network fault
  // touches it (tests/faults records the ACKs each node sends).
  void SetFrameObserver(std::function<void(int unit, bool to_central, const protocol::Bytes&)> o) {
    frame_observer_ = std::move(o);
  }
  const daemon::KeyRing& central_keys() const { return central_keys_; }
  const daemon::KeyRing& unit_keys(int i) const;
  const std::string& central_path() const { return central_path_; }

  // Runs events until none is left before now + ms; returns how many ran.
  size_t RunFor(int64_t ms);
  // Runs until every unit is syncing with nothing in flight, nothing queued, no store
  // work outstanding, its change log built and acknowledged, and central's fan-out
  // acknowledged — or `limit_ms` of simulated time passed. True when quiet.
  bool RunUntilQuiet(int64_t limit_ms = 600'000);
  // Why RunUntilQuiet would not return true now: one clause per unit that is not quiet
  // (phases, windows, queues; ids and counts only). Empty when quiet.
  std::string NotQuietBecause();

  // Verify (FORMAT.md section 6): starts one of unit i's scope, asked by the unit or by
  // central, and returns its id; 0 when the core refused to start it (not syncing).
  uint64_t StartVerify(int i, bool from_central);
  // Runs events until that verify has ended (or `limit_ms` passed): its VerifyDone
  // result, or nullopt when it has not ended yet.
  std::optional<Result<protocol::VerifyReport>> AwaitVerify(int i, bool from_central, uint64_t id,
                                                            int64_t limit_ms = 120'000);
  // StartVerify + AwaitVerify; kRejected when it could not start, kInternal when it did
  // not end within the limit.
  Result<protocol::VerifyReport> Verify(int i, bool from_central);

 private:
  struct Endpoint;  // timers and pending store work of one state machine
  struct UnitNode;
  struct Link;
  using Event = std::function<void()>;

  void At(int64_t delay_ms, Event event);
  void PumpUnit(UnitNode& u);
  void PumpHub(UnitNode& u);
  void Connect(UnitNode& u);
  void Send(UnitNode& u, bool to_central, protocol::Bytes frame);
  void CloseLink(UnitNode& u, bool by_central, const std::string& reason);
  void Arm(Endpoint& e, protocol::TimerId id, int64_t after_ms, std::function<void()> fire);
  bool Quiet();
  // Shared by CrashCentral and ReplaceCentral: every session reset, central reopened.
  void ReopenCentral(const std::string& path);
  void OpenUnit(UnitNode& u);
  void RunStoreWork(UnitNode& u, bool at_central, const protocol::StoreWork& work,
                    protocol::StoreResult& result);
  // Runs events until `done()` holds or `limit_ms` passed; returns done().
  bool RunUntil(const std::function<bool()>& done, int64_t limit_ms);
  int IndexOf(const UnitNode& u) const;
  int64_t StoreDelay();

  class NodeClock;
  SimEnv env_;
  std::unique_ptr<NodeClock> central_clock_;  // replicas' clocks: simulated time + skew
  Faults faults_;
  int64_t log_retention_ms_ = 0;
  protocol::SyncOptions options_;
  daemon::KeyRing central_keys_;
  std::unique_ptr<store::Replica> central_;
  std::string central_path_;
  uint64_t central_incarnation_ = 0;  // bumped by every central crash or restore
  bool central_crash_after_work_ = false;
  std::function<void(const StoreEvent&)> store_observer_;
  std::function<void(int, bool, const protocol::Bytes&)> frame_observer_;
  std::vector<std::unique_ptr<UnitNode>> units_;
  std::map<std::string, std::vector<std::string>> logs_;

  struct Scheduled {
    int64_t at;
    uint64_t order;
    Event event;
    bool operator>(const Scheduled& o) const { return at != o.at ? at > o.at : order > o.order; }
  };
  std::priority_queue<Scheduled, std::vector<Scheduled>, std::greater<>> events_;
  uint64_t order_ = 0;
  Counters counters_;
  size_t timers_pending_ = 0;  // scheduled timer events (heartbeats never stop)
  size_t work_pending_ = 0;    // store work scheduled, not yet run
  // VerifyDone results by (asker: unit id, or "central/" + unit id; verify id).
  std::map<std::pair<std::string, uint64_t>, Result<protocol::VerifyReport>> verify_done_;
  uint64_t last_verify_id_ = 0;
};

}  // namespace unitsync::testing
