// Running the real unitsyncctl binary from tests (admin-cli and pki CLI tests).
#pragma once

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace unitsync::cli::testing {

struct CliResult {
  int code = -1;
  std::string out;
  std::string err;
};

// $UNITSYNC_BIN/unitsyncctl (ctest sets it), else build/bin next to build/tests.
inline std::string UnitsyncctlPath() {
  if (const char* dir = std::getenv("UNITSYNC_BIN")) {
    return (std::filesystem::path(dir) / "unitsyncctl").string();
  }
  const auto self = std::filesystem::read_symlink("/proc/self/exe");
  return (self.parent_path().parent_path() / "bin" / "unitsyncctl").string();
}

inline std::string ReadWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Runs unitsyncctl with `args`; stdout and stderr go through files in `scratch_dir`
// (created 0600); the child runs in `cwd` when it is not empty.
inline CliResult RunUnitsyncctl(const std::vector<std::string>& args,
                                const std::string& scratch_dir, const std::string& cwd = {}) {
  const std::string bin = UnitsyncctlPath();
  const std::string out_path = scratch_dir + "/stdout.txt";
  const std::string err_path = scratch_dir + "/stderr.txt";
  std::vector<std::string> full = {bin};
  full.insert(full.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : full) argv.push_back(a.data());
  argv.push_back(nullptr);
  const pid_t pid = fork();
  if (pid == 0) {
    const int out = open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    const int err = open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (out < 0 || err < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0 ||
        (!cwd.empty() && chdir(cwd.c_str()) != 0)) {
      _exit(127);
    }
    execv(bin.c_str(), argv.data());
    _exit(127);
  }
  CliResult r;
  int status = 0;
  if (pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status)) {
    r.code = WEXITSTATUS(status);
  }
  r.out = ReadWholeFile(out_path);
  r.err = ReadWholeFile(err_path);
  return r;
}

}  // namespace unitsync::cli::testing
