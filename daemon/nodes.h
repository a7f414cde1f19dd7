// The two roles of unitsyncd on Asio: UnitNode keeps one uplink to central; CentralNode
// accepts units, binds each TLS session to the unit its certificate names, and runs a
// HubSession per unit. Both run on one I/O thread; all SQLite work goes to the store
// thread (store_worker.h) through the executors.
#pragma once

// clang-format off
#include <utility>  // before Boost 1.74's awaitable.hpp, which needs std::exchange
// clang-format on
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "daemon/config.h"
#include "daemon/core_driver.h"
#include "daemon/handshake_slots.h"
#include "daemon/key_ring.h"
#include "daemon/link_stats.h"
#include "daemon/log.h"
#include "daemon/store_worker.h"
#include "daemon/sync_executor.h"
#include "pki/registry.h"
#include "protocol/hub.h"
#include "protocol/uplink.h"
#include "store/replica.h"

namespace unitsync::daemon {

// Real time and randomness for the sync core.
class SystemSyncEnv final : public protocol::SyncEnv {
 public:
  int64_t MonotonicMs() override;
  uint64_t Random() override { return rng_(); }

 private:
  std::mt19937_64 rng_{std::random_device{}()};
};

class UnitNode {
 public:
  // Everything passed must outlive the node. `replica` is used on the store thread only.
  UnitNode(boost::asio::io_context& io, const Config& config, store::Replica& replica,
           const KeyRing& keys, boost::asio::ssl::context& tls, StoreWorker& store, Logger& log,
           protocol::UplinkState state);

  void Start();
  void Stop();
  // The replica changed under us (another program wrote): push it.
  void LocalChange();
  const protocol::Uplink& uplink() const { return uplink_; }
  // Told how each store work ends (storage faults); before Start, must outlive the node.
  void SetStoreObserver(StoreObserver* observer) { exec_.SetObserver(observer); }

  // Admin controls (unitsyncctl pause / resume / sync-now). Pause closes the session and
  // keeps it closed (local writes wait in the log) until Resume; not persisted.
  void Pause();
  void Resume();
  // Reconnect now if waiting to, and push whatever is waiting.
  void SyncNow();
  bool paused() const { return paused_; }
  // "connected", "connecting", "waiting to reconnect", "paused", "stopped".
  std::string LinkState() const;
  const LinkStats& link() const { return link_; }
  uint64_t session_errors() const { return session_errors_; }

  // Verify: compares this unit's replica with central's copy of it, per table, over the
  // session (protocol/FORMAT.md section 6, "Verify"). `done` is called exactly once, on
  // the I/O thread and never from inside Verify: the report; or kUnavailable when not
  // connected to central (paused, reconnecting, ...), when the connection goes first or
  // the node stops or pauses, or when central does not answer within
  // sync.verify_timeout_ms; kRejected when kMaxPendingVerifies are running; kBusy when
  // central answers without digests (its store failed or it is busy); the store's
  // error when ours cannot be computed. Verifies may overlap; each gets its own answer.
  // REQUIRES: called on the I/O thread.
  void Verify(std::function<void(Result<protocol::VerifyReport>)> done);

 private:
  void Connect();
  boost::asio::awaitable<void> ConnectAttempt(uint64_t attempt);
  void AfterPump();
  void VerifyDone(protocol::VerifyDone done);

  boost::asio::io_context& io_;
  const Config& config_;
  boost::asio::ssl::context& tls_;
  Logger& log_;
  SystemSyncEnv env_;
  UnitExecutor exec_;
  protocol::Uplink uplink_;
  CoreDriver driver_;
  uint64_t attempt_ = 0;
  bool paused_ = false;
  LinkStats link_;
  uint64_t session_errors_ = 0;
  uint64_t seen_acked_ = 0;  // cursors at the last AfterPump, to notice progress
  uint64_t seen_pull_ = 0;
  uint64_t last_verify_id_ = 0;
  std::map<uint64_t, std::function<void(Result<protocol::VerifyReport>)>> verifies_;
};

class CentralNode {
 public:
  CentralNode(boost::asio::io_context& io, const Config& config, store::Replica& replica,
              const pki::Registry& registry, const KeyRing& keys, boost::asio::ssl::context& tls,
              StoreWorker& store, Logger& log);
  ~CentralNode();

  // Binds the listening socket (fails with the OS's reason) and starts accepting.
  Status Start();
  void Stop();
  // Central's own log grew (a local write, or an accepted push): fan out. The session of
  // `except_unit` (whose push it was) is told after the others, from a posted task.
  void LogAdvanced(const std::string& except_unit = {});
  size_t sessions() const { return sessions_.size(); }
  // Told how each session's store work ends (storage faults); before Start, must outlive
  // the node and every store task.
  void SetStoreObserver(StoreObserver* observer) { store_observer_ = observer; }

  // Verify: compares central's copy of `unit` with the unit's replica, per table, over
  // that unit's session (protocol/FORMAT.md section 6, "Verify"). `done` is called
  // exactly once, on the I/O thread and never from inside Verify: the report; or
  // kUnavailable "unit not connected" when the unit has no established session, or when
  // the session ends first (closed, replaced by a new connection, paused, central
  // stopping) or the unit does not answer within sync.verify_timeout_ms; kRejected when
  // kMaxPendingVerifies are running for it; kBusy when the unit answers without digests;
  // the store's error when central's cannot be computed. Verifies of many units (and
  // several of one unit) may run at once; each gets its own answer.
  // REQUIRES: called on the I/O thread.
  void Verify(const std::string& unit, std::function<void(Result<protocol::VerifyReport>)> done);
  // Units with an established session now, sorted (what "verify all units" iterates).
  std::vector<std::string> ConnectedUnits() const;
  size_t handshakes() const { return handshakes_.pending(); }
  uint16_t port() const { return port_; }
  // The registry and TLS context were reloaded: ends, at once and logged, every session
  // whose certificate no longer verifies against the context (CRL, CA, expiry) or that
  // the registry no longer admits (revoked, no longer enrolled, not the enrolled
  // certificate). Returns how many. Not from inside a session's callback.
  size_t DropUnadmitted();

  // Admin controls. Pausing a unit closes its session and refuses it until resumed;
  // pausing central (no unit) does that for every unit. Not persisted.
  void Pause(const std::optional<std::string>& unit);
  void Resume(const std::optional<std::string>& unit);
  bool paused() const { return paused_all_; }
  bool paused(const std::string& unit) const { return paused_all_ || paused_units_.contains(unit); }
  const std::set<std::string>& paused_units() const { return paused_units_; }

  // What the daemon knows about each unit's link (units seen since start).
  const std::map<std::string, LinkStats>& links() const { return links_; }
  // Changesets in flight to the unit (0 without a session).
  size_t QueueDepth(const std::string& unit) const;
  // Per connected unit: the central log seq it needs nothing before (HubSession::
  // fan_settled_to), for an exact lag.
  std::map<std::string, int64_t> FanoutSettled() const;
  bool Connected(const std::string& unit) const;
  const ProcessCounters& counters() const { return counters_; }
  // Bytes over all sessions since start, live ones included.
  uint64_t BytesIn() const;
  uint64_t BytesOut() const;
  const pki::Registry& registry() const { return registry_; }

 private:
  struct Session;
  boost::asio::awaitable<void> AcceptLoop();
  boost::asio::awaitable<void> Admit(boost::asio::ip::tcp::socket socket);
  void Drop(const std::string& unit, Session* session);

  boost::asio::io_context& io_;
  const Config& config_;
  store::Replica& replica_;
  const pki::Registry& registry_;
  const KeyRing& keys_;
  boost::asio::ssl::context& tls_;
  StoreWorker& store_;
  Logger& log_;
  SystemSyncEnv env_;
  boost::asio::ip::tcp::acceptor acceptor_;
  uint16_t port_ = 0;
  HandshakeSlots handshakes_;
  std::map<std::string, std::unique_ptr<Session>> sessions_;
  std::map<std::string, LinkStats> links_;
  ProcessCounters counters_;
  bool stopping_ = false;
  bool paused_all_ = false;
  std::set<std::string> paused_units_;
  uint64_t last_verify_id_ = 0;
  StoreObserver* store_observer_ = nullptr;
};

}  // namespace unitsync::daemon
