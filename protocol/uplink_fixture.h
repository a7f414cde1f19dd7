// Test fixture for the unit's uplink driven event by event (uplink_test.cc,
// uplink_session_test.cc, uplink_failure_test.cc, uplink_seed_test.cc): a fake
// environment, the options, and the steps that bring a session up.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <utility>

#include "protocol/sync_test_util.h"
#include "protocol/uplink.h"

namespace unitsync::protocol::testing {

class UplinkFixture : public ::testing::Test {
 protected:
  std::unique_ptr<Uplink> Make(UplinkState state) {
    return std::make_unique<Uplink>("unit-0001", std::move(state), options_, env_);
  }
  // Connects: Start from idle, or the reconnect timer after a backoff; the connection
  // comes up and the HELLO goes out. Returns the HELLO (an empty one if none was sent).
  Hello Connect(Uplink& u) {
    if (u.phase() == Uplink::Phase::kIdle) u.Start();
    if (u.phase() == Uplink::Phase::kBackoff) u.OnTimer(TimerId::kReconnect);
    EXPECT_TRUE(Take(u.TakeActions()).connect);
    u.OnConnected();
    Out out = Take(u.TakeActions());
    const auto* h = Only<Hello>(out.sent);
    EXPECT_NE(h, nullptr);
    return h ? *h : Hello{};
  }
  // Made from `state`, connected and WELCOMEd (central applied `state.acked_seq`, its
  // head 100): the first FetchPushes is outstanding.
  std::unique_ptr<Uplink> Welcomed(UplinkState state) {
    const uint64_t acked = state.acked_seq;
    auto u = Make(std::move(state));
    Connect(*u);
    Out out = Feed(*u, Welcome{1, "central", "g-1", acked, 100});
    EXPECT_EQ(out.work.size(), 1u);
    return u;
  }

  FakeEnv env_;
  SyncOptions options_;
};

}  // namespace unitsync::protocol::testing
