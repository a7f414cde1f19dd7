// The daemon's one store thread: every read and write of the replica runs here, in
// submission order, so the network thread never waits on the disk and the replica has a
// single owner (WAL checkpoints and backup copies, which touch no row, run on their own
// threads: daemon/DESIGN.md "One store thread").
//
//   network thread ── Submit(task, done) ──► queue ──► store thread runs task()
//        ▲                                                   │
//        └──────────── done(result) posted back ─────────────┘
//
// Shutdown (Stop / destructor): the task running finishes (its transaction commits or
// rolls back as it would), queued tasks are dropped (their `done` never runs), the
// thread is joined. Thread-safe: Submit may be called from any thread.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/post.hpp>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

namespace unitsync::daemon {

class StoreWorker {
 public:
  // `done` callbacks run on `io`.
  explicit StoreWorker(boost::asio::any_io_executor io);
  ~StoreWorker();
  StoreWorker(const StoreWorker&) = delete;
  StoreWorker& operator=(const StoreWorker&) = delete;

  // Runs `task()` on the store thread, then `done(result)` on the io executor.
  template <typename Task, typename Done>
  void Submit(Task task, Done done) {
    Enqueue([this, task = std::move(task), done = std::move(done)]() mutable {
      auto result = task();
      boost::asio::post(io_, [done = std::move(done), result = std::move(result)]() mutable {
        done(std::move(result));
      });
    });
  }

  // Finishes the running task, drops the rest, joins. Idempotent.
  void Stop();

  // Tasks waiting (for metrics).
  size_t queued() const;

 private:
  void Enqueue(std::function<void()> fn);
  void Run();

  boost::asio::any_io_executor io_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;  // GUARDED_BY(mu_)
  bool stopping_ = false;                    // GUARDED_BY(mu_)
  std::thread thread_;
};

}  // namespace unitsync::daemon
