#include "bench/proc_stats.h"

#include <linux/tcp.h>  // tcp_info with tcpi_data_segs_in/out (glibc's lacks them)
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace unitsync::bench {
namespace {

Result<std::string> ReadProcFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Fail(Errc::kNotFound, path + " is not readable (process gone?)");
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// The number after "KEY:" in a /proc status file.
Result<int64_t> StatusField(const std::string& text, const std::string& key,
                            const std::string& path) {
  const std::string needle = "\n" + key + ":";
  const size_t at = ("\n" + text).find(needle);
  if (at == std::string::npos) return Fail(Errc::kCorrupt, path + " has no " + key);
  return std::stoll(text.substr(at + key.size() + 1));
}

}  // namespace

Result<double> CpuSeconds(pid_t pid) {
  const std::string path = "/proc/" + std::to_string(pid) + "/stat";
  auto text = ReadProcFile(path);
  if (!text) return tl::unexpected(text.error());
  // The command name (field 2) is in parentheses and may hold spaces: skip past the last ')'.
  const size_t close = text->rfind(')');
  if (close == std::string::npos) return Fail(Errc::kCorrupt, path + " does not parse");
  std::istringstream fields(text->substr(close + 2));
  std::string f;
  int64_t utime = -1, stime = -1;
  // Fields from 3 (state) on; utime is field 14, stime 15.
  for (int i = 3; i <= 15 && fields >> f; ++i) {
    if (i == 14) utime = std::stoll(f);
    if (i == 15) stime = std::stoll(f);
  }
  if (utime < 0 || stime < 0) return Fail(Errc::kCorrupt, path + " has no utime/stime");
  return static_cast<double>(utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

Result<int64_t> RssBytes(pid_t pid) {
  const std::string path = "/proc/" + std::to_string(pid) + "/status";
  auto text = ReadProcFile(path);
  if (!text) return tl::unexpected(text.error());
  auto kb = StatusField(*text, "VmRSS", path);
  if (!kb) return tl::unexpected(kb.error());
  return *kb * 1024;
}

namespace {

// Debian 12's glibc declares pidfd_open/pidfd_getfd without C linkage (glibc 2.36's
// sys/pidfd.h lacks __BEGIN_DECLS): call the system calls directly.
int PidfdOpen(pid_t pid) { return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)); }
int PidfdGetfd(int pidfd, int fd) {
  return static_cast<int>(::syscall(SYS_pidfd_getfd, pidfd, fd, 0));
}

}  // namespace

Result<TcpSegments> DataSegments(pid_t pid) {
  const int pidfd = PidfdOpen(pid);
  if (pidfd < 0) return Fail(Errc::kNotFound, "pidfd_open: " + std::string(std::strerror(errno)));
  TcpSegments sum;
  std::error_code ec;
  const std::string dir = "/proc/" + std::to_string(pid) + "/fd";
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    std::error_code lec;
    const std::string target = std::filesystem::read_symlink(entry.path(), lec).string();
    if (lec || target.rfind("socket:", 0) != 0) continue;
    const int fd = PidfdGetfd(pidfd, std::stoi(entry.path().filename().string()));
    if (fd < 0) continue;  // closed meanwhile
    tcp_info info{};
    socklen_t len = sizeof(info);
    if (::getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) == 0 &&
        len >= offsetof(tcp_info, tcpi_data_segs_out) + sizeof(info.tcpi_data_segs_out)) {
      sum.in += info.tcpi_data_segs_in;
      sum.out += info.tcpi_data_segs_out;
      ++sum.sockets;
    }
    ::close(fd);
  }
  ::close(pidfd);
  if (ec) return Fail(Errc::kNotFound, dir + " is not readable (process gone?)");
  return sum;
}

Result<std::map<pid_t, ThreadSwitches>> ContextSwitches(pid_t pid) {
  const std::string dir = "/proc/" + std::to_string(pid) + "/task";
  std::error_code ec;
  std::map<pid_t, ThreadSwitches> out;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    const std::string tdir = entry.path().string();
    auto status = ReadProcFile(tdir + "/status");
    if (!status) continue;  // the thread exited meanwhile
    auto vol = StatusField(*status, "voluntary_ctxt_switches", tdir + "/status");
    auto invol = StatusField(*status, "nonvoluntary_ctxt_switches", tdir + "/status");
    if (!vol) return tl::unexpected(vol.error());
    if (!invol) return tl::unexpected(invol.error());
    auto comm = ReadProcFile(tdir + "/comm");
    std::string name = comm ? *comm : "?";
    while (!name.empty() && name.back() == '\n') name.pop_back();
    out[static_cast<pid_t>(std::stol(entry.path().filename().string()))] =
        ThreadSwitches{name, *vol, *invol};
  }
  if (ec) return Fail(Errc::kNotFound, dir + " is not readable (process gone?)");
  return out;
}

int64_t SwitchesBetween(const std::map<pid_t, ThreadSwitches>& before,
                        const std::map<pid_t, ThreadSwitches>& after) {
  int64_t sum = 0;
  for (const auto& [tid, a] : after) {
    sum += a.voluntary + a.involuntary;
    if (auto it = before.find(tid); it != before.end()) {
      sum -= it->second.voluntary + it->second.involuntary;
    }
  }
  return sum;
}

Result<int> EstablishedOnLocalPort(uint16_t port) {
  int count = 0;
  for (const char* path : {"/proc/net/tcp", "/proc/net/tcp6"}) {
    std::ifstream in(path);
    if (!in) continue;
    std::string line;
    std::getline(in, line);  // header
    while (std::getline(in, line)) {
      // "  sl  local_address rem_address   st ..." with addresses as HEXIP:HEXPORT.
      std::istringstream f(line);
      std::string sl, local, remote, state;
      if (!(f >> sl >> local >> remote >> state)) continue;
      const size_t colon = local.rfind(':');
      if (colon == std::string::npos) continue;
      if (std::stoul(local.substr(colon + 1), nullptr, 16) == port && state == "01") ++count;
    }
  }
  return count;
}

std::string LoadAverage() {
  std::ifstream in("/proc/loadavg");
  std::string one;
  return in >> one ? one : "?";
}

uint16_t FreePort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

}  // namespace unitsync::bench
