#include "tests/faults/hostile_unit.h"

#include <openssl/err.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <stdexcept>

#include "pki/bundle.h"
#include "protocol/frame.h"
#include "protocol/message_codec.h"
#include "tests/tls_test_client.h"

namespace unitsync::testing {

using protocol::Bytes;
using protocol::ByteView;
using Clock = std::chrono::steady_clock;

HostileUnit::HostileUnit(const std::string& bundle) : bundle_(bundle) {
  auto b = pki::LoadBundle(bundle);
  if (!b || !b->sealing) throw std::runtime_error("hostile unit: no usable bundle in " + bundle);
  node_id_ = b->node_id;
  auto key = protocol::DeriveChangesetKey(b->sealing->secret.bytes(), b->sealing->key_id);
  if (!key) throw std::runtime_error("hostile unit: " + key.error().ToString());
  key_ = std::make_unique<protocol::ChangesetKey>(std::move(*key));
}

HostileUnit::~HostileUnit() { Abort(); }

bool HostileUnit::Failed(const std::string& what) {
  char buf[256] = "";
  ERR_error_string_n(ERR_get_error(), buf, sizeof buf);
  ERR_clear_error();
  error_ = what + ": " + buf;
  return false;
}

void HostileUnit::Abort() {
  ssl_.reset();
  if (fd_ >= 0) {
    linger l{1, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    ::close(fd_);
  }
  fd_ = -1;
  buf_.clear();
}

void HostileUnit::CloseNotify() {
  if (ssl_) SSL_shutdown(ssl_.get());
  ssl_.reset();
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  buf_.clear();
}

bool HostileUnit::ConnectPlain(uint16_t port) {
  Abort();
  end_ = End::kNone;
  fd_ = ConnectLoopback(port, source_);
  return fd_ >= 0 || Failed("connect");
}

bool HostileUnit::Connect(uint16_t port) {
  if (!ConnectPlain(port)) return false;
  if (!ctx_) {
    ctx_.reset(SSL_CTX_new(TLS_client_method()));
    SSL_CTX* c = ctx_.get();
    if (c == nullptr || SSL_CTX_set_min_proto_version(c, TLS1_3_VERSION) != 1 ||
        SSL_CTX_use_certificate_chain_file(c, (bundle_ + "/cert.pem").c_str()) != 1 ||
        SSL_CTX_use_PrivateKey_file(c, (bundle_ + "/key.pem").c_str(), SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_load_verify_locations(c, (bundle_ + "/ca.pem").c_str(), nullptr) != 1) {
      ctx_.reset();
      return Failed("client context");
    }
    SSL_CTX_set_verify(c, SSL_VERIFY_PEER, nullptr);
  }
  ssl_.reset(SSL_new(ctx_.get()));
  if (!ssl_ || SSL_set_fd(ssl_.get(), fd_) != 1) return Failed("SSL_new");
  if (SSL_connect(ssl_.get()) != 1) return Failed("handshake");
  return true;
}

std::optional<protocol::Welcome> HostileUnit::Session(uint16_t port, uint64_t push, uint64_t pull,
                                                      const std::string& gen) {
  if (!Connect(port)) return std::nullopt;
  protocol::Hello h;
  h.min_version = 1;
  h.max_version = 1;
  h.node_id = node_id_;
  h.push_seq = push;
  h.pull_seq = pull;
  h.central_generation = gen;
  if (!Send(h)) return std::nullopt;
  auto m = Read(std::chrono::milliseconds(20'000));
  if (m) {
    if (auto* w = std::get_if<protocol::Welcome>(&*m)) return *w;
  }
  error_ = "no WELCOME";
  return std::nullopt;
}

bool HostileUnit::SendRaw(ByteView bytes) {
  if (fd_ < 0) return false;
  if (!ssl_) {
    size_t done = 0;
    while (done < bytes.size()) {
      const ssize_t n = ::send(fd_, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
      if (n <= 0) return false;
      done += static_cast<size_t>(n);
    }
    return true;
  }
  size_t done = 0;
  while (done < bytes.size()) {
    size_t n = 0;
    if (SSL_write_ex(ssl_.get(), bytes.data() + done, bytes.size() - done, &n) != 1) {
      ERR_clear_error();
      return false;
    }
    done += n;
  }
  return true;
}

Bytes HostileUnit::Frame(const protocol::Message& m) {
  auto f = protocol::EncodeMessageFrame(m);
  if (!f) throw std::runtime_error("hostile unit: cannot encode: " + f.error().ToString());
  return *f;
}

bool HostileUnit::Send(const protocol::Message& m) { return SendRaw(Frame(m)); }

bool HostileUnit::Fill(Clock::time_point until) {
  if (fd_ < 0) {
    end_ = End::kBareClose;
    return false;
  }
  for (;;) {
    if (!ssl_ || SSL_pending(ssl_.get()) == 0) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now());
      pollfd p{fd_, POLLIN, 0};
      if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) <= 0) {
        end_ = End::kTimeout;
        return false;
      }
    }
    uint8_t tmp[16384];
    if (!ssl_) {
      const ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
      if (n <= 0) {
        end_ = End::kBareClose;
        return false;
      }
      buf_.insert(buf_.end(), tmp, tmp + n);
      return true;
    }
    size_t n = 0;
    if (SSL_read_ex(ssl_.get(), tmp, sizeof tmp, &n) == 1) {
      buf_.insert(buf_.end(), tmp, tmp + n);
      return true;
    }
    const int err = SSL_get_error(ssl_.get(), 0);
    ERR_clear_error();
    if (err == SSL_ERROR_WANT_READ) continue;
    end_ = err == SSL_ERROR_ZERO_RETURN ? End::kCloseNotify : End::kBareClose;
    return false;
  }
}

std::optional<protocol::Message> HostileUnit::Read(std::chrono::milliseconds limit) {
  const auto until = Clock::now() + limit;
  for (;;) {
    if (buf_.size() >= 4) {
      const size_t len = (size_t{buf_[0]} << 24) | (size_t{buf_[1]} << 16) |
                         (size_t{buf_[2]} << 8) | size_t{buf_[3]};
      if (buf_.size() >= 4 + len) {
        auto m = protocol::DecodeMessage(ByteView(buf_).subspan(4, len));
        buf_.erase(buf_.begin(), buf_.begin() + static_cast<std::ptrdiff_t>(4 + len));
        if (!m) {
          error_ = "central sent a frame that does not decode: " + m.error().ToString();
          return std::nullopt;
        }
        if (auto* ping = std::get_if<protocol::Ping>(&*m)) {
          if (answer_pings_) Send(protocol::Pong{ping->nonce});
          continue;
        }
        return std::move(*m);
      }
    }
    if (!Fill(until)) return std::nullopt;
  }
}

HostileUnit::End HostileUnit::WaitForEnd(std::chrono::milliseconds limit,
                                         std::optional<protocol::ErrorMessage>* error) {
  const auto until = Clock::now() + limit;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now());
    auto m = Read(std::max(left, std::chrono::milliseconds(0)));
    if (!m) return end_ == End::kNone ? End::kBareClose : end_;
    if (auto* e = std::get_if<protocol::ErrorMessage>(&*m); e && error != nullptr) *error = *e;
  }
}

Bytes HostileUnit::SealPush(const store::Changeset& changeset, uint64_t seq,
                            const std::string& central) const {
  protocol::EnvelopeHeader h;
  h.kind = protocol::EnvelopeKind::kPush;
  h.origin = node_id_;
  h.destination = central;
  h.seq_from = seq;
  h.seq_to = seq;
  auto sealed = protocol::SealChangeset(*key_, h, store::EncodeChangeset(changeset));
  if (!sealed) throw std::runtime_error("hostile unit: seal: " + sealed.error().ToString());
  return *sealed;
}

}  // namespace unitsync::testing
