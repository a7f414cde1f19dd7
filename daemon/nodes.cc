#include "daemon/nodes.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>

#include "daemon/tls_context.h"

namespace unitsync::daemon {

namespace asio = boost::asio;
using asio::ip::tcp;

int64_t SystemSyncEnv::MonotonicMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// ---- unit ----

UnitNode::UnitNode(asio::io_context& io, const Config& config, store::Replica& replica,
                   const KeyRing& keys, asio::ssl::context& tls, StoreWorker& store, Logger& log,
                   protocol::UplinkState state)
    : io_(io),
      config_(config),
      tls_(tls),
      log_(log),
      exec_(replica, config.central_node, keys,
            ExecutorOptions{config.sync.max_frame, config.max_rows_per_changeset}),
      uplink_(config.node_id, std::move(state), config.sync, env_),
      driver_(io, store, log, "",
              CoreDriver::Hooks{
                  [this] { return uplink_.TakeActions(); },
                  [this](protocol::TimerId id) { uplink_.OnTimer(id); },
                  [this](protocol::StoreResult r) { uplink_.OnStoreResult(std::move(r)); },
                  [this](const protocol::StoreWork& w) { return exec_.Run(w); },
                  [this] { Connect(); },
                  {},
              }) {}

void UnitNode::Start() {
  uplink_.Start();
  driver_.Pump();
}

void UnitNode::Stop() {
  uplink_.Stop();
  driver_.Pump();
}

void UnitNode::LocalChange() {
  uplink_.OnLocalChange();
  driver_.Pump();
}

void UnitNode::Connect() { asio::co_spawn(io_, ConnectAttempt(++attempt_), asio::detached); }

asio::awaitable<void> UnitNode::ConnectAttempt(uint64_t attempt) {
  auto fail = [&](const std::string& reason) {
    if (attempt != attempt_ || uplink_.phase() != protocol::Uplink::Phase::kConnecting) return;
    uplink_.OnDisconnected(reason);
    driver_.Pump();
  };
  boost::system::error_code ec;
  tcp::resolver resolver(io_);
  auto endpoints =
      co_await resolver.async_resolve(config_.central_host, std::to_string(config_.central_port),
                                      asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return fail("cannot resolve " + config_.central_host + ": " + ec.message());
  tcp::socket socket(io_);
  // The core's handshake timer covers the whole attempt; this one makes sure a stuck
  // connect or TLS handshake is abandoned with it.
  asio::steady_timer deadline(io_);
  deadline.expires_after(std::chrono::milliseconds(config_.sync.handshake_timeout_ms));
  deadline.async_wait([&socket](const boost::system::error_code& e) {
    if (!e) socket.close();
  });
  co_await asio::async_connect(socket, endpoints, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) {
    deadline.cancel();
    co_return fail("cannot connect to " + config_.central_host + ":" +
                   std::to_string(config_.central_port) + ": " + ec.message());
  }
  auto conn = std::make_shared<TlsConnection>(std::move(socket), tls_);
  deadline.async_wait([conn](const boost::system::error_code& e) {
    if (!e) conn->Abort();
  });
  co_await conn->stream().async_handshake(asio::ssl::stream_base::client,
                                          asio::redirect_error(asio::use_awaitable, ec));
  deadline.cancel();
  if (ec) co_return fail("TLS handshake with central failed: " + ec.message());
  auto peer = PeerNodeId(conn->stream().native_handle());
  if (!peer || *peer != config_.central_node) {
    conn->Abort();
    co_return fail(peer ? "central's certificate names " + *peer + ", expected " +
                              config_.central_node
                        : peer.error().message);
  }
  if (attempt != attempt_ || uplink_.phase() != protocol::Uplink::Phase::kConnecting) {
    conn->Abort();  // the core gave up on this attempt meanwhile
    co_return;
  }
  driver_.SetConnection(conn);
  std::weak_ptr<TlsConnection> weak = conn;
  conn->Start(
      [this](protocol::ByteView bytes) {
        uplink_.OnBytes(bytes);
        driver_.Pump();
      },
      [this, weak](const std::string& reason) {
        if (driver_.connection() != weak.lock()) return;
        driver_.SetConnection(nullptr);
        uplink_.OnDisconnected(reason);
        driver_.Pump();
      });
  uplink_.OnConnected();
  driver_.Pump();
}

// ---- central ----

struct CentralNode::Session {
  Session(CentralNode& node, const std::string& unit_id)
      : unit(unit_id),
        hub(node.config_.node_id, unit_id, node.config_.sync, node.env_),
        exec(std::make_shared<CentralExecutor>(
            node.replica_, unit_id, node.keys_,
            ExecutorOptions{node.config_.sync.max_frame, node.config_.max_rows_per_changeset})),
        driver(node.io_, node.store_, node.log_, "",
               CoreDriver::Hooks{
                   [this] { return hub.TakeActions(); },
                   [this](protocol::TimerId id) { hub.OnTimer(id); },
                   [this](protocol::StoreResult r) { hub.OnStoreResult(std::move(r)); },
                   // Store work may still be queued when the session is gone: the
                   // executor lives as long as the last task that uses it.
                   [exec = exec](const protocol::StoreWork& w) { return exec->Run(w); },
                   {},
                   [&node, this] { node.LogAdvanced(unit); },
               }) {}

  std::string unit;
  protocol::HubSession hub;
  std::shared_ptr<CentralExecutor> exec;
  CoreDriver driver;
};

CentralNode::CentralNode(asio::io_context& io, const Config& config, store::Replica& replica,
                         const pki::Registry& registry, const KeyRing& keys,
                         asio::ssl::context& tls, StoreWorker& store, Logger& log)
    : io_(io),
      config_(config),
      replica_(replica),
      registry_(registry),
      keys_(keys),
      tls_(tls),
      store_(store),
      log_(log),
      acceptor_(io),
      handshakes_(config.max_handshakes, config.max_handshakes_per_address) {}

CentralNode::~CentralNode() = default;

Status CentralNode::Start() {
  boost::system::error_code ec;
  const auto address = asio::ip::make_address(config_.listen_address, ec);
  if (ec) return Fail(Errc::kInvalidArgument, "listen.address: " + ec.message());
  const tcp::endpoint ep(address, config_.listen_port);
  acceptor_.open(ep.protocol(), ec);
  if (!ec) acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor_.bind(ep, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return Fail(Errc::kIo, "cannot listen on " + config_.listen_address + ":" +
                               std::to_string(config_.listen_port) + ": " + ec.message());
  }
  port_ = acceptor_.local_endpoint().port();
  asio::co_spawn(io_, AcceptLoop(), asio::detached);
  log_.Info("listening", "address=" + config_.listen_address + " port=" + std::to_string(port_));
  return {};
}

void CentralNode::Stop() {
  stopping_ = true;
  boost::system::error_code ec;
  acceptor_.close(ec);
  for (auto& [unit, s] : sessions_) {
    s->hub.Stop();
    s->driver.Pump();
  }
}

asio::awaitable<void> CentralNode::AcceptLoop() {
  for (;;) {
    boost::system::error_code ec;
    tcp::socket socket =
        co_await acceptor_.async_accept(asio::redirect_error(asio::use_awaitable, ec));
    if (stopping_) co_return;
    if (ec) {
      log_.Warn("accept_failed", "error=\"" + ec.message() + "\"");
      // Out of descriptors (EMFILE) and the like repeat at once: pause instead of spinning.
      asio::steady_timer pause(io_, std::chrono::milliseconds(100));
      co_await pause.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      continue;
    }
    asio::co_spawn(io_, Admit(std::move(socket)), asio::detached);
  }
}

asio::awaitable<void> CentralNode::Admit(tcp::socket socket) {
  // Half-open handshakes do not count against max_sessions (stallers would lock the
  // units out); they have their own slots, per address and overall (handshake_slots.h).
  boost::system::error_code ec;
  const auto remote = socket.remote_endpoint(ec);
  if (ec) co_return;  // gone already
  auto conn = std::make_shared<TlsConnection>(std::move(socket), tls_);
  const std::string peer = conn->peer();
  const std::string source = HandshakeSlots::SourceOf(remote.address());
  std::optional<HandshakeSlots::Slot> slot = handshakes_.Take(conn, source);
  if (!slot) {
    log_.Warn("handshake_refused", "peer=" + peer + " source=" + source +
                                       " reason=\"listen.max_handshakes_per_address reached\"");
    conn->Abort();
    co_return;
  }
  asio::steady_timer deadline(io_);
  deadline.expires_after(std::chrono::milliseconds(config_.sync.handshake_timeout_ms));
  auto timed_out = std::make_shared<bool>(false);
  deadline.async_wait([conn, timed_out](const boost::system::error_code& e) {
    if (e) return;
    *timed_out = true;
    conn->Abort();
  });
  co_await conn->stream().async_handshake(asio::ssl::stream_base::server,
                                          asio::redirect_error(asio::use_awaitable, ec));
  deadline.cancel();
  if (slot->evicted()) {
    log_.Warn("handshake_evicted", "peer=" + peer +
                                       " pending=" + std::to_string(handshakes_.pending()) +
                                       " reason=\"listen.max_handshakes reached\"");
    co_return;
  }
  if (ec) {
    log_.Warn("tls_refused",
              "peer=" + peer + " " +
                  (*timed_out ? std::string("reason=\"handshake timeout\"")
                              : HandshakeRefusal(conn->stream().native_handle(), ec)));
    conn->Abort();
    co_return;
  }
  slot->Release();
  // The chain and the CRL were checked in the handshake; the registration decides the
  // rest: an enrolled, unrevoked unit presenting exactly its enrolled certificate.
  auto unit =
      pki::AuthenticateUnit(registry_, SSL_get0_peer_certificate(conn->stream().native_handle()));
  if (!unit) {
    log_.Warn("unit_refused", "peer=" + peer + " reason=\"" + unit.error().message + "\"");
    conn->Abort();
    co_return;
  }
  if (stopping_) {
    conn->Abort();
    co_return;
  }
  auto old = sessions_.find(*unit);
  // A unit replacing its own (probably dead) session does not need a free slot.
  if (old == sessions_.end() && sessions_.size() >= config_.max_sessions) {
    log_.Warn("session_refused", "unit=" + *unit + " peer=" + peer +
                                     " sessions=" + std::to_string(sessions_.size()) +
                                     " reason=\"listen.max_sessions reached\"");
    conn->Close();
    co_return;
  }
  if (old != sessions_.end()) {
    log_.Info("session_replaced", "unit=" + *unit);
    old->second->driver.Close();  // close_notify to the old connection, bounded
    sessions_.erase(old);
  }
  auto owned = std::make_unique<Session>(*this, *unit);
  Session* s = owned.get();
  sessions_[*unit] = std::move(owned);
  s->driver.SetConnection(conn);
  const std::string id = *unit;
  conn->Start(
      [this, s, id](protocol::ByteView bytes) {
        s->hub.OnBytes(bytes);
        s->driver.Pump();
        if (s->hub.phase() == protocol::HubSession::Phase::kClosed) Drop(id, s);
      },
      [this, s, id](const std::string& reason) {
        s->driver.SetConnection(nullptr);
        s->hub.OnDisconnected(reason);
        s->driver.Pump();
        Drop(id, s);
      });
  s->hub.OnConnected();
  s->driver.Pump();
  log_.Info("unit_admitted", "unit=" + id + " peer=" + peer);
}

void CentralNode::Drop(const std::string& unit, Session* session) {
  // Not from inside the session's own callback: after it returns.
  asio::post(io_, [this, unit, session] {
    auto it = sessions_.find(unit);
    if (it == sessions_.end() || it->second.get() != session) return;
    it->second->driver.Shutdown();
    sessions_.erase(it);
  });
}

size_t CentralNode::DropUnadmitted() {
  size_t dropped = 0;
  for (auto it = sessions_.begin(); it != sessions_.end();) {
    const auto& conn = it->second->driver.connection();
    if (!conn) {  // already closing; it goes by itself
      ++it;
      continue;
    }
    SSL* ssl = conn->stream().native_handle();
    // The new CRL and trust anchor, then the registration (as at admission).
    std::string why;
    if (auto st = VerifyClientAgain(tls_, ssl); !st) {
      why = "certificate no longer verifies: " + st.error().message;
    } else if (auto unit = pki::AuthenticateUnit(registry_, SSL_get0_peer_certificate(ssl));
               !unit) {
      why = unit.error().message;
    } else if (*unit != it->first) {
      why = "certificate names " + *unit;
    } else {
      ++it;
      continue;
    }
    log_.Warn("session_dropped",
              "unit=" + it->first + " peer=" + conn->peer() + " reason=\"" + why + "\"");
    it->second->driver.Shutdown();  // at once: no more frames to a unit we no longer admit
    it = sessions_.erase(it);
    ++dropped;
  }
  return dropped;
}

void CentralNode::LogAdvanced(const std::string& except_unit) {
  for (auto& [unit, s] : sessions_) {
    if (unit == except_unit) continue;
    s->hub.OnLogAdvanced();
    s->driver.Pump();
  }
}

}  // namespace unitsync::daemon
