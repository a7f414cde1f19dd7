// Central and N units as real unitsyncd processes on loopback, with a deployment CA, real
// certificates, configs and replica files in a temporary directory (the set-up of
// tests/recovery_fixture.h, without gtest), for the kill -9 driver. Nodes are started,
// killed with SIGKILL and restarted by name. Everything runs on the caller's thread.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "store/replica.h"
#include "store/test_util.h"
#include "tests/daemon_util.h"

namespace unitsync::faults {

// Sets UNITSYNC_BIN (where unitsyncd and unitsyncctl are) to <dir of argv0>/../bin when
// the environment does not set it (ctest does).
void UseBuiltBinaries(const char* argv0);

class Deployment {
 public:
  explicit Deployment(int units);
  ~Deployment();

  // The CA, central's server bundle, each unit's enrolment, fresh replicas and configs.
  Status Create();

  // "central", then the units.
  const std::vector<std::string>& nodes() const { return nodes_; }
  const std::vector<std::string>& units() const { return units_; }
  std::string Db(const std::string& node) const { return dir_.File(node + ".db"); }

  // Starts the node's daemon (its log replaces the previous one's).
  void Start(const std::string& node);
  // SIGKILL, then reaps it.
  void Kill(const std::string& node);
  // True when the node's daemon ended without being killed; ExitStatus says how.
  bool ExitedByItself(const std::string& node);
  std::string ExitStatus(const std::string& node);
  // SIGTERM to every daemon, units first.
  void StopAll();

  // Milliseconds until the node's daemon answers `unitsyncctl status` on its control
  // socket (-1: not within 10 s).
  int64_t MsUntilAnswers(const std::string& node);
  // Pushes central acknowledged, summed over the units (their outboxes' acked seq).
  int64_t PushesAcked();
  // A connection of this thread to the node's replica, opened on first use.
  store::Replica& Reader(const std::string& node);
  // `unitsyncctl verify` at central: exit 0, every unit identical, settled and connected.
  bool VerifyAllEqual();
  const std::string& LastVerify() const { return last_verify_; }
  // store::ComputeDigests of `unit`'s scope, at the unit and at central.
  bool DigestsEqual(const std::string& unit);
  // The last lines of every node's current log, to stderr.
  void PrintLogTails();

 private:
  std::string Config(const std::string& node) const { return dir_.File(node + ".toml"); }

  store::testing::TempDir dir_;
  std::vector<std::string> units_;
  std::vector<std::string> nodes_;
  std::map<std::string, std::unique_ptr<testing::Daemon>> daemons_;
  std::map<std::string, store::Replica> readers_;
  std::string last_verify_;
};

}  // namespace unitsync::faults
