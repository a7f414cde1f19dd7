#include "daemon/service_status.h"

#include <gtest/gtest.h>

namespace unitsync::daemon {
namespace {

using Phase = protocol::Uplink::Phase;

TEST(ServiceStatus, UnitSaysWhetherItIsConnectedAndWhatWaits) {
  UnitBacklog none{0, 0};
  EXPECT_EQ(UnitStatusText(Phase::kSyncing, 0, &none), "connected to central; 0 changes waiting");
  UnitBacklog some{12, 1'777'882'323'000};  // 2026-05-04T08:12:03Z
  EXPECT_EQ(UnitStatusText(Phase::kBackoff, 4, &some),
            "not connected to central (attempt 4); 12 changes waiting since "
            "2026-05-04T08:12:03Z");
  UnitBacklog one{1, 1'777'882'323'000};
  EXPECT_EQ(UnitStatusText(Phase::kAwaitWelcome, 0, &one)
                .rfind("connecting to central; 1 change waiting since", 0),
            0u);
  EXPECT_EQ(UnitStatusText(Phase::kConnecting, 2, nullptr), "connecting to central (attempt 2)");
  EXPECT_EQ(UnitStatusText(Phase::kStopped, 0, &some), "stopping");
  EXPECT_EQ(UnitStatusText(Phase::kStopped, 0, &none, /*paused=*/true),
            "sync paused by the admin (unitsyncctl resume); 0 changes waiting");
}

TEST(ServiceStatus, CentralCountsConnectedAmongEnrolledUnits) {
  EXPECT_EQ(CentralStatusText("0.0.0.0:7443", 3, 40),
            "listening on 0.0.0.0:7443; 3 of 40 enrolled units connected");
}

}  // namespace
}  // namespace unitsync::daemon
