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
    : stream_(std::move(socket), tls) {
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
    const size_t n = co_await stream_.async_read_some(
        asio::buffer(buf), asio::redirect_error(asio::use_awaitable, ec));
    if (done_ || closing_) co_return;
    if (n > 0) on_bytes_(protocol::ByteView(buf.data(), n));
    if (done_ || closing_) co_return;
    if (ec) {
      Finish(ec == asio::error::eof || ec == asio::ssl::error::stream_truncated ? "closed by peer"
                                                                                : ec.message());
      co_return;
    }
  }
}

void TlsConnection::Send(protocol::Bytes frame) {
  if (done_ || closing_) return;
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
  while (!out_.empty() && !done_) {
    protocol::Bytes frame = std::move(out_.front());
    out_.pop_front();
    queued_bytes_ -= frame.size();
    boost::system::error_code ec;
    co_await asio::async_write(stream_, asio::buffer(frame),
                               asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      writing_ = false;
      if (!done_ && !closing_) Finish("write failed: " + ec.message());
      co_return;
    }
  }
  writing_ = false;
  if (closing_ && !done_) {
    done_ = true;
    boost::system::error_code ec;
    // Bounded: the peer may not answer close_notify; the socket closes after either way.
    stream_.lowest_layer().shutdown(asio::ip::tcp::socket::shutdown_send, ec);
    stream_.lowest_layer().close(ec);
  }
}

void TlsConnection::Close() {
  if (done_ || closing_) return;
  // The callbacks stay (Close may be called from inside one); the flags silence them.
  closing_ = true;
  if (!writing_) {
    done_ = true;
    boost::system::error_code ec;
    stream_.lowest_layer().shutdown(asio::ip::tcp::socket::shutdown_send, ec);
    stream_.lowest_layer().close(ec);
  }
}

void TlsConnection::Abort() {
  if (done_) return;
  done_ = true;
  out_.clear();
  queued_bytes_ = 0;
  boost::system::error_code ec;
  stream_.lowest_layer().close(ec);
}

void TlsConnection::Finish(const std::string& reason) {
  if (done_) return;
  done_ = true;
  boost::system::error_code ec;
  stream_.lowest_layer().close(ec);
  if (on_closed_) on_closed_(reason);
}

}  // namespace unitsync::daemon
