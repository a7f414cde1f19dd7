// A bare TLS 1.3 client for tests that must behave unlike unitsyncd: complete the
// handshake with a unit's bundle and then say nothing, or watch exactly how central ends
// the connection (close_notify or a bare TCP close). Blocking OpenSSL on a plain socket.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <ostream>
#include <string>

namespace unitsync::testing {

// A TCP connection to 127.0.0.1:port, from `source` (another loopback address, e.g.
// 127.0.0.2, to look like another host) when given; -1 when it fails.
inline int ConnectLoopback(uint16_t port, const char* source = nullptr) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  if (source != nullptr) {
    sockaddr_in from{};
    from.sin_family = AF_INET;
    if (::inet_pton(AF_INET, source, &from.sin_addr) != 1 ||
        ::bind(fd, reinterpret_cast<sockaddr*>(&from), sizeof from) != 0) {
      ::close(fd);
      return -1;
    }
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  // Every blocking call on it (a TLS handshake, a read of the rest of a record, a write
  // to a peer that stopped reading) ends within 30 s: a test fails, it does not hang.
  const timeval bound{30, 0};
  if (::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &bound, sizeof bound) != 0 ||
      ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &bound, sizeof bound) != 0 ||
      ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// True when the peer has closed `fd` (EOF or reset) within `limit`; data is discarded.
inline bool PeerClosed(int fd, std::chrono::milliseconds limit) {
  const auto until = std::chrono::steady_clock::now() + limit;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        until - std::chrono::steady_clock::now());
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(std::max<int64_t>(0, left.count()))) <= 0) return false;
    char buf[4096];
    const ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) return true;
  }
}

class TlsTestClient {
 public:
  enum class End {
    kCloseNotify,  // TLS close_notify, then EOF: a graceful close
    kBareClose,    // EOF or reset without close_notify
    kStillOpen,    // nothing ended within the limit
  };

  TlsTestClient() = default;
  ~TlsTestClient() {
    ssl_.reset();
    if (fd_ >= 0) ::close(fd_);
  }
  TlsTestClient(const TlsTestClient&) = delete;
  TlsTestClient& operator=(const TlsTestClient&) = delete;

  // Connects and completes a TLS 1.3 handshake presenting `bundle`'s certificate and
  // trusting its ca.pem. False (and `error()`) when any step fails.
  bool Connect(uint16_t port, const std::string& bundle) {
    ctx_.reset(SSL_CTX_new(TLS_client_method()));
    SSL_CTX* c = ctx_.get();
    if (c == nullptr || SSL_CTX_set_min_proto_version(c, TLS1_3_VERSION) != 1 ||
        SSL_CTX_use_certificate_chain_file(c, (bundle + "/cert.pem").c_str()) != 1 ||
        SSL_CTX_use_PrivateKey_file(c, (bundle + "/key.pem").c_str(), SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_load_verify_locations(c, (bundle + "/ca.pem").c_str(), nullptr) != 1) {
      return Failed("client context");
    }
    SSL_CTX_set_verify(c, SSL_VERIFY_PEER, nullptr);
    fd_ = ConnectLoopback(port);
    if (fd_ < 0) return Failed("connect");
    ssl_.reset(SSL_new(c));
    if (!ssl_ || SSL_set_fd(ssl_.get(), fd_) != 1) return Failed("SSL_new");
    if (SSL_connect(ssl_.get()) != 1) return Failed("handshake");
    // TLS 1.3: the server's verdict on our certificate arrives after the handshake; a
    // refusal shows on the first read.
    return true;
  }

  // Waits up to `limit` for the server to end the connection; what it sent before is
  // kept in received().
  End WaitForEnd(std::chrono::milliseconds limit) {
    const auto until = std::chrono::steady_clock::now() + limit;
    for (;;) {
      if (SSL_pending(ssl_.get()) == 0) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            until - std::chrono::steady_clock::now());
        pollfd p{fd_, POLLIN, 0};
        if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) <= 0) {
          return End::kStillOpen;
        }
      }
      char buf[4096];
      const int n = SSL_read(ssl_.get(), buf, sizeof buf);
      if (n > 0) {
        received_.append(buf, static_cast<size_t>(n));
        continue;
      }
      const int err = SSL_get_error(ssl_.get(), n);
      ERR_clear_error();
      if (err == SSL_ERROR_WANT_READ) continue;
      return err == SSL_ERROR_ZERO_RETURN ? End::kCloseNotify : End::kBareClose;
    }
  }

  const std::string& received() const { return received_; }
  const std::string& error() const { return error_; }

 private:
  bool Failed(const std::string& what) {
    char buf[256] = "";
    ERR_error_string_n(ERR_get_error(), buf, sizeof buf);
    ERR_clear_error();
    error_ = what + ": " + buf;
    return false;
  }

  struct CtxFree {
    void operator()(SSL_CTX* c) const { SSL_CTX_free(c); }
  };
  struct SslFree {
    void operator()(SSL* s) const { SSL_free(s); }
  };
  std::unique_ptr<SSL_CTX, CtxFree> ctx_;
  std::unique_ptr<SSL, SslFree> ssl_;
  int fd_ = -1;
  std::string received_;
  std::string error_;
};

// gtest prints an End by name.
inline void PrintTo(TlsTestClient::End e, std::ostream* os) {
  switch (e) {
    case TlsTestClient::End::kCloseNotify:
      *os << "close_notify";
      return;
    case TlsTestClient::End::kBareClose:
      *os << "bare TCP close";
      return;
    case TlsTestClient::End::kStillOpen:
      *os << "still open";
      return;
  }
}

}  // namespace unitsync::testing
