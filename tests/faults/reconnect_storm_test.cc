// Thousands of reconnects per second against a running central while two honest units
// sync: TCP connections opened and reset at once from one host, and full mTLS sessions
// (handshake, HELLO, reset) of two enrolled units from another, for at least 5 s and
// until the honest units' writes made during the storm have reached central. Central
// stays the same process, the honest writes arrive while the storm goes on, and the
// refusals show in its metrics. The rates reached are printed (RELIABILITY.md), not
// asserted.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "tests/faults/hostile_fixture.h"
#include "tests/tls_test_client.h"

namespace unitsync::testing {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

TEST_F(HostilePeers, ThousandsOfReconnectsPerSecondLeaveHonestUnitsSyncing) {
  StartHonestWriters();
  ASSERT_TRUE(Eventually([&] { return HonestWritesAtCentral(); }));
  const double refused_before = Metric("unitsync_connections_refused_total{reason=\"tls\"}");

  std::atomic<bool> stop{false};
  std::atomic<uint64_t> tcp{0}, tls{0}, tls_failed{0};
  std::vector<std::thread> storm;
  for (int t = 0; t < 3; ++t) {  // connect and reset, from 127.0.0.3
    storm.emplace_back([&] {
      while (!stop) {
        const int fd = ConnectLoopback(port_, "127.0.0.3");
        if (fd < 0) continue;
        linger l{1, 0};
        ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
        ::close(fd);
        ++tcp;
      }
    });
  }
  for (int n = 3; n < 5; ++n) {  // whole sessions of unit-0003 and unit-0004, from 127.0.0.4
    storm.emplace_back([&, n] {
      HostileUnit h(Bundle(n));
      h.set_source("127.0.0.4");
      while (!stop) {
        if (h.Connect(port_)) {
          protocol::Hello hello{1, 1, h.node_id(), 0, 1'000'000'000, "", std::nullopt};
          h.Send(hello);
          ++tls;
        } else {
          ++tls_failed;
        }
        h.Abort();
      }
    });
  }
  const auto start = Clock::now();
  std::this_thread::sleep_for(1s);
  // Writes made while the storm rages reach central while it still rages.
  const bool honest = Eventually([&] { return HonestWritesAtCentral(); });
  std::this_thread::sleep_until(start + 5s);
  stop = true;
  for (auto& t : storm) t.join();
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();

  const double refused = Metric("unitsync_connections_refused_total{reason=\"tls\"}");
  std::printf(
      "storm: seconds=%.1f tcp_connects=%llu (%.0f/s) tls_sessions=%llu (%.0f/s) "
      "tls_failed=%llu refused_tls_metric=%.0f handshake_refused_log_lines=%zu\n",
      seconds, static_cast<unsigned long long>(tcp.load()), static_cast<double>(tcp) / seconds,
      static_cast<unsigned long long>(tls.load()), static_cast<double>(tls) / seconds,
      static_cast<unsigned long long>(tls_failed.load()), refused - refused_before,
      CentralLogCount("event=handshake_refused"));
  EXPECT_TRUE(honest) << "honest writes made during the storm did not reach central during it";
  EXPECT_GT(tcp, 0u);
  EXPECT_GT(tls, 0u);
  EXPECT_GT(refused, refused_before) << "the refused handshakes are not counted";

  // Afterwards: nothing is left over; new writes keep arriving.
  ExpectHonestUnitsKeepSyncing();
  StopHonestWriters();
  ExpectCentralUp();
}

}  // namespace
}  // namespace unitsync::testing
