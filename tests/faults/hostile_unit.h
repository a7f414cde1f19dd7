// A unit that does not follow the rules: a blocking TLS 1.3 client holding a real, enrolled
// unit bundle (certificate, key and sealing secret), that sends whatever bytes a test
// wants — valid frames, sealed pushes of forged changesets, replays, oversized or cut
// frames, fuzz inputs — and reads what central answers. Test-only; one thread at a time.
#pragma once

#include <openssl/ssl.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "protocol/bytes.h"
#include "protocol/envelope.h"
#include "protocol/message.h"
#include "store/changeset.h"

namespace unitsync::testing {

class HostileUnit {
 public:
  // How the last read ended.
  enum class End { kNone, kCloseNotify, kBareClose, kTimeout };

  // Loads `bundle` (pki::LoadBundle: the node id and the sealing key). Dies on a bad
  // bundle (a test set-up error).
  explicit HostileUnit(const std::string& bundle);
  ~HostileUnit();
  HostileUnit(const HostileUnit&) = delete;
  HostileUnit& operator=(const HostileUnit&) = delete;

  const std::string& node_id() const { return node_id_; }

  // A new TCP connection to 127.0.0.1:port and the TLS handshake with the bundle (the
  // previous connection, if any, is dropped without a word). False and error() when a
  // step fails.
  bool Connect(uint16_t port);
  // Connections from this loopback address (e.g. "127.0.0.4", another host) from now on.
  void set_source(const char* source) { source_ = source; }
  // TCP only, no TLS: raw bytes go straight onto the socket.
  bool ConnectPlain(uint16_t port);
  // Connect, then HELLO (push and pull cursors as given, central generation as last seen)
  // and WELCOME; nullopt (and error()) when central answers anything else.
  std::optional<protocol::Welcome> Session(uint16_t port, uint64_t push, uint64_t pull,
                                           const std::string& gen = "");

  // Writes bytes as they are (inside TLS unless ConnectPlain). False when the connection
  // is gone.
  bool SendRaw(protocol::ByteView bytes);
  bool Send(const protocol::Message& m);
  // Closes gracefully (close_notify) or abortively (RST).
  void CloseNotify();
  void Abort();

  // The next message central sends within `limit`; nullopt when the connection ended
  // (end() says how) or nothing came. PINGs are answered (unless answer_pings(false):
  // a PONG would feed a frame central is waiting to complete) and skipped.
  std::optional<protocol::Message> Read(std::chrono::milliseconds limit);
  // Reads until central ends the connection (or `limit`); the last ERROR seen, if any.
  End WaitForEnd(std::chrono::milliseconds limit, std::optional<protocol::ErrorMessage>* error);
  End end() const { return end_; }
  void answer_pings(bool on) { answer_pings_ = on; }
  const std::string& error() const { return error_; }

  // `changeset` sealed as this unit's push `seq` to `central` (a fresh nonce per call).
  protocol::Bytes SealPush(const store::Changeset& changeset, uint64_t seq,
                           const std::string& central = "central") const;
  static protocol::Bytes Frame(const protocol::Message& m);

 private:
  bool Failed(const std::string& what);
  // Raw bytes from the connection into buf_, at most `limit` waiting; false at the end.
  bool Fill(std::chrono::steady_clock::time_point until);

  struct CtxFree {
    void operator()(SSL_CTX* c) const { SSL_CTX_free(c); }
  };
  struct SslFree {
    void operator()(SSL* s) const { SSL_free(s); }
  };
  std::string bundle_;
  std::string node_id_;
  std::unique_ptr<protocol::ChangesetKey> key_;
  std::unique_ptr<SSL_CTX, CtxFree> ctx_;
  std::unique_ptr<SSL, SslFree> ssl_;
  const char* source_ = nullptr;
  int fd_ = -1;
  protocol::Bytes buf_;  // received, not yet decoded
  End end_ = End::kNone;
  bool answer_pings_ = true;
  std::string error_;
};

}  // namespace unitsync::testing
