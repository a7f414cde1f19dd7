#include "tests/faults/deployment.h"

#include <signal.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <thread>

#include "admin-cli/cli_test_util.h"
#include "pki/ca.h"
#include "store/digest.h"
#include "store/sync_state.h"

namespace unitsync::faults {

void UseBuiltBinaries(const char* argv0) {
  if (std::getenv("UNITSYNC_BIN") != nullptr) return;
  std::error_code ec;
  const auto self = std::filesystem::canonical(argv0, ec);
  const auto bin = (ec ? std::filesystem::path(argv0) : self).parent_path().parent_path() / "bin";
  ::setenv("UNITSYNC_BIN", bin.c_str(), 1);
}

Deployment::Deployment(int units) {
  nodes_.push_back("central");
  for (int i = 1; i <= units; ++i) {
    char id[16];
    std::snprintf(id, sizeof(id), "unit-%04d", i);
    units_.push_back(id);
    nodes_.push_back(id);
  }
}

Deployment::~Deployment() {
  StopAll();
  readers_.clear();
}

Status Deployment::Create() {
  const std::string ca = dir_.File("ca");
  if (auto r = pki::InitCa(ca, "test"); !r) return tl::unexpected(r.error());
  if (auto r = pki::IssueServer(ca, "central", {"127.0.0.1"}, dir_.File("central-bundle")); !r) {
    return tl::unexpected(r.error());
  }
  const uint16_t port = testing::FreePort();
  if (auto r = store::Replica::Create(Db("central"), store::Role::kCentral, "central"); !r) {
    return tl::unexpected(r.error());
  }
  testing::WriteFile(
      Config("central"),
      testing::Config("central", "central", Db("central"), dir_.File("central-bundle"),
                      "pki_dir = \"" + ca +
                          "\"\n[listen]\naddress = \"127.0.0.1\"\nport = " + std::to_string(port) +
                          "\n[control]\nsocket = \"" + dir_.File("central.sock") + "\"\n"));
  for (const std::string& u : units_) {
    if (auto r = pki::EnrollUnit(ca, u, dir_.File(u + "-bundle")); !r) {
      return tl::unexpected(r.error());
    }
    if (auto r = store::Replica::Create(Db(u), store::Role::kUnit, u); !r) {
      return tl::unexpected(r.error());
    }
    testing::WriteFile(
        Config(u),
        testing::Config("unit", u, Db(u), dir_.File(u + "-bundle"),
                        "[central]\nhost = \"127.0.0.1\"\nport = " + std::to_string(port) +
                            "\n[control]\nsocket = \"" + dir_.File(u + ".sock") + "\"\n"));
  }
  return {};
}

void Deployment::Start(const std::string& node) {
  daemons_[node] = std::make_unique<testing::Daemon>(Config(node), dir_.File(node + ".log"));
}

void Deployment::Kill(const std::string& node) {
  auto& d = daemons_.at(node);
  d->Signal(SIGKILL);
  d->Stop();  // the SIGTERM it sends reaches a process already dying; it reaps it
  d.reset();
}

bool Deployment::ExitedByItself(const std::string& node) {
  auto it = daemons_.find(node);
  return it != daemons_.end() && it->second && it->second->Exited();
}

std::string Deployment::ExitStatus(const std::string& node) {
  return "status " + std::to_string(daemons_.at(node)->Stop());
}

void Deployment::StopAll() {
  for (auto it = nodes_.rbegin(); it != nodes_.rend(); ++it) {
    auto d = daemons_.find(*it);
    if (d != daemons_.end() && d->second) d->second->Stop();
  }
  daemons_.clear();
}

store::Replica& Deployment::Reader(const std::string& node) {
  auto it = readers_.find(node);
  if (it == readers_.end()) {
    it = readers_.emplace(node, store::testing::ValueOrDie(store::Replica::Open(Db(node)), "open"))
             .first;
  }
  return it->second;
}

bool Deployment::VerifyAllEqual() {
  const auto r = cli::testing::RunUnitsyncctl({"--config", Config("central"), "--json", "verify"},
                                              dir_.File(""));
  last_verify_ = "exit " + std::to_string(r.code) + " " + r.out + r.err;
  if (r.code != 0) return false;
  const auto doc = nlohmann::json::parse(r.out, nullptr, false);
  if (doc.is_discarded() || !doc.contains("units")) return false;
  if (doc.contains("not_connected") && !doc["not_connected"].empty()) return false;
  if (doc["units"].size() != units_.size()) return false;
  for (const auto& u : doc["units"]) {
    if (u.contains("error") || !u.value("settled", false) || !u.value("all_equal", false)) {
      return false;
    }
  }
  return true;
}

int64_t Deployment::MsUntilAnswers(const std::string& node) {
  const auto start = std::chrono::steady_clock::now();
  const auto elapsed = [&] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                                 start)
        .count();
  };
  while (elapsed() < 10'000) {
    const auto r =
        cli::testing::RunUnitsyncctl({"--config", Config(node), "--json", "status"}, dir_.File(""));
    const auto doc = nlohmann::json::parse(r.out, nullptr, false);
    if (r.code == 0 && !doc.is_discarded() && doc.contains("daemon")) return elapsed();
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return -1;
}

int64_t Deployment::PushesAcked() {
  int64_t sum = 0;
  for (const std::string& u : units_) {
    auto st = store::GetOutboxState(Reader(u));
    if (st) sum += st->acked_seq;
  }
  return sum;
}

bool Deployment::DigestsEqual(const std::string& unit) {
  auto at_unit = store::ComputeDigests(Reader(unit), store::DigestScope{unit});
  auto at_central = store::ComputeDigests(Reader("central"), store::DigestScope{unit});
  return at_unit && at_central && *at_unit == *at_central;
}

void Deployment::PrintLogTails() {
  for (const std::string& n : nodes_) {
    const std::string log = testing::ReadFile(dir_.File(n + ".log"));
    size_t from = log.size();
    for (int lines = 0; from > 0 && lines < 30; --from) {
      if (log[from - 1] == '\n') ++lines;
    }
    std::fprintf(stderr, "--- %s.log (last lines)\n%s\n", n.c_str(), log.substr(from).c_str());
  }
}

}  // namespace unitsync::faults
