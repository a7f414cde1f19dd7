// What the kernel reports about a running process, for the daemon benchmarks: CPU time
// (/proc/PID/stat utime + stime), resident memory (/proc/PID/status VmRSS), context
// switches per thread (/proc/PID/task/*/status), and the TCP connections established on a
// local port (/proc/net/tcp, tcp6). Every reader fails with kNotFound when the process is
// gone and kCorrupt when a file does not have the expected field.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <string>

#include "common/error.h"

namespace unitsync::bench {

// utime + stime of the whole process (all threads), in seconds.
Result<double> CpuSeconds(pid_t pid);

// VmRSS in bytes.
Result<int64_t> RssBytes(pid_t pid);

// Data segments over all TCP sockets of a process, from the kernel's TCP_INFO
// (tcpi_data_segs_in/out) of each socket, read through a duplicate of its descriptor
// (pidfd_getfd; needs ptrace access to `pid`: the benchmark's own child). An idle session
// sends and receives one segment per message, so over an idle window these count the
// keepalive PINGs and PONGs. Sockets closed meanwhile drop out of the sum.
struct TcpSegments {
  int64_t in = 0;
  int64_t out = 0;
  int sockets = 0;  // TCP sockets summed (the listener included)
};
Result<TcpSegments> DataSegments(pid_t pid);

// Context switches of one thread: a voluntary one each time it blocked (waited for an
// event, a lock, the disk), an involuntary one each time the scheduler preempted it.
struct ThreadSwitches {
  std::string name;  // /proc/PID/task/TID/comm
  int64_t voluntary = 0;
  int64_t involuntary = 0;
};

// Per thread id, every thread alive now.
Result<std::map<pid_t, ThreadSwitches>> ContextSwitches(pid_t pid);

// Sum of voluntary + involuntary over the threads of `after`, minus the same threads'
// counts in `before` (a thread that appeared in between counts from zero).
int64_t SwitchesBetween(const std::map<pid_t, ThreadSwitches>& before,
                        const std::map<pid_t, ThreadSwitches>& after);

// TCP connections in state ESTABLISHED whose local port is `port` (the accepted side of a
// listener on that port), IPv4 and IPv6.
Result<int> EstablishedOnLocalPort(uint16_t port);

// The 1-minute load average (/proc/loadavg), as text; "?" when unreadable.
std::string LoadAverage();

// A free TCP port on 127.0.0.1 at the time of the call.
uint16_t FreePort();

}  // namespace unitsync::bench
