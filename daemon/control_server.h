// The control socket: unitsyncctl's way into a running daemon (protocol in
// control/wire.h). A Unix stream socket, mode 0660 and group `unitsync` (when that group
// exists), so access is decided by the file system; every mutating command is logged with
// the caller's uid. One request per connection, answered by the handler; at most
// kMaxClients connections at once, each with a deadline.
//
// Start refuses to take over a socket another live daemon answers on, removes a stale
// one, and refuses to remove anything that is not a socket. Runs on the I/O thread.
#pragma once

// clang-format off
#include <utility>  // before Boost 1.74's awaitable.hpp, which needs std::exchange
// clang-format on
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>

#include "common/error.h"
#include "control/wire.h"
#include "daemon/log.h"

namespace unitsync::daemon {

class ControlServer {
 public:
  static constexpr size_t kMaxClients = 16;
  // A request must arrive within this; an answer must make progress within kAnswerTimeout.
  static constexpr std::chrono::seconds kRequestTimeout{10};
  static constexpr std::chrono::seconds kAnswerTimeout{120};

  // The handler's way to answer: progress lines (any number), then exactly one Done.
  class Responder {
   public:
    virtual ~Responder() = default;
    virtual void Progress(const nlohmann::json& progress) = 0;
    virtual void Done(Result<nlohmann::json> result) = 0;
  };
  // Called on the I/O thread; `uid` is the caller's user id. The responder stays valid
  // until Done (and may outlive the connection: then answers go nowhere).
  using Handler = std::function<void(const control::Request& request, uint32_t uid,
                                     std::shared_ptr<Responder> responder)>;

  ControlServer(boost::asio::io_context& io, std::string path, Logger& log, Handler handler);
  ~ControlServer();

  Status Start();
  // Stops accepting and removes the socket file; answers in progress are abandoned.
  void Stop();

 private:
  boost::asio::awaitable<void> AcceptLoop();
  boost::asio::awaitable<void> Serve(boost::asio::local::stream_protocol::socket socket);

  boost::asio::io_context& io_;
  std::string path_;
  Logger& log_;
  Handler handler_;
  boost::asio::local::stream_protocol::acceptor acceptor_;
  std::shared_ptr<size_t> clients_ = std::make_shared<size_t>(0);
  bool started_ = false;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace unitsync::daemon
