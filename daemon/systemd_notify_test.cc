#include "daemon/systemd_notify.h"

#include <gtest/gtest.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <future>
#include <string>
#include <vector>

namespace unitsync::daemon {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

struct Sent {
  std::string message;
  Clock::time_point at;
};

class Notify : public ::testing::Test {
 protected:
  SystemdNotifier::Options Recording(milliseconds watchdog = milliseconds(0)) {
    SystemdNotifier::Options o;
    o.send = [this](const std::string& m) {
      sent_.push_back({m, Clock::now()});
      return 1;
    };
    o.watchdog = watchdog;
    return o;
  }
  // Runs the I/O loop until `done` or `limit` passes.
  template <typename F>
  bool RunUntil(F done, milliseconds limit = milliseconds(10'000)) {
    const auto until = Clock::now() + limit;
    while (!done() && Clock::now() < until) io_.run_for(milliseconds(10));
    return done();
  }
  size_t Count(const std::string& m) const {
    size_t n = 0;
    for (const auto& s : sent_) n += s.message == m ? 1 : 0;
    return n;
  }

  boost::asio::io_context io_;
  // Store answers are posted from the store thread: keep the loop waiting for them.
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> guard_ =
      boost::asio::make_work_guard(io_);
  StoreWorker store_{io_.get_executor()};
  Logger log_{stderr};
  std::vector<Sent> sent_;
};

TEST_F(Notify, WithoutNotifySocketNothingIsSentAndNoTimerRuns) {
  SystemdNotifier n(io_, store_, log_, SystemdNotifier::Options{});
  EXPECT_FALSE(n.enabled());
  n.SetStatus("x");
  n.Ready();
  n.StartWatchdog();
  n.Stopping();
  guard_.reset();
  // Nothing was armed or submitted: the loop has no work and returns at once.
  EXPECT_EQ(io_.run_for(milliseconds(200)), 0u);
}

TEST_F(Notify, ReadyCarriesTheStatusAndStatusIsSentOnChangeAtMostOncePerInterval) {
  SystemdNotifier n(io_, store_, log_, Recording());
  n.SetStatus("starting");
  ASSERT_EQ(sent_.size(), 1u);
  EXPECT_EQ(sent_[0].message, "STATUS=starting");
  n.Ready();
  ASSERT_EQ(sent_.size(), 2u);
  EXPECT_EQ(sent_[1].message, "READY=1\nSTATUS=starting");
  n.SetStatus("starting");  // unchanged: nothing
  n.SetStatus("one\nline");
  n.SetStatus("connected");  // replaces the waiting one
  EXPECT_EQ(sent_.size(), 2u) << "within the interval nothing more is sent at once";
  ASSERT_TRUE(RunUntil([&] { return sent_.size() == 3; }));
  EXPECT_EQ(sent_[2].message, "STATUS=connected");
  EXPECT_GE(sent_[2].at - sent_[1].at, SystemdNotifier::kStatusInterval);
  n.SetStatus("a\nb");
  ASSERT_TRUE(RunUntil([&] { return sent_.size() == 4; }));
  EXPECT_EQ(sent_[3].message, "STATUS=a b") << "a newline would end the field";
  EXPECT_EQ(Count("STATUS=one\nline") + Count("STATUS=one line"), 0u);
}

TEST_F(Notify, WatchdogPingsOnlyWhileTheStoreThreadAnswers) {
  SystemdNotifier n(io_, store_, log_, Recording(milliseconds(100)));
  n.StartWatchdog();
  ASSERT_TRUE(RunUntil([&] { return Count("WATCHDOG=1") >= 3; }));

  // Wedge the store thread: no probe comes back, so no ping goes out.
  std::promise<void> release;
  std::shared_future<void> wedged = release.get_future().share();
  bool blocked_answer = false;
  store_.Submit(
      [wedged] {
        wedged.wait();
        return true;
      },
      [&](bool) { blocked_answer = true; });
  // A probe already on its way back may still ping once; then nothing for 10 intervals.
  io_.run_for(milliseconds(60));
  const size_t before = Count("WATCHDOG=1");
  io_.run_for(milliseconds(500));
  EXPECT_EQ(Count("WATCHDOG=1"), before) << "pinged while the store thread was wedged";

  release.set_value();
  ASSERT_TRUE(RunUntil([&] { return blocked_answer && Count("WATCHDOG=1") >= before + 2; }))
      << "pings resume once the store thread answers again";

  n.Stopping();
  EXPECT_EQ(sent_.back().message, "STOPPING=1\nSTATUS=stopping");
  const size_t at_stop = sent_.size();
  io_.run_for(milliseconds(200));
  EXPECT_EQ(sent_.size(), at_stop) << "no pings after STOPPING=1";
}

TEST_F(Notify, ReloadingNamesTheMonotonicClock) {
  SystemdNotifier n(io_, store_, log_, Recording());
  n.Reloading();
  ASSERT_EQ(sent_.size(), 1u);
  EXPECT_EQ(sent_[0].message.rfind("RELOADING=1\nMONOTONIC_USEC=", 0), 0u) << sent_[0].message;
}

TEST(NotifyEnvironment, FollowsSdWatchdogEnabled) {
  ::unsetenv("NOTIFY_SOCKET");
  ::setenv("WATCHDOG_USEC", "2000000", 1);
  EXPECT_FALSE(SystemdNotifier::FromEnvironment().send) << "no socket: off";
  ::setenv("NOTIFY_SOCKET", "/nonexistent/notify", 1);
  ::unsetenv("WATCHDOG_PID");
  auto o = SystemdNotifier::FromEnvironment();
  EXPECT_TRUE(o.send);
  EXPECT_EQ(o.watchdog, std::chrono::microseconds(2'000'000));
  ::setenv("WATCHDOG_PID", std::to_string(::getpid() + 1).c_str(), 1);
  EXPECT_EQ(SystemdNotifier::FromEnvironment().watchdog.count(), 0) << "another process's";
  ::setenv("WATCHDOG_PID", std::to_string(::getpid()).c_str(), 1);
  EXPECT_EQ(SystemdNotifier::FromEnvironment().watchdog, std::chrono::microseconds(2'000'000));
  for (const char* v : {"NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"}) ::unsetenv(v);
}

}  // namespace
}  // namespace unitsync::daemon
