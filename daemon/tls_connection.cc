#include "daemon/tls_connection.h"

#include <array>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

namespace unitsync::daemon {

namespace asio = boost::asio;

TlsConnection::TlsConnection(asio::ip::tcp::socket socket, asio::ssl::context& tls)
    : stream_(std::move(socket), tls), close_deadline_(stream_.get_executor()) {
  boost::system::error_code ec;
  auto ep = stream_.lowest_layer().remote_endpoint(ec);
  peer_ = ec ? std::string("?") : ep.address().to_string() + ":" + std::to_string(ep.port());
}

void TlsConnection::Start(OnBytes on_bytes, OnClosed on_closed) {
  on_bytes_ = std::move(on_bytes);
  on_closed_ = std::move(on_closed);
  asio::co_spawn(
      stream_.get_executor(), [self = shared_from_this()]() { return self->ReadLoop(); },
      asio::detached);
}

asio::awaitable<void> TlsConnection::ReadLoop() {
  auto self = shared_from_this();
  std::array<uint8_t, 16 * 1024> buf;
  for (;;) {
    boost::system::error_code ec;
    // While a Close() is under way this read keeps going: it is the one that receives the
    // peer's close_notify (asio lets one read run at a time; the shutdown waits on it).
    const size_t n = co_await stream_.async_read_some(
        asio::buffer(buf), asio::redirect_error(asio::use_awaitable, ec));
    if (done_) co_return;
    if (n > 0) on_bytes_(protocol::ByteView(buf.data(), n));
    if (done_) co_return;
    if (ec) {
      Finish(ec == asio::error::eof || ec == asio::ssl::error::stream_truncated ? "closed by peer"
                                                                                : ec.message());
      co_return;
    }
  }
}

void TlsConnection::Send(protocol::Bytes frame) {
  if (done_) return;
  queued_bytes_ += frame.size();
  out_.push_back(std::move(frame));
  if (!writing_) {
    writing_ = true;
    asio::co_spawn(
        stream_.get_executor(), [self = shared_from_this()]() { return self->WriteLoop(); },
        asio::detached);
  }
}

asio::awaitable<void> TlsConnection::WriteLoop() {
  auto self = shared_from_this();
  while (!out_.empty() && !socket_closed_) {
    protocol::Bytes frame = std::move(out_.front());
    out_.pop_front();
    queued_bytes_ -= frame.size();
    boost::system::error_code ec;
    co_await asio::async_write(stream_, asio::buffer(frame),
                               asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      writing_ = false;
      if (done_) {
        CloseSocket();  // closing anyway; the peer cannot take the rest
      } else {
        Finish("write failed: " + ec.message());
      }
      co_return;
    }
  }
  writing_ = false;
  if (closing_ && !socket_closed_) co_await ShutdownTls();
}

asio::awaitable<void> TlsConnection::ShutdownTls() {
  auto self = shared_from_this();
  boost::system::error_code ec;
  // Sends close_notify, then waits for the peer's (or its EOF) until close_deadline_
  // closes the socket. Either way the socket is closed after.
  co_await stream_.async_shutdown(asio::redirect_error(asio::use_awaitable, ec));
  CloseSocket();
}

void TlsConnection::Close() {
  if (done_) return;
  // The callbacks stay (Close may be called from inside one); done_ silences them.
  done_ = true;
  closing_ = true;
  close_deadline_.expires_after(kCloseTimeout);
  close_deadline_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
    if (!ec) self->CloseSocket();
  });
  if (!writing_) {
    asio::co_spawn(
        stream_.get_executor(), [self = shared_from_this()]() { return self->ShutdownTls(); },
        asio::detached);
  }
}

void TlsConnection::Abort() {
  done_ = true;
  out_.clear();
  queued_bytes_ = 0;
  CloseSocket();
}

void TlsConnection::Finish(const std::string& reason) {
  if (done_) return;
  done_ = true;
  CloseSocket();
  if (on_closed_) on_closed_(reason);
}

void TlsConnection::CloseSocket() {
  if (socket_closed_) return;
  socket_closed_ = true;
  close_deadline_.cancel();
  boost::system::error_code ec;
  stream_.lowest_layer().close(ec);
}

}  // namespace unitsync::daemon
