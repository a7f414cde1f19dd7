#include "daemon/store_worker.h"

#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <thread>
#include <vector>

namespace unitsync::daemon {
namespace {

TEST(StoreWorker, RunsTasksInOrderOffTheIoThreadAndAnswersOnIt) {
  boost::asio::io_context io;
  // Answers are posted from the store thread: keep run_one() waiting for them.
  auto guard = boost::asio::make_work_guard(io);
  StoreWorker worker(io.get_executor());
  const auto io_thread = std::this_thread::get_id();
  std::vector<int> order;
  std::atomic<bool> off_io{true};
  for (int i = 0; i < 50; ++i) {
    worker.Submit(
        [i, io_thread, &off_io] {
          if (std::this_thread::get_id() == io_thread) off_io = false;
          return i;
        },
        [&order, io_thread](int v) {
          EXPECT_EQ(std::this_thread::get_id(), io_thread);
          order.push_back(v);
        });
  }
  while (order.size() < 50) io.run_one();
  EXPECT_TRUE(off_io);
  for (int i = 0; i < 50; ++i) EXPECT_EQ(order[i], i);
}

TEST(StoreWorker, StopFinishesTheRunningTaskAndDropsTheRest) {
  boost::asio::io_context io;
  std::atomic<int> ran{0};
  std::atomic<bool> started{false};
  std::atomic<bool> release{false};
  {
    StoreWorker worker(io.get_executor());
    worker.Submit(
        [&] {
          started = true;
          while (!release) std::this_thread::yield();
          return ++ran;
        },
        [](int) {});
    for (int i = 0; i < 10; ++i) worker.Submit([&] { return ++ran; }, [](int) {});
    while (!started) std::this_thread::yield();
    std::thread releaser([&] {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      release = true;
    });
    worker.Stop();  // waits for the running task
    releaser.join();
    EXPECT_EQ(ran, 1) << "queued tasks are dropped, the running one finished";
    worker.Submit([&] { return ++ran; }, [](int) {});  // after Stop: ignored
  }
  EXPECT_EQ(ran, 1);
}

}  // namespace
}  // namespace unitsync::daemon
