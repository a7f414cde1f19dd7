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
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>

#include "daemon/config.h"
#include "daemon/core_driver.h"
#include "daemon/handshake_slots.h"
#include "daemon/key_ring.h"
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

 private:
  void Connect();
  boost::asio::awaitable<void> ConnectAttempt(uint64_t attempt);

  boost::asio::io_context& io_;
  const Config& config_;
  boost::asio::ssl::context& tls_;
  Logger& log_;
  SystemSyncEnv env_;
  UnitExecutor exec_;
  protocol::Uplink uplink_;
  CoreDriver driver_;
  uint64_t attempt_ = 0;
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
  // Central's own log grew (a local write, or an accepted push): fan out.
  void LogAdvanced(const std::string& except_unit = {});
  size_t sessions() const { return sessions_.size(); }
  size_t handshakes() const { return handshakes_.pending(); }
  uint16_t port() const { return port_; }
  // The registry and TLS context were reloaded: ends, at once and logged, every session
  // whose certificate no longer verifies against the context (CRL, CA, expiry) or that
  // the registry no longer admits (revoked, no longer enrolled, not the enrolled
  // certificate). Returns how many. Not from inside a session's callback.
  size_t DropUnadmitted();

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
  bool stopping_ = false;
};

}  // namespace unitsync::daemon
