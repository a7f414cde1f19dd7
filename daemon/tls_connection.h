// One TLS 1.3 connection as the sync core sees it: bytes in (a reader coroutine), frames
// out (a writer coroutine draining a queue), a graceful close after the queued frames,
// or an abort. The core owns every deadline (handshake, read) through its timers; this
// class only moves bytes.
//
// Lifetime: owned by a shared_ptr; the coroutines hold a reference while they run.
// Callbacks run on the connection's executor (the daemon's I/O thread). After Close()
// or Abort() no callback runs any more. Not thread-safe: use from the I/O thread.
#pragma once

// clang-format off
// Boost 1.74's awaitable.hpp uses std::exchange without including <utility>: first.
#include <utility>
// clang-format on
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <deque>
#include <functional>
#include <memory>
#include <string>

#include "protocol/bytes.h"

namespace unitsync::daemon {

class TlsConnection : public std::enable_shared_from_this<TlsConnection> {
 public:
  using Stream = boost::asio::ssl::stream<boost::asio::ip::tcp::socket>;
  using OnBytes = std::function<void(protocol::ByteView)>;
  // The transport went away by itself (EOF, reset, TLS alert); not called after Close().
  using OnClosed = std::function<void(const std::string& reason)>;

  // Takes a connected TCP socket; the TLS handshake is the caller's (through stream()).
  TlsConnection(boost::asio::ip::tcp::socket socket, boost::asio::ssl::context& tls);

  Stream& stream() { return stream_; }
  std::string peer() const { return peer_; }

  // Starts the reader; `on_bytes` gets every chunk read, `on_closed` the end.
  void Start(OnBytes on_bytes, OnClosed on_closed);
  // Queues one frame; written in order.
  void Send(protocol::Bytes frame);
  // Writes what is queued, then shuts TLS down and closes. No callbacks after this.
  void Close();
  // Closes now; queued frames are lost. No callbacks after this.
  void Abort();

  size_t queued_bytes() const { return queued_bytes_; }

 private:
  boost::asio::awaitable<void> ReadLoop();
  boost::asio::awaitable<void> WriteLoop();
  void Finish(const std::string& reason);

  Stream stream_;
  std::string peer_;
  OnBytes on_bytes_;
  OnClosed on_closed_;
  std::deque<protocol::Bytes> out_;
  size_t queued_bytes_ = 0;
  bool writing_ = false;
  bool closing_ = false;  // Close() called: finish writing, then shut down
  bool done_ = false;     // no more callbacks
};

}  // namespace unitsync::daemon
