// Staff writing while a fault test runs: a thread that writes to a real replica file
// through its own SQLite connection (another program, as sqlite3 or an app would) at a
// steady pace, and remembers which rows it created, so the test can check that every
// write arrived. Rows carry ids and made-up codes only, never anything like a value a
// person would enter.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "store/replica.h"

namespace unitsync::testing {

class StaffWriter {
 public:
  // Step `n` returns the SQL of one write (a transaction, or one statement) and the id of
  // the row it creates ("" for an update). The writer calls it every `period`.
  using Step = std::function<std::pair<std::string, std::string>(uint64_t n, std::mt19937_64&)>;

  StaffWriter(std::string db_path, std::chrono::milliseconds period, uint64_t seed, Step step)
      : db_path_(std::move(db_path)), period_(period), rng_(seed), step_(std::move(step)) {}
  ~StaffWriter() { Stop(); }

  void Start() {
    thread_ = std::thread([this] { Run(); });
  }
  // Stops after the write under way; afterwards created() is final.
  void Stop() {
    running_ = false;
    if (thread_.joinable()) thread_.join();
  }

  std::vector<std::string> created() const {
    std::lock_guard lock(mu_);
    return created_;
  }
  uint64_t writes() const { return writes_; }
  // Writes SQLite refused (busy for over 5 s, say); each is retried as a new step.
  uint64_t failures() const { return failures_; }
  const std::string& error() const { return error_; }  // the first failure, if any

 private:
  void Run() {
    auto replica = store::Replica::Open(db_path_);
    if (!replica) {
      error_ = replica.error().ToString();
      ++failures_;
      return;
    }
    for (uint64_t n = 0; running_; ++n) {
      auto [sql, id] = step_(n, rng_);
      if (auto st = replica->db().Exec(sql); st) {
        ++writes_;
        if (!id.empty()) {
          std::lock_guard lock(mu_);
          created_.push_back(id);
        }
      } else {
        if (failures_++ == 0) error_ = st.error().ToString();
        (void)replica->db().Exec("ROLLBACK");
      }
      std::this_thread::sleep_for(period_);
    }
  }

  const std::string db_path_;
  const std::chrono::milliseconds period_;
  std::mt19937_64 rng_;  // writer thread only
  Step step_;
  std::thread thread_;
  std::atomic<bool> running_{true};
  std::atomic<uint64_t> writes_{0};
  std::atomic<uint64_t> failures_{0};
  std::string error_;  // written by the writer thread before Stop() returns
  mutable std::mutex mu_;
  std::vector<std::string> created_;  // guarded by mu_
};

}  // namespace unitsync::testing
