#include "daemon/store_worker.h"

namespace unitsync::daemon {

StoreWorker::StoreWorker(boost::asio::any_io_executor io)
    : io_(std::move(io)), thread_([this] { Run(); }) {}

StoreWorker::~StoreWorker() { Stop(); }

void StoreWorker::Stop() {
  {
    std::lock_guard lock(mu_);
    if (stopping_ && !thread_.joinable()) return;
    stopping_ = true;
    queue_.clear();
  }
  cv_.notify_all();
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
}

size_t StoreWorker::queued() const {
  std::lock_guard lock(mu_);
  return queue_.size();
}

void StoreWorker::Enqueue(std::function<void()> fn) {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    queue_.push_back(std::move(fn));
  }
  cv_.notify_one();
}

void StoreWorker::Run() {
  for (;;) {
    std::function<void()> task;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      task = std::move(queue_.front());
      queue_.pop_front();
    }
    task();
  }
}

}  // namespace unitsync::daemon
