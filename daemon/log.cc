#include "daemon/log.h"

#include <ctime>

namespace unitsync::daemon {
namespace {

const char* LevelName(protocol::LogLevel level) {
  switch (level) {
    case protocol::LogLevel::kInfo:
      return "info";
    case protocol::LogLevel::kWarning:
      return "warn";
    case protocol::LogLevel::kError:
      return "error";
  }
  return "?";
}

std::string Timestamp() {
  const auto now = std::chrono::system_clock::now();
  const std::time_t t = std::chrono::system_clock::to_time_t(now);
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[96];
  std::snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
  return buf;
}

}  // namespace

void Logger::Line(protocol::LogLevel level, const std::string& event, const std::string& fields) {
  std::lock_guard lock(mu_);
  const auto now = std::chrono::steady_clock::now();
  Budget& b = budgets_[event];
  if (now - b.window_start >= kWindow) {
    if (b.suppressed > 0) {
      std::fprintf(out_, "ts=%s level=warn event=log_suppressed of=%s suppressed=%d\n",
                   Timestamp().c_str(), event.c_str(), b.suppressed);
    }
    b = Budget{now, 0, 0};
  }
  if (b.used >= kBurst) {
    ++b.suppressed;
    return;
  }
  ++b.used;
  std::fprintf(out_, "ts=%s level=%s event=%s%s%s\n", Timestamp().c_str(), LevelName(level),
               event.c_str(), fields.empty() ? "" : " ", fields.c_str());
  std::fflush(out_);
}

}  // namespace unitsync::daemon
