// Network faults between real processes (tests/RELIABILITY.md "Network faults between
// real processes"): central and two units as real unitsyncd processes with real
// certificates; unit-0001 reaches central only through a FaultProxy, unit-0002 directly.
// Staff write at unit-0001 and at central (rows of unit-0001's scope and reference data)
// the whole time while the proxy injects one class of faults from a seeded schedule;
// then the faults heal, the writers stop, and every replica must converge (equal
// digests, every write present, `unitsyncctl verify` identical) within kConvergeLimit.
// The time that took is printed (and recorded in RELIABILITY.md); it is not asserted.
//
// Replay: UNITSYNC_FAULT_SEED=<seed> (printed by every run). Longer runs:
// UNITSYNC_FAULT_SECONDS=<seconds of faults> (default 12).
#include <gtest/gtest.h>

#include <cstdio>
#include <memory>
#include <random>
#include <set>
#include <sstream>

#include "tests/faults/fault_proxy.h"
#include "tests/faults/net_faults_fixture.h"

namespace unitsync::testing {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

enum class FaultClass { kDelay, kStall, kReset, kDuplicate, kHalfOpen, kPartition, kMixed };

std::string Name(FaultClass f) {
  switch (f) {
    case FaultClass::kDelay:
      return "Delay";
    case FaultClass::kStall:
      return "Stall";
    case FaultClass::kReset:
      return "Reset";
    case FaultClass::kDuplicate:
      return "DuplicateViaReconnect";
    case FaultClass::kHalfOpen:
      return "HalfOpen";
    case FaultClass::kPartition:
      return "Partition";
    case FaultClass::kMixed:
      return "Mixed";
  }
  return "?";
}

class NetFaults : public NetFaultsFixture, public ::testing::WithParamInterface<FaultClass> {
 protected:
  // A quiet gap, then one fault of class `f` (for kMixed: of a class drawn from the seed),
  // left active when it returns: the schedule ends in a fault, so healing has work to do.
  void InjectOne(FaultClass f) {
    auto draw = [&](int64_t lo, int64_t hi) {
      return milliseconds(std::uniform_int_distribution<int64_t>(lo, hi)(rng_));
    };
    if (f == FaultClass::kMixed) {
      f = static_cast<FaultClass>(std::uniform_int_distribution<int>(0, 5)(rng_));
    }
    proxy_->Heal();  // the previous fault ends
    Sleep(draw(200, 1500));
    switch (f) {
      case FaultClass::kDelay:  // up to 400 ms per chunk, a new bound every 1-3 s
        proxy_->SetDelay(draw(20, 400));
        Sleep(draw(1000, 3000));
        break;
      case FaultClass::kStall: {
        // Lost segments: 0.2-6 s without a byte. Under the read deadline (3 s) TCP just
        // retransmits; over it the daemons give up on the connection and reconnect.
        const auto length = draw(200, 6000);
        proxy_->Stall(length);
        Sleep(length);
        break;
      }
      case FaultClass::kReset:
        proxy_->ResetAll();
        break;
      case FaultClass::kDuplicate:
        proxy_->CutAfterNext(std::bernoulli_distribution(0.5)(rng_)
                                 ? FaultProxy::Direction::kToCentral
                                 : FaultProxy::Direction::kToUnit);
        Sleep(draw(100, 1000));
        break;
      case FaultClass::kHalfOpen:  // found out only by a read deadline (3 s)
        proxy_->HalfOpenAll();
        Sleep(draw(1000, 5000));
        break;
      case FaultClass::kPartition:
        proxy_->SetPartition(std::bernoulli_distribution(0.5)(rng_)
                                 ? FaultProxy::Partition::kRefuse
                                 : FaultProxy::Partition::kBlackHole);
        Sleep(draw(500, 8000));
        break;
      case FaultClass::kMixed:
        break;
    }
    ++injected_;
  }

  void Sleep(milliseconds d) { std::this_thread::sleep_for(d); }

  uint64_t injected_ = 0;
};

TEST_P(NetFaults, ReplicasConvergeAfterHealing) {
  const FaultClass f = GetParam();
  StartWithProxy();
  ASSERT_FALSE(HasFatalFailure());

  StartWriters();
  const auto faults_until = Clock::now() + FaultSeconds();
  while (Clock::now() < faults_until) InjectOne(f);
  StopWriters();  // the last writes go in while the last fault is still on
  proxy_->Heal();
  ASSERT_FALSE(HasFatalFailure());
  const auto healed = Clock::now();

  const bool converged = ConvergedWithin(kConvergeLimit);
  const auto took = std::chrono::duration_cast<milliseconds>(Clock::now() - healed);
  const FaultProxy::Stats s = proxy_->stats();
  std::ostringstream line;
  line << "net_faults: class=" << Name(f) << " seed=" << seed_ << " faults=" << injected_
       << " writes_unit=" << UnitWrites() << " writes_central=" << CentralWrites()
       << " connections=" << s.connections << " refused=" << s.refused
       << " black_holed=" << s.black_holed << " resets=" << s.resets << " cuts=" << s.cuts
       << " half_opened=" << s.half_opened << " stalls=" << s.stalls
       << " delayed_chunks=" << s.delayed_chunks
       << " unit_sessions=" << LogCount("unit-0001", "event=connected") << " read_deadlines="
       << LogCount("unit-0001", "event=read_deadline") + LogCount("central", "event=read_deadline")
       << " converged=" << (converged ? "yes" : "no") << " after_heal_ms=" << took.count();
  std::printf("%s\n", line.str().c_str());
  ASSERT_TRUE(converged) << "did not converge within " << kConvergeLimit.count()
                         << " s after healing; replay with UNITSYNC_FAULT_SEED=" << seed_ << "\n"
                         << ConvergenceReport();
  EXPECT_GT(injected_, 0u);
  ExpectVerifyIdentical();
  ExpectEveryDaemonStillRunning();
}

INSTANTIATE_TEST_SUITE_P(Classes, NetFaults,
                         ::testing::Values(FaultClass::kDelay, FaultClass::kStall,
                                           FaultClass::kReset, FaultClass::kDuplicate,
                                           FaultClass::kHalfOpen, FaultClass::kPartition,
                                           FaultClass::kMixed),
                         [](const auto& info) { return Name(info.param); });

}  // namespace
}  // namespace unitsync::testing
