// A TCP relay between a unit's unitsyncd and central's, for fault tests with real
// processes (tests/RELIABILITY.md "Network faults between real processes"). The unit's
// config names the proxy's port as central's; the proxy forwards the (TLS) bytes to
// central's real port and injects faults on command:
//
//   delay        every chunk is held 0..max ms, order kept (a slow, jittery path)
//   stall        nothing moves either way on open connections for a while, then
//                everything held is released in order: what a lost segment is to TCP
//                (retransmission). A TCP stream cannot lose bytes silently, so "loss" is
//                modelled as stalls and, when longer, as resets.
//   reset        every open connection is aborted (RST to both ends)
//   cut after    the next chunk in one direction is forwarded, then nothing more, and
//                both ends are reset 200 ms later: data reached one side, its reply
//                never came back, so the sender resends it on the next connection
//                (duplication across reconnects)
//   half-open    open connections stop forwarding both ways and stay open; only the
//                daemons' read deadlines can notice
//   partition    new connections are refused (RST at accept) or black-holed (accepted,
//                never forwarded) and open connections are reset or black-holed, until
//                healed
//
// Every random draw (delays) comes from the seed; the processes on either side are real,
// so a run is replayable in its fault schedule, not in its exact interleaving.
//
// Threads: the proxy runs its own io_context thread. Every public method may be called
// from any thread; control methods take effect asynchronously (posted).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <thread>

namespace unitsync::testing {

class FaultProxy {
 public:
  enum class Direction { kToCentral, kToUnit };
  enum class Partition { kNone, kRefuse, kBlackHole };

  // What the proxy did so far (monotonic counters).
  struct Stats {
    uint64_t connections = 0;     // accepted
    uint64_t refused = 0;         // reset at accept (partition kRefuse)
    uint64_t black_holed = 0;     // accepted and never forwarded (partition kBlackHole)
    uint64_t resets = 0;          // connections aborted by ResetAll / a partition
    uint64_t cuts = 0;            // connections aborted by CutAfterNext
    uint64_t half_opened = 0;     // connections frozen by HalfOpenAll / a partition
    uint64_t stalls = 0;          // Stall calls
    uint64_t delayed_chunks = 0;  // chunks held by a delay > 0
    uint64_t bytes_to_central = 0;
    uint64_t bytes_to_unit = 0;
  };

  // Listens on 127.0.0.1:<ephemeral>, relays to 127.0.0.1:`upstream_port`.
  FaultProxy(uint16_t upstream_port, uint64_t seed);
  ~FaultProxy();  // closes every connection and joins the thread
  FaultProxy(const FaultProxy&) = delete;
  FaultProxy& operator=(const FaultProxy&) = delete;

  uint16_t port() const { return port_; }

  // Each chunk is held for a uniform 0..max (0: no delay), never overtaking another.
  void SetDelay(std::chrono::milliseconds max);
  // Holds every byte on open connections (both ways) for `length`, then releases them.
  void Stall(std::chrono::milliseconds length);
  // Aborts every open connection.
  void ResetAll();
  // Freezes every open connection: nothing is forwarded any more, both ends stay open.
  void HalfOpenAll();
  // The next chunk travelling in `d` (on any connection) is forwarded, then that
  // connection forwards nothing and is reset 200 ms later.
  void CutAfterNext(Direction d);
  // kRefuse: open connections are reset and new ones refused; kBlackHole: open ones are
  // frozen and new ones accepted and never forwarded; kNone heals (new connections
  // relay again; what a partition froze stays frozen until its ends give up).
  void SetPartition(Partition p);

  // Ends every fault that has an end: no delay (chunks already held keep their due time),
  // no stall, no partition, no cut armed. Connections already frozen stay frozen, and
  // connections already reset stay reset: the daemons must find out and reconnect.
  void Heal();

  Stats stats() const;

 private:
  class Impl;
  std::shared_ptr<Impl> impl_;
  uint16_t port_ = 0;
  std::thread thread_;
};

}  // namespace unitsync::testing
