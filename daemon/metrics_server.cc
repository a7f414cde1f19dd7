#include "daemon/metrics_server.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

namespace unitsync::daemon {

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {

std::string Response(const char* status, const char* content_type, const std::string& body) {
  return std::string("HTTP/1.1 ") + status + "\r\nContent-Type: " + content_type +
         "\r\nContent-Length: " + std::to_string(body.size()) +
         "\r\nConnection: close\r\nCache-Control: no-store\r\n\r\n" + body;
}

}  // namespace

MetricsServer::MetricsServer(asio::io_context& io, std::string address, uint16_t port, Logger& log,
                             Provider provider)
    : io_(io),
      address_(std::move(address)),
      port_(port),
      log_(log),
      provider_(std::move(provider)),
      acceptor_(io) {}

MetricsServer::~MetricsServer() {
  *alive_ = false;
  Stop();
}

Status MetricsServer::Start() {
  boost::system::error_code ec;
  const auto address = asio::ip::make_address(address_, ec);
  if (ec) return Fail(Errc::kInvalidArgument, "metrics.address: " + ec.message());
  const tcp::endpoint ep(address, port_);
  acceptor_.open(ep.protocol(), ec);
  if (!ec) acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor_.bind(ep, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return Fail(
        Errc::kIo,
        "cannot serve metrics on " + address_ + ":" + std::to_string(port_) + ": " + ec.message(),
        "choose a free [metrics] port, or leave [metrics] address empty");
  }
  port_ = acceptor_.local_endpoint().port();
  asio::co_spawn(io_, AcceptLoop(), asio::detached);
  log_.Info("metrics_listening", "address=" + address_ + " port=" + std::to_string(port_));
  return {};
}

void MetricsServer::Stop() {
  boost::system::error_code ec;
  acceptor_.close(ec);
}

asio::awaitable<void> MetricsServer::AcceptLoop() {
  std::weak_ptr<bool> alive = alive_;
  for (;;) {
    boost::system::error_code ec;
    tcp::socket socket =
        co_await acceptor_.async_accept(asio::redirect_error(asio::use_awaitable, ec));
    if (alive.expired() || !*alive.lock() || !acceptor_.is_open()) co_return;
    if (ec) continue;
    if (*clients_ >= kMaxClients) continue;  // closes it
    asio::co_spawn(io_, Serve(std::move(socket)), asio::detached);
  }
}

asio::awaitable<void> MetricsServer::Serve(tcp::socket socket) {
  struct Count {
    std::shared_ptr<size_t> n;
    ~Count() { --*n; }
  } count{clients_};
  ++*clients_;

  asio::steady_timer deadline(io_);
  deadline.expires_after(kTimeout);
  deadline.async_wait([&socket](const boost::system::error_code& e) {
    if (!e) {
      boost::system::error_code ignored;
      socket.close(ignored);
    }
  });
  std::string in;
  boost::system::error_code ec;
  co_await asio::async_read_until(socket, asio::dynamic_buffer(in, kMaxRequestBytes), "\r\n\r\n",
                                  asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return;  // too slow, too big, or gone: just close

  const std::string first = in.substr(0, in.find("\r\n"));
  std::string response;
  if (first.rfind("GET ", 0) != 0 && first.rfind("HEAD ", 0) != 0) {
    response = Response("405 Method Not Allowed", "text/plain", "only GET\n");
  } else if (first.find(" /metrics ") == std::string::npos &&
             first.find(" /metrics?") == std::string::npos) {
    response = Response("404 Not Found", "text/plain", "metrics are at /metrics\n");
  } else {
    // The provider answers on the I/O thread, later: wait for it with a timer.
    auto body = std::make_shared<std::optional<std::string>>();
    auto ready = std::make_shared<asio::steady_timer>(io_, asio::steady_timer::time_point::max());
    provider_([body, ready](std::string text) {
      *body = std::move(text);
      ready->cancel();
    });
    if (!body->has_value()) {
      co_await ready->async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
    if (!body->has_value()) co_return;
    response = Response("200 OK", "text/plain; version=0.0.4; charset=utf-8", **body);
    if (first.rfind("HEAD ", 0) == 0) response.resize(response.find("\r\n\r\n") + 4);
  }
  co_await asio::async_write(socket, asio::buffer(response),
                             asio::redirect_error(asio::use_awaitable, ec));
  deadline.cancel();
  socket.shutdown(tcp::socket::shutdown_both, ec);
}

}  // namespace unitsync::daemon
