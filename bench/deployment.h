// A unitsync deployment on loopback for the whole-system benchmarks, built the way an
// admin builds one (and scripts/demo does): `unitsyncctl pki init-ca`, `pki server`,
// `pki enroll`, `unitsyncctl init`, one config file per node, real unitsyncd processes.
//
// Layout under the work directory:
//   ca/                    the deployment CA (central's pki_dir)
//   NODE/bundle/           the node's enrollment bundle
//   NODE/replica.db        its replica
//   NODE/unitsyncd.toml    its config
//   NODE/unitsyncd.log     its log (stdout + stderr)
//
// Not thread-safe; use from the benchmark's main thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "bench/process.h"
#include "common/error.h"

namespace unitsync::bench {

// A directory for one run: a fresh one under the system temp dir, removed with everything
// in it when the object dies; or, when `keep` names one, that directory, created if
// missing and kept (to look at the logs afterwards). Neither copyable nor movable.
class WorkDir {
 public:
  explicit WorkDir(const std::string& keep);
  ~WorkDir();
  WorkDir(const WorkDir&) = delete;
  WorkDir& operator=(const WorkDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  bool remove_ = true;
};

class Deployment {
 public:
  static constexpr const char* kCentral = "central";

  // `bin_dir` holds unitsyncd and unitsyncctl; `dir` must exist; central listens on
  // 127.0.0.1:`port`.
  Deployment(std::string bin_dir, std::string dir, uint16_t port);

  // The CA, central's server bundle (for 127.0.0.1), central's replica and config.
  // `sync_toml` is appended under [sync] (empty: every default).
  Status AddCentral(const std::string& sync_toml = {});
  // Enrolls `unit` with the CA, creates its replica and config (as above).
  Status AddUnit(const std::string& unit, const std::string& sync_toml = {});
  // Rewrites a node's config with another [sync] section.
  Status WriteConfig(const std::string& node, const std::string& sync_toml);

  // Starts the node's unitsyncd (log appended to its log file).
  Result<Child> Start(const std::string& node) const;

  std::string Dir(const std::string& node) const { return dir_ + "/" + node; }
  std::string Db(const std::string& node) const { return Dir(node) + "/replica.db"; }
  std::string Bundle(const std::string& node) const { return Dir(node) + "/bundle"; }
  std::string Log(const std::string& node) const { return Dir(node) + "/unitsyncd.log"; }
  std::string CaDir() const { return dir_ + "/ca"; }
  uint16_t port() const { return port_; }
  const std::string& bin_dir() const { return bin_dir_; }

 private:
  Status Ctl(std::vector<std::string> args) const;

  std::string bin_dir_;
  std::string dir_;
  uint16_t port_;
};

// Waits until the file at `path` contains `needle` `count` times (a log line), polling
// every 20 ms. kInternal on timeout (message names the file and needle), kInternal
// "interrupted" when a stop signal is pending.
Status WaitForLog(const std::string& path, const std::string& needle, int count,
                  std::chrono::milliseconds timeout);

// The last `lines` lines of a log file, for an error report.
std::string LogTail(const std::string& path, size_t lines);

// Sleeps for `duration` in short steps; kInternal "interrupted" as soon as a stop signal is
// pending.
Status Idle(std::chrono::milliseconds duration);

}  // namespace unitsync::bench
