// systemd's service notifications for a Type=notify unit (sd_notify(3)):
//
//   READY=1       once the node is listening (central) / started (unit), replica open
//   STATUS=...    the line `systemctl status` shows; sent when it changes, at most once
//                 per kStatusInterval (a newer text replaces one still waiting)
//   WATCHDOG=1    every half of WATCHDOG_USEC, each one only after a no-op task made the
//                 round trip I/O thread → store thread → I/O thread: a wedged store thread
//                 (or I/O thread) stops the pings, and systemd restarts the service
//   RELOADING=1   when a SIGHUP reload starts (READY=1 again when it is over)
//   STOPPING=1    on SIGTERM
//
// Without NOTIFY_SOCKET in the environment every call is a no-op: nothing is sent, no
// timer is armed, no store task submitted. The sender is a seam: tests pass their own.
//
// I/O thread only. Must outlive nothing: pending timers and store answers check a token.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "daemon/log.h"
#include "daemon/store_worker.h"

namespace unitsync::daemon {

class SystemdNotifier {
 public:
  // Sends one notification (lines "KEY=value\n..."); returns what sd_notify returns
  // (> 0 sent, 0 no socket, < 0 -errno).
  using Sender = std::function<int(const std::string& message)>;

  struct Options {
    Sender send;                            // empty: notifications off
    std::chrono::microseconds watchdog{0};  // WATCHDOG_USEC; 0: no watchdog pings
  };

  static constexpr std::chrono::milliseconds kStatusInterval{1000};

  // sd_notify to $NOTIFY_SOCKET when it is set; the watchdog interval when
  // sd_watchdog_enabled says so (WATCHDOG_USEC set and WATCHDOG_PID unset or ours).
  static Options FromEnvironment();

  SystemdNotifier(boost::asio::io_context& io, StoreWorker& store, Logger& log,
                  Options options = FromEnvironment());
  ~SystemdNotifier();
  SystemdNotifier(const SystemdNotifier&) = delete;
  SystemdNotifier& operator=(const SystemdNotifier&) = delete;

  bool enabled() const { return static_cast<bool>(options_.send); }
  std::chrono::microseconds watchdog() const { return options_.watchdog; }

  // READY=1, with the current status if one was set.
  void Ready();
  // RELOADING=1 (with MONOTONIC_USEC, as systemd ≥ 253 wants); call Ready() after.
  void Reloading();
  // STOPPING=1; stops the watchdog pings and any status still waiting.
  void Stopping();
  // The status line (newlines become spaces). Unchanged text sends nothing.
  void SetStatus(const std::string& text);
  // Starts the watchdog pings if systemd asked for them. Idempotent.
  void StartWatchdog();

 private:
  void Send(const std::string& message);
  void SendStatus();
  void ArmWatchdog();
  void ProbeStore();

  StoreWorker& store_;
  Logger& log_;
  Options options_;
  boost::asio::steady_timer status_timer_;
  boost::asio::steady_timer watchdog_timer_;
  std::string status_;       // the newest text
  std::string status_sent_;  // the last text sent
  std::chrono::steady_clock::time_point status_sent_at_{};
  bool status_timer_armed_ = false;
  bool watchdog_running_ = false;
  bool probe_outstanding_ = false;
  bool stopping_ = false;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace unitsync::daemon
