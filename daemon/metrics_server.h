// Prometheus scrape endpoint: GET /metrics over plain HTTP/1.1 on a configured local
// address ([metrics] address/port; off when the address is empty). One request per
// connection, small requests only, a deadline on each, a few connections at most: a
// scraper is the only expected client, and nothing here can stall sync.
#pragma once

// clang-format off
#include <utility>  // before Boost 1.74's awaitable.hpp, which needs std::exchange
// clang-format on
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <functional>
#include <memory>
#include <string>

#include "common/error.h"
#include "daemon/log.h"

namespace unitsync::daemon {

class MetricsServer {
 public:
  static constexpr size_t kMaxClients = 8;
  static constexpr size_t kMaxRequestBytes = 8192;
  static constexpr std::chrono::seconds kTimeout{10};

  // Renders the exposition text and hands it to the callback (on the I/O thread).
  using Provider = std::function<void(std::function<void(std::string)>)>;

  MetricsServer(boost::asio::io_context& io, std::string address, uint16_t port, Logger& log,
                Provider provider);
  ~MetricsServer();

  Status Start();
  void Stop();
  uint16_t port() const { return port_; }

 private:
  boost::asio::awaitable<void> AcceptLoop();
  boost::asio::awaitable<void> Serve(boost::asio::ip::tcp::socket socket);

  boost::asio::io_context& io_;
  std::string address_;
  uint16_t port_;
  Logger& log_;
  Provider provider_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::shared_ptr<size_t> clients_ = std::make_shared<size_t>(0);
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace unitsync::daemon
