// The network fault test again, with the kernel's netem instead of the FaultProxy: the
// test process moves into a new network namespace (unshare), brings its loopback up and
// puts a netem qdisc on it — packet delay with jitter, loss, duplication and reordering
// under TCP, which the proxy cannot do — then central and two units run there as real
// processes while staff write at unit-0001 and at central. After the qdisc is removed,
// replicas must converge within kConvergeLimit.
//
// Needs root (CAP_NET_ADMIN, CAP_SYS_ADMIN), `unshare`, `ip`, `tc` and the sch_netem
// module. Where any of that is missing the test is skipped with the command that failed
// and what it said; it never passes without running. Alone in its binary: it moves the
// whole process into the namespace.
#include <sched.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>

#include "tests/faults/net_faults_fixture.h"

namespace unitsync::testing {
namespace {

using Clock = std::chrono::steady_clock;

// Runs `cmd` with sh; its exit status and its output (stdout and stderr).
std::pair<int, std::string> Shell(const std::string& cmd) {
  std::string out;
  FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  if (p == nullptr) return {-1, "popen failed"};
  std::array<char, 512> buf{};
  while (std::fgets(buf.data(), buf.size(), p) != nullptr) out += buf.data();
  const int st = ::pclose(p);
  return {WIFEXITED(st) ? WEXITSTATUS(st) : 128, out};
}

// Empty when everything the variant needs works here; otherwise the first probe that
// failed, with its output.
std::string WhyNoNetem() {
  const char* probes[] = {
      "unshare -n true",
      "ip netns list",
      "unshare -n sh -c 'ip link set lo up && tc qdisc add dev lo root netem delay 1ms'",
  };
  for (const char* p : probes) {
    auto [code, out] = Shell(p);
    if (code != 0) return "`" + std::string(p) + "` exited " + std::to_string(code) + ": " + out;
  }
  return {};
}

class Netem : public NetFaultsFixture {};

TEST_F(Netem, ReplicasConvergeAfterDelayLossDuplicationAndReorderingHeal) {
  if (const std::string why = WhyNoNetem(); !why.empty()) {
    std::printf("netem: skipped: %s\n", why.c_str());
    GTEST_SKIP() << "netem variant not possible here: " << why;
  }
  ASSERT_EQ(::unshare(CLONE_NEWNET), 0) << "unshare(CLONE_NEWNET)";
  ASSERT_EQ(Shell("ip link set lo up").first, 0);
  auto netem = [&](const std::string& how) {
    auto [code, out] = Shell("tc qdisc replace dev lo root netem " + how);
    ASSERT_EQ(code, 0) << how << ": " << out;
  };
  StartAllAndSyncOnce();
  ASSERT_FALSE(HasFatalFailure());

  StartWriters();
  uint64_t changes = 0;
  const auto until = Clock::now() + FaultSeconds();
  while (Clock::now() < until) {  // a new netem setting every 1-3 s, drawn from the seed
    auto draw = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); };
    netem("delay " + std::to_string(draw(5, 200)) + "ms " + std::to_string(draw(0, 100)) +
          "ms loss " + std::to_string(draw(0, 10)) + "% duplicate " + std::to_string(draw(0, 5)) +
          "% reorder " + std::to_string(draw(0, 25)) + "%");
    ASSERT_FALSE(HasFatalFailure());
    ++changes;
    std::this_thread::sleep_for(std::chrono::milliseconds(draw(1000, 3000)));
  }
  StopWriters();
  ASSERT_EQ(Shell("tc qdisc del dev lo root").first, 0);
  const auto healed = Clock::now();
  const bool converged = ConvergedWithin(kConvergeLimit);
  const auto took =
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - healed).count();
  std::printf(
      "netem: seed=%llu settings=%llu writes_unit=%llu writes_central=%llu converged=%s "
      "after_heal_ms=%lld\n",
      static_cast<unsigned long long>(seed_), static_cast<unsigned long long>(changes),
      static_cast<unsigned long long>(UnitWrites()),
      static_cast<unsigned long long>(CentralWrites()), converged ? "yes" : "no",
      static_cast<long long>(took));
  ASSERT_TRUE(converged) << "did not converge within " << kConvergeLimit.count()
                         << " s after healing; replay with UNITSYNC_FAULT_SEED=" << seed_ << "\n"
                         << ConvergenceReport();
  ExpectVerifyIdentical();
  ExpectEveryDaemonStillRunning();
}

}  // namespace
}  // namespace unitsync::testing
