// Bounds the TLS handshakes central runs at once, so that peers which connect and then
// stall (slowloris: nothing sent, or a ClientHello a byte at a time) cannot crowd out
// the units. Each accepted connection takes a slot until its handshake ends.
//
//   per source (an IPv4 address, an IPv6 /64): at most `per_source` handshakes at once;
//       one more is refused at once. It competes only with its own source, and the
//       handshakes already under way there finish.
//   overall: at most `max`; when full, the oldest pending handshake is aborted to make
//       room for the newest.
//
// Why evict the oldest rather than refuse the newest overall: refusing lets stallers who
// keep `max` connections open lock every unit out for good; evicting means they must open
// `max` new connections within one real handshake (a round trip and two ECDSA signatures)
// to delay a unit, and from `max / per_source` different sources. Why a per-source cap
// at all: a single host reconnecting as fast as it is dropped would win that race on its
// own. Units behind one NAT share a source, so `per_source` stays generous (their
// reconnects are jittered). Sessions (authenticated units) are bounded separately, by
// listen.max_sessions; a half-open handshake is not a session.
//
// Not thread-safe: use from the I/O thread.
#pragma once

#include <boost/asio/ip/address.hpp>
#include <cstddef>
#include <cstdint>
#include <list>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "daemon/tls_connection.h"

namespace unitsync::daemon {

class HandshakeSlots {
 private:
  struct Entry;

 public:
  // Held for the duration of one handshake; gives the slot back when destroyed.
  class Slot {
   public:
    Slot(Slot&&) = default;
    Slot& operator=(Slot&&) = delete;
    ~Slot();
    // The handshake was aborted to make room for a newer one.
    bool evicted() const;
    // Gives the slot back now (the handshake is over). Idempotent.
    void Release();

   private:
    friend class HandshakeSlots;
    Slot(HandshakeSlots* owner, std::shared_ptr<Entry> entry)
        : owner_(owner), entry_(std::move(entry)) {}
    HandshakeSlots* owner_ = nullptr;
    std::shared_ptr<Entry> entry_;
  };

  // The source a peer address counts against: the IPv4 address (also when IPv4-mapped),
  // or the IPv6 /64.
  static std::string SourceOf(const boost::asio::ip::address& address);

  // REQUIRES: 1 <= per_source <= max.
  HandshakeSlots(size_t max, size_t per_source) : max_(max), per_source_(per_source) {}
  ~HandshakeSlots();
  HandshakeSlots(const HandshakeSlots&) = delete;
  HandshakeSlots& operator=(const HandshakeSlots&) = delete;

  // A slot for `connection`'s handshake from `source`; nullopt (nothing changed) when
  // `source` already has `per_source` pending. When all `max` are taken, first aborts the
  // oldest pending handshake's connection (its slot reports evicted()). REQUIRES: the
  // returned slot does not outlive this object.
  std::optional<Slot> Take(const std::shared_ptr<TlsConnection>& connection,
                           const std::string& source);

  size_t pending() const { return pending_.size(); }
  uint64_t evictions() const { return evictions_; }

 private:
  struct Entry {
    std::weak_ptr<TlsConnection> connection;
    std::string source;
    std::list<std::shared_ptr<Entry>>::iterator where;  // valid while in_list
    bool in_list = true;
    bool evicted = false;
  };
  void Release(const std::shared_ptr<Entry>& entry);
  void Forget(Entry& entry);

  size_t max_;
  size_t per_source_;
  std::list<std::shared_ptr<Entry>> pending_;  // oldest first
  std::map<std::string, size_t> by_source_;    // pending handshakes per source (> 0)
  uint64_t evictions_ = 0;
};

}  // namespace unitsync::daemon
