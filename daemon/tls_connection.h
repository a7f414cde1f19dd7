// One TLS 1.3 connection as the sync core sees it: bytes in (a reader coroutine), frames
// out (a writer coroutine draining a queue), a graceful close after the queued frames,
// or an abort. The core owns every session deadline (handshake, read) through its
// timers; this class only moves bytes, and bounds its own graceful close.
//
// Closing:
//   Close()  drain the queue ─► TLS close_notify (async_shutdown) ─► close the socket,
//            all of it within kCloseTimeout (a peer that stopped reading, or never
//            answers close_notify, is cut off then).
//   Abort()  close the socket now; queued frames are lost; no close_notify.
//
// Lifetime: owned by a shared_ptr; the coroutines and the close deadline hold a
// reference while they run, so a connection being closed outlives its session.
// Callbacks run on the connection's executor (the daemon's I/O thread). After Close()
// or Abort() no callback runs any more; both may be called from inside a callback.
// Not thread-safe: use from the I/O thread.
#pragma once

// clang-format off
// Boost 1.74's awaitable.hpp uses std::exchange without including <utility>: first.
#include <utility>
// clang-format on
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
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

  // How long a graceful close may take, queue and close_notify included.
  static constexpr std::chrono::milliseconds kCloseTimeout{1000};

  // Takes a connected TCP socket; the TLS handshake is the caller's (through stream()).
  TlsConnection(boost::asio::ip::tcp::socket socket, boost::asio::ssl::context& tls);

  Stream& stream() { return stream_; }
  std::string peer() const { return peer_; }

  // Starts the reader; `on_bytes` gets every chunk read, `on_closed` the end.
  void Start(OnBytes on_bytes, OnClosed on_closed);
  // Queues one frame; written in order. Ignored once closing.
  void Send(protocol::Bytes frame);
  // Writes what is queued, sends close_notify, closes; bounded by kCloseTimeout.
  // No callbacks after this. Idempotent; a no-op after Abort().
  void Close();
  // Closes the socket now (also cutting short a Close() in progress); queued frames are
  // lost. No callbacks after this. Idempotent.
  void Abort();

  size_t queued_bytes() const { return queued_bytes_; }

 private:
  boost::asio::awaitable<void> ReadLoop();
  boost::asio::awaitable<void> WriteLoop();
  // close_notify, then the socket. REQUIRES: closing_, no write in progress.
  boost::asio::awaitable<void> ShutdownTls();
  void Finish(const std::string& reason);
  void CloseSocket();

  Stream stream_;
  std::string peer_;
  OnBytes on_bytes_;
  OnClosed on_closed_;
  std::deque<protocol::Bytes> out_;
  size_t queued_bytes_ = 0;
  boost::asio::steady_timer close_deadline_;
  bool writing_ = false;
  bool closing_ = false;        // Close() called: drain, close_notify, close
  bool done_ = false;           // no more callbacks (Close, Abort, or the transport ended)
  bool socket_closed_ = false;  // the socket is closed; nothing more goes out
};

}  // namespace unitsync::daemon
