// Test fixture for central's session driven event by event (hub_failure_test.cc,
// hub_session_test.cc, hub_snapshot_test.cc): a fake environment, the options, and the
// steps of the handshake.
#pragma once

#include <gtest/gtest.h>

#include <memory>

#include "protocol/hub.h"
#include "protocol/sync_test_util.h"

namespace unitsync::protocol::testing {

class HubFixture : public ::testing::Test {
 protected:
  std::unique_ptr<HubSession> Make() {
    return std::make_unique<HubSession>("central", "unit-0001", options_, env_);
  }
  // Made and connected (the handshake deadline armed), then the unit's `hello`: returns
  // what central did with the HELLO in `*out` (LoadUnit, if it took it).
  std::unique_ptr<HubSession> Greeted(const Hello& hello, Out* out = nullptr) {
    auto hub = Make();
    hub->OnConnected();
    Take(hub->TakeActions());
    Out greeted = Feed(*hub, hello);
    if (out) *out = std::move(greeted);
    return hub;
  }
  // The store's answer to LoadUnit: the unit is known with nothing applied, central's log
  // head is `head`; a WELCOME goes out. Returns all central did.
  Out Loaded(HubSession& hub, uint64_t head) {
    Out out = Result(hub, UnitLoaded{true, "", 0, head, "g-1", 0});
    EXPECT_NE(Only<Welcome>(out.sent), nullptr);
    return out;
  }

  FakeEnv env_;
  SyncOptions options_;
};

}  // namespace unitsync::protocol::testing
