// Operator log: one line per event on stderr, `key=value` fields, stable event names.
// A repeating event is rate-limited: at most kBurst lines per event name per window, then
// one "suppressed=N" summary when the window ends. Callers never pass row values; the
// sync core's log lines carry ids, seqs and codes only.
// Thread-safe (a mutex guards the rate limiter and the stream).
#pragma once

#include <chrono>
#include <cstdio>
#include <map>
#include <mutex>
#include <string>

#include "protocol/sync_types.h"

namespace unitsync::daemon {

class Logger {
 public:
  static constexpr int kBurst = 10;
  static constexpr std::chrono::seconds kWindow{10};

  explicit Logger(std::FILE* out = stderr) : out_(out) {}

  void Line(protocol::LogLevel level, const std::string& event, const std::string& fields);
  void Info(const std::string& event, const std::string& fields = {}) {
    Line(protocol::LogLevel::kInfo, event, fields);
  }
  void Warn(const std::string& event, const std::string& fields = {}) {
    Line(protocol::LogLevel::kWarning, event, fields);
  }
  void Error(const std::string& event, const std::string& fields = {}) {
    Line(protocol::LogLevel::kError, event, fields);
  }

 private:
  struct Budget {
    std::chrono::steady_clock::time_point window_start;
    int used = 0;
    int suppressed = 0;
  };
  std::FILE* out_;
  std::mutex mu_;
  std::map<std::string, Budget> budgets_;  // GUARDED_BY(mu_)
};

}  // namespace unitsync::daemon
