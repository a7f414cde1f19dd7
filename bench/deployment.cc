#include "bench/deployment.h"

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>
#include <vector>

namespace unitsync::bench {

namespace fs = std::filesystem;

WorkDir::WorkDir(const std::string& keep) {
  if (!keep.empty()) {
    path_ = fs::absolute(keep).string();
    remove_ = false;
  } else {
    std::random_device rd;
    path_ = (fs::temp_directory_path() / ("unitsync-bench-" + std::to_string(rd()))).string();
  }
  fs::create_directories(path_);
}

WorkDir::~WorkDir() {
  if (!remove_) return;
  std::error_code ec;
  fs::remove_all(path_, ec);
}

Deployment::Deployment(std::string bin_dir, std::string dir, uint16_t port)
    : bin_dir_(std::move(bin_dir)), dir_(std::move(dir)), port_(port) {}

Status Deployment::Ctl(std::vector<std::string> args) const {
  args.insert(args.begin(), bin_dir_ + "/unitsyncctl");
  return RunTool(args);
}

Status Deployment::AddCentral(const std::string& sync_toml) {
  std::error_code ec;
  fs::create_directories(Dir(kCentral), ec);
  if (ec) return Fail(Errc::kIo, "cannot create " + Dir(kCentral) + ": " + ec.message());
  if (auto st = Ctl({"pki", "init-ca", "--dir", CaDir(), "--name", "bench"}); !st) return st;
  if (auto st = Ctl({"pki", "server", "--ca", CaDir(), "--name", kCentral, "--host", "127.0.0.1",
                     "--out", Bundle(kCentral)});
      !st) {
    return st;
  }
  if (auto st = Ctl({"--db", Db(kCentral), "init", "--role", "central", "--node-id", kCentral});
      !st) {
    return st;
  }
  return WriteConfig(kCentral, sync_toml);
}

Status Deployment::AddUnit(const std::string& unit, const std::string& sync_toml) {
  std::error_code ec;
  fs::create_directories(Dir(unit), ec);
  if (ec) return Fail(Errc::kIo, "cannot create " + Dir(unit) + ": " + ec.message());
  if (auto st = Ctl({"pki", "enroll", "--ca", CaDir(), "--unit", unit, "--out", Bundle(unit)});
      !st) {
    return st;
  }
  if (auto st = Ctl({"--db", Db(unit), "init", "--role", "unit", "--node-id", unit}); !st) {
    return st;
  }
  return WriteConfig(unit, sync_toml);
}

Status Deployment::WriteConfig(const std::string& node, const std::string& sync_toml) {
  const bool central = node == kCentral;
  std::ostringstream c;
  c << "role = \"" << (central ? "central" : "unit") << "\"\n"
    << "node_id = \"" << node << "\"\n"
    << "database = \"" << Db(node) << "\"\n\n[tls]\nbundle = \"" << Bundle(node) << "\"\n";
  if (central) {
    c << "pki_dir = \"" << CaDir() << "\"\n\n[listen]\naddress = \"127.0.0.1\"\nport = " << port_
      << "\n";
  } else {
    c << "\n[central]\nhost = \"127.0.0.1\"\nport = " << port_ << "\nnode_id = \"" << kCentral
      << "\"\n";
  }
  c << "\n[control]\nsocket = \"" << Dir(node) << "/control.sock\"\n";
  if (!sync_toml.empty()) c << "\n[sync]\n" << sync_toml << "\n";
  const std::string path = Dir(node) + "/unitsyncd.toml";
  std::ofstream out(path, std::ios::trunc);
  out << c.str();
  out.close();
  if (!out) return Fail(Errc::kIo, "cannot write " + path);
  return {};
}

Result<Child> Deployment::Start(const std::string& node) const {
  return Child::Start({bin_dir_ + "/unitsyncd", "--config", Dir(node) + "/unitsyncd.toml"},
                      Log(node));
}

Status WaitForLog(const std::string& path, const std::string& needle, int count,
                  std::chrono::milliseconds timeout) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    std::ifstream in(path);
    std::string line;
    int seen = 0;
    while (std::getline(in, line)) {
      if (line.find(needle) != std::string::npos) ++seen;
    }
    if (seen >= count) return {};
    if (StopRequested()) return Fail(Errc::kInternal, "interrupted");
    if (std::chrono::steady_clock::now() >= until) {
      return Fail(Errc::kInternal, path + ": no \"" + needle + "\" x" + std::to_string(count) +
                                       " within " + std::to_string(timeout.count()) + " ms");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

std::string LogTail(const std::string& path, size_t lines) {
  std::ifstream in(path);
  std::vector<std::string> all;
  for (std::string line; std::getline(in, line);) all.push_back(line);
  std::string out;
  for (size_t i = all.size() > lines ? all.size() - lines : 0; i < all.size(); ++i) {
    out += all[i] + "\n";
  }
  return out;
}

Status Idle(std::chrono::milliseconds duration) {
  const auto until = std::chrono::steady_clock::now() + duration;
  while (std::chrono::steady_clock::now() < until) {
    if (StopRequested()) return Fail(Errc::kInternal, "interrupted");
    std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(
        std::chrono::milliseconds(100), until - std::chrono::steady_clock::now()));
  }
  return {};
}

}  // namespace unitsync::bench
