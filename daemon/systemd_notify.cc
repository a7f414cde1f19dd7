#include "daemon/systemd_notify.h"

#include <systemd/sd-daemon.h>

#include <cstdlib>
#include <cstring>
#include <ctime>

namespace unitsync::daemon {

SystemdNotifier::Options SystemdNotifier::FromEnvironment() {
  Options o;
  const char* socket = std::getenv("NOTIFY_SOCKET");
  if (socket == nullptr || *socket == '\0') return o;
  o.send = [](const std::string& message) { return sd_notify(0, message.c_str()); };
  uint64_t usec = 0;
  if (sd_watchdog_enabled(0, &usec) > 0) o.watchdog = std::chrono::microseconds(usec);
  return o;
}

SystemdNotifier::SystemdNotifier(boost::asio::io_context& io, StoreWorker& store, Logger& log,
                                 Options options)
    : store_(store),
      log_(log),
      options_(std::move(options)),
      status_timer_(io),
      watchdog_timer_(io) {}

SystemdNotifier::~SystemdNotifier() {
  *alive_ = false;
  status_timer_.cancel();
  watchdog_timer_.cancel();
}

void SystemdNotifier::Send(const std::string& message) {
  if (!enabled()) return;
  const int r = options_.send(message);
  if (r < 0) {
    // The event name only: the message may carry the status text.
    log_.Warn("notify_failed",
              "error=\"" + std::string(std::strerror(-r)) + "\" hint=\"is NOTIFY_SOCKET right?\"");
  }
}

void SystemdNotifier::Ready() {
  if (!enabled()) return;
  std::string message = "READY=1";
  if (!status_.empty()) {
    message += "\nSTATUS=" + status_;
    status_sent_ = status_;
  }
  Send(message);
  // Timed from when it went out, so two sends are never closer than the interval.
  if (!status_.empty()) status_sent_at_ = std::chrono::steady_clock::now();
}

void SystemdNotifier::Reloading() {
  if (!enabled()) return;
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  const uint64_t usec =
      static_cast<uint64_t>(ts.tv_sec) * 1'000'000u + static_cast<uint64_t>(ts.tv_nsec) / 1000u;
  Send("RELOADING=1\nMONOTONIC_USEC=" + std::to_string(usec));
}

void SystemdNotifier::Stopping() {
  if (!enabled()) return;
  stopping_ = true;
  status_timer_.cancel();
  watchdog_timer_.cancel();
  Send("STOPPING=1\nSTATUS=stopping");
}

void SystemdNotifier::SetStatus(const std::string& text) {
  if (!enabled() || stopping_) return;
  status_ = text;
  for (char& c : status_) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  if (status_ == status_sent_ || status_timer_armed_) return;  // the timer sends the newest
  const auto now = std::chrono::steady_clock::now();
  const auto next = status_sent_at_ + kStatusInterval;
  if (now >= next) {
    SendStatus();
    return;
  }
  status_timer_armed_ = true;
  status_timer_.expires_at(next);
  std::weak_ptr<bool> alive = alive_;
  status_timer_.async_wait([this, alive](const boost::system::error_code& ec) {
    if (alive.expired() || !*alive.lock()) return;
    status_timer_armed_ = false;
    if (ec || stopping_) return;
    if (status_ != status_sent_) SendStatus();
  });
}

void SystemdNotifier::SendStatus() {
  status_sent_ = status_;
  Send("STATUS=" + status_);
  status_sent_at_ = std::chrono::steady_clock::now();  // from when it went out, as in Ready
}

void SystemdNotifier::StartWatchdog() {
  if (!enabled() || options_.watchdog.count() <= 0 || watchdog_running_ || stopping_) return;
  watchdog_running_ = true;
  ProbeStore();
  ArmWatchdog();
}

void SystemdNotifier::ArmWatchdog() {
  watchdog_timer_.expires_after(options_.watchdog / 2);
  std::weak_ptr<bool> alive = alive_;
  watchdog_timer_.async_wait([this, alive](const boost::system::error_code& ec) {
    if (ec || alive.expired() || !*alive.lock() || stopping_) return;
    ProbeStore();
    ArmWatchdog();
  });
}

void SystemdNotifier::ProbeStore() {
  // One probe at a time: while the store thread has not answered the last one, no new
  // probe and no ping, so a wedged store thread runs the watchdog out.
  if (probe_outstanding_) return;
  probe_outstanding_ = true;
  std::weak_ptr<bool> alive = alive_;
  store_.Submit([] { return true; },
                [this, alive](bool) {
                  if (alive.expired() || !*alive.lock()) return;
                  probe_outstanding_ = false;
                  if (!stopping_) Send("WATCHDOG=1");
                });
}

}  // namespace unitsync::daemon
