// Helpers for tests that run real unitsyncd processes on loopback.
#pragma once

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace unitsync::testing {

inline uint16_t FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

// Environment variables for a daemon; a value of kOwnPid becomes the daemon's pid (as
// systemd sets WATCHDOG_PID).
using DaemonEnv = std::vector<std::pair<std::string, std::string>>;
inline constexpr const char* kOwnPid = "<pid>";

class Daemon {
 public:
  // Starts unitsyncd with `config`, stderr to `log`. The systemd variables of the test's
  // own environment are never passed on; `env` may set them.
  Daemon(const std::string& config, const std::string& log, const DaemonEnv& env = {}) {
    const std::string bin = std::string(std::getenv("UNITSYNC_BIN")) + "/unitsyncd";
    pid_ = ::fork();
    if (pid_ == 0) {
      FILE* f = std::freopen(log.c_str(), "w", stderr);
      (void)f;
      for (const char* v : {"NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"}) ::unsetenv(v);
      for (const auto& [name, value] : env) {
        const std::string v = value == kOwnPid ? std::to_string(::getpid()) : value;
        ::setenv(name.c_str(), v.c_str(), 1);
      }
      ::execl(bin.c_str(), bin.c_str(), "--config", config.c_str(), static_cast<char*>(nullptr));
      std::_Exit(127);
    }
  }
  ~Daemon() { Stop(); }
  // True once the process has ended by itself (its status is then what Stop returns).
  bool Exited() {
    if (pid_ <= 0) return true;
    int st = 0;
    if (::waitpid(pid_, &st, WNOHANG) != pid_) return false;
    pid_ = -1;
    status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    return true;
  }
  pid_t pid() const { return pid_; }
  // Sends `sig` (e.g. SIGHUP) to the running daemon.
  void Signal(int sig) {
    if (pid_ > 0) ::kill(pid_, sig);
  }
  // SIGTERM and wait; the exit status. A daemon that has not exited 60 s after SIGTERM
  // (a shutdown that hangs) gets its threads' stacks written to stderr (when gdb is
  // installed) and SIGKILL: the test then fails with 137 and says where the daemon stood,
  // instead of hanging until ctest's timeout.
  int Stop() {
    if (pid_ <= 0) return status_;
    ::kill(pid_, SIGTERM);
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (!Exited()) {
      if (std::chrono::steady_clock::now() < until) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        continue;
      }
      std::fprintf(stderr, "unitsyncd pid %d did not exit within 60 s of SIGTERM\n",
                   static_cast<int>(pid_));
      const std::string gdb = "command -v gdb >/dev/null && gdb -p " + std::to_string(pid_) +
                              " -batch -ex 'thread apply all bt' 1>&2";
      (void)!std::system(gdb.c_str());
      ::kill(pid_, SIGKILL);
      int st = 0;
      ::waitpid(pid_, &st, 0);
      pid_ = -1;
      status_ = 128 + SIGKILL;
    }
    return status_;
  }

 private:
  pid_t pid_ = -1;
  int status_ = -1;
};

inline void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream(path) << text;
}

inline std::string Config(const std::string& role, const std::string& node, const std::string& db,
                          const std::string& bundle, const std::string& extra) {
  return "role = \"" + role + "\"\nnode_id = \"" + node + "\"\ndatabase = \"" + db +
         "\"\n[tls]\nbundle = \"" + bundle + "\"\n" + extra +
         "[sync]\nchange_poll_ms = 600000\nping_interval_ms = 1000\nread_deadline_ms = 3000\n"
         "backoff_base_ms = 100\nbackoff_max_ms = 1000\nhandshake_timeout_ms = 2000\n";
}

// Waits (bounded) for `done`; convergence time is measured by the benchmarks, not here.
template <typename F>
bool Eventually(F done, std::chrono::seconds limit = std::chrono::seconds(60)) {
  const auto until = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < until) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return done();
}

inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace unitsync::testing
