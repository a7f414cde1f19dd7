// Child processes for the whole-system benchmarks: unitsyncd daemons that stay up for a run
// and unitsyncctl commands that run to completion. Every process a benchmark starts is
// stopped when its Child dies — on success, on an error return, and when the benchmark is
// interrupted (see BlockStopSignals); a child also gets SIGTERM if the benchmark process
// itself is killed (PR_SET_PDEATHSIG), so no daemon outlives a run.
//
// Threading: create and stop children from the thread that called BlockStopSignals (the
// parent-death signal is tied to the thread that forked).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

#include "common/error.h"

namespace unitsync::bench {

// Blocks SIGINT, SIGTERM and SIGHUP in the calling thread and every thread it starts later,
// so Ctrl-C does not kill the benchmark before it has stopped its children; loops poll
// StopRequested() instead and return an error, which unwinds and stops them. Call first
// thing in main(). Children get the default mask back before they exec.
void BlockStopSignals();

// True once one of the blocked stop signals is pending.
bool StopRequested();

// A started program. Move-only; the destructor stops it (Stop()).
class Child {
 public:
  // Starts `argv[0]` with `argv`; stdout and stderr are appended to `log_path` (created 0600).
  // Fails with kIo when fork fails; an exec failure shows up as exit status 127.
  static Result<Child> Start(const std::vector<std::string>& argv, const std::string& log_path);

  Child(Child&& other) noexcept : pid_(other.pid_), status_(other.status_) { other.pid_ = -1; }
  Child& operator=(Child&&) = delete;
  ~Child() { Stop(); }

  pid_t pid() const { return pid_; }
  // Still running (not exited, not yet reaped).
  bool Running();
  // SIGTERM, then waits up to `grace` before SIGKILL. Returns the exit status (128 + signal
  // when killed by one). Idempotent.
  int Stop(std::chrono::milliseconds grace = std::chrono::seconds(10));

 private:
  explicit Child(pid_t pid) : pid_(pid) {}
  pid_t pid_ = -1;
  int status_ = -1;
};

// Runs `argv` to completion with stdout discarded and stderr inherited. kInternal naming
// the program and its exit status when it does not exit 0.
Status RunTool(const std::vector<std::string>& argv);

// The directory of the running executable (where the build puts unitsyncd, unitsyncctl).
std::string OwnBinDir();

}  // namespace unitsync::bench
