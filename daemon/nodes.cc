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
                  [this] { AfterPump(); },
                  [this](const protocol::LogLine& line) {
                    ++session_errors_;
                    link_.Problem(line);
                  },
                  [this](protocol::VerifyDone d) { VerifyDone(std::move(d)); },
              }) {
  seen_acked_ = uplink_.state().acked_seq;
  seen_pull_ = uplink_.state().pull_seq;
}

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

void UnitNode::Pause() {
  if (paused_) return;
  paused_ = true;
  log_.Info("paused", "by=admin");
  uplink_.Stop("paused by the unit's admin");
  driver_.Pump();
}

void UnitNode::Resume() {
  if (!paused_) return;
  paused_ = false;
  log_.Info("resumed", "by=admin");
  uplink_.Resume();
  driver_.Pump();
}

void UnitNode::SyncNow() {
  uplink_.ConnectNow();
  uplink_.OnLocalChange();
  driver_.Pump();
}

std::string UnitNode::LinkState() const {
  using Phase = protocol::Uplink::Phase;
  switch (uplink_.phase()) {
    case Phase::kSyncing:
      return "connected";
    case Phase::kConnecting:
    case Phase::kAwaitWelcome:
      return "connecting";
    case Phase::kBackoff:
      return "waiting to reconnect";
    case Phase::kStopped:
      return paused_ ? "paused" : "stopped";
    case Phase::kIdle:
      break;
  }
  return "starting";
}

void UnitNode::AfterPump() {
  link_.SetConnected(uplink_.phase() == protocol::Uplink::Phase::kSyncing);
  const auto& st = uplink_.state();
  if (st.acked_seq != seen_acked_ || st.pull_seq != seen_pull_) {
    seen_acked_ = st.acked_seq;
    seen_pull_ = st.pull_seq;
    link_.last_sync_ms = WallNowMs();
  }
  link_.bytes_out = driver_.bytes_sent();
}

void UnitNode::Verify(std::function<void(Result<protocol::VerifyReport>)> done) {
  const uint64_t id = ++last_verify_id_;
  if (!uplink_.StartVerify(id)) {
    const bool connected = uplink_.phase() == protocol::Uplink::Phase::kSyncing;
    Error e =
        connected
            ? Error{Errc::kRejected,
                    std::to_string(protocol::kMaxPendingVerifies) + " verifies are already running",
                    "wait for them to finish"}
            : Error{Errc::kUnavailable, "not connected to central (" + LinkState() + ")",
                    "check unitsyncd's log for why (connect, TLS, central's "
                    "answer); verify once the unit is connected"};
    asio::post(io_, [done = std::move(done), e = std::move(e)] { done(tl::unexpected(e)); });
    return;
  }
  verifies_[id] = std::move(done);
  driver_.Pump();
}

void UnitNode::VerifyDone(protocol::VerifyDone d) {
  auto it = verifies_.find(d.id);
  if (it == verifies_.end()) return;
  auto done = std::move(it->second);
  verifies_.erase(it);
  done(std::move(d.result));
}

void UnitNode::Connect() { asio::co_spawn(io_, ConnectAttempt(++attempt_), asio::detached); }

asio::awaitable<void> UnitNode::ConnectAttempt(uint64_t attempt) {
  auto fail = [&](const std::string& reason) {
    if (attempt != attempt_ || uplink_.phase() != protocol::Uplink::Phase::kConnecting) return;
    link_.Problem(reason);
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
  link_.peer = conn->peer();
  std::weak_ptr<TlsConnection> weak = conn;
  conn->Start(
      [this](protocol::ByteView bytes) {
        link_.bytes_in += bytes.size();
        link_.last_contact_ms = WallNowMs();
        uplink_.OnBytes(bytes);
        driver_.Pump();
      },
      [this, weak](const std::string& reason) {
        if (driver_.connection() != weak.lock()) return;
        driver_.SetConnection(nullptr);
        link_.Problem("disconnected: " + reason);
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
        link(node.links_[unit_id]),
        hub(node.config_.node_id, unit_id, node.config_.sync, node.env_),
        exec(std::make_shared<CentralExecutor>(
            node.replica_, unit_id, node.keys_,
            ExecutorOptions{node.config_.sync.max_frame, node.config_.max_rows_per_changeset,
                            node.store_observer_, node.config_.max_rows_per_snapshot_chunk,
                            node.config_.log_retention_s * 1000})),
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
                   [this] { AfterPump(); },
                   [&node, this](const protocol::LogLine& line) {
                     ++node.counters_.session_errors;
                     link.Problem(line);
                   },
                   [this](protocol::VerifyDone d) {
                     auto it = verifies.find(d.id);
                     if (it == verifies.end()) return;
                     auto done = std::move(it->second);
                     verifies.erase(it);
                     done(std::move(d.result));
                   },
               }),
        io(node.io_) {}

  // A session dropped or replaced without telling its core still answers every verify.
  ~Session() {
    for (auto& [id, done] : verifies) {
      asio::post(io, [done = std::move(done), unit = unit] {
        done(Fail(Errc::kUnavailable,
                  "the session with " + unit + " ended before the verify completed"));
      });
    }
  }

  void AfterPump() {
    link.SetConnected(hub.phase() == protocol::HubSession::Phase::kSyncing);
    if (hub.applied_seq() != seen_applied || hub.fan_acked() != seen_fan_acked) {
      seen_applied = hub.applied_seq();
      seen_fan_acked = hub.fan_acked();
      link.last_sync_ms = WallNowMs();
    }
    link.bytes_out = bytes_out_base + driver.bytes_sent();
  }

  std::string unit;
  LinkStats& link;                           // in CentralNode::links_, outlives the session
  uint64_t bytes_out_base = link.bytes_out;  // earlier sessions of this unit
  uint64_t seen_applied = 0;
  uint64_t seen_fan_acked = 0;
  protocol::HubSession hub;
  std::shared_ptr<CentralExecutor> exec;
  CoreDriver driver;
  asio::io_context& io;
  std::map<uint64_t, std::function<void(Result<protocol::VerifyReport>)>> verifies;
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
    ++counters_.refused_limit;
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
    ++counters_.refused_limit;
    log_.Warn("handshake_evicted", "peer=" + peer +
                                       " pending=" + std::to_string(handshakes_.pending()) +
                                       " reason=\"listen.max_handshakes reached\"");
    co_return;
  }
  if (ec) {
    ++counters_.refused_tls;
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
    ++counters_.refused_unit;
    log_.Warn("unit_refused", "peer=" + peer + " reason=\"" + unit.error().message + "\"");
    conn->Abort();
    co_return;
  }
  if (stopping_) {
    conn->Abort();
    co_return;
  }
  if (paused(*unit)) {
    ++counters_.refused_paused;
    log_.Info("session_refused", "unit=" + *unit + " reason=\"paused by central's admin\"");
    conn->Close();
    co_return;
  }
  auto old = sessions_.find(*unit);
  // A unit replacing its own (probably dead) session does not need a free slot.
  if (old == sessions_.end() && sessions_.size() >= config_.max_sessions) {
    ++counters_.refused_limit;
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
  ++counters_.sessions_admitted;
  s->driver.SetConnection(conn);
  s->link.peer = peer;
  s->link.last_contact_ms = WallNowMs();
  const std::string id = *unit;
  conn->Start(
      [this, s, id](protocol::ByteView bytes) {
        s->link.bytes_in += bytes.size();
        s->link.last_contact_ms = WallNowMs();
        s->hub.OnBytes(bytes);
        s->driver.Pump();
        if (s->hub.phase() == protocol::HubSession::Phase::kClosed) Drop(id, s);
      },
      [this, s, id](const std::string& reason) {
        s->driver.SetConnection(nullptr);
        s->link.Problem("disconnected: " + reason);
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
    it->second->link.SetConnected(false);
    sessions_.erase(it);
  });
}

void CentralNode::Pause(const std::optional<std::string>& unit) {
  if (unit) {
    paused_units_.insert(*unit);
  } else {
    paused_all_ = true;
  }
  log_.Info("paused", "by=admin unit=" + unit.value_or("*"));
  for (auto& [id, s] : sessions_) {
    if (unit && id != *unit) continue;
    s->hub.Stop("paused by central's admin");
    s->driver.Pump();
  }
}

void CentralNode::Resume(const std::optional<std::string>& unit) {
  if (unit) {
    paused_units_.erase(*unit);
  } else {
    paused_all_ = false;
    paused_units_.clear();
  }
  log_.Info("resumed", "by=admin unit=" + unit.value_or("*"));
}

size_t CentralNode::QueueDepth(const std::string& unit) const {
  auto it = sessions_.find(unit);
  return it == sessions_.end() ? 0 : it->second->hub.changes_in_flight();
}

std::map<std::string, int64_t> CentralNode::FanoutSettled() const {
  std::map<std::string, int64_t> out;
  for (const auto& [id, s] : sessions_) {
    if (s->hub.phase() != protocol::HubSession::Phase::kSyncing) continue;
    if (const uint64_t to = s->hub.fan_settled_to(); to > 0) out[id] = static_cast<int64_t>(to);
  }
  return out;
}

bool CentralNode::Connected(const std::string& unit) const {
  auto it = sessions_.find(unit);
  return it != sessions_.end() && it->second->hub.phase() == protocol::HubSession::Phase::kSyncing;
}

uint64_t CentralNode::BytesIn() const {
  uint64_t n = 0;
  for (const auto& [id, l] : links_) n += l.bytes_in;
  return n;
}

uint64_t CentralNode::BytesOut() const {
  uint64_t n = 0;
  for (const auto& [id, l] : links_) n += l.bytes_out;
  return n;
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
    it->second->link.SetConnected(false);
    it->second->link.Problem("session dropped after a reload: " + why);
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
  if (except_unit.empty()) return;
  // The pushing unit's own fan-out steps over its pushes too (they are not sent back), so
  // its settled position and lag stay exact; later, not from inside its own session.
  asio::post(io_, [this, unit = except_unit] {
    auto it = sessions_.find(unit);
    if (it == sessions_.end()) return;
    it->second->hub.OnLogAdvanced();
    it->second->driver.Pump();
  });
}

void CentralNode::Verify(const std::string& unit,
                         std::function<void(Result<protocol::VerifyReport>)> done) {
  auto it = sessions_.find(unit);
  if (it == sessions_.end() || it->second->hub.phase() != protocol::HubSession::Phase::kSyncing) {
    const bool is_paused = paused(unit);
    asio::post(io_, [done = std::move(done), unit, is_paused] {
      done(Fail(Errc::kUnavailable, "unit not connected",
                is_paused ? unit + " is paused at central; resume it, then verify"
                          : unit + " has no sync session with central now; verify once it is "
                                   "connected"));
    });
    return;
  }
  Session& s = *it->second;
  const uint64_t id = ++last_verify_id_;
  if (!s.hub.StartVerify(id)) {
    asio::post(io_, [done = std::move(done), unit] {
      done(Fail(Errc::kRejected,
                std::to_string(protocol::kMaxPendingVerifies) + " verifies of " + unit +
                    " are already running",
                "wait for them to finish"));
    });
    return;
  }
  s.verifies[id] = std::move(done);
  s.driver.Pump();
}

std::vector<std::string> CentralNode::ConnectedUnits() const {
  std::vector<std::string> out;
  for (const auto& [unit, s] : sessions_) {
    if (s->hub.phase() == protocol::HubSession::Phase::kSyncing) out.push_back(unit);
  }
  return out;
}

}  // namespace unitsync::daemon
