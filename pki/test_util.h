// Helpers for pki/ tests: a temp directory, file modes, certificate verification
// with OpenSSL's own verifier, and running the openssl command line tool.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <openssl/x509.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "common/error.h"
#include "pki/handles.h"
#include "pki/keys.h"

namespace unitsync::pki::testing {

class TempDir {
 public:
  TempDir() {
    std::random_device rd;
    path_ = std::filesystem::temp_directory_path() /
            ("unitsync-pki-test-" + std::to_string(rd()) + std::to_string(rd()));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string File(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

// Sets the process umask for one scope.
class ScopedUmask {
 public:
  explicit ScopedUmask(mode_t mask) : old_(::umask(mask)) {}
  ~ScopedUmask() { ::umask(old_); }

 private:
  mode_t old_;
};

template <typename T>
T Must(Result<T> r, const char* what = "") {
  // Throwing fails just the current test (gtest catches it), with the reason.
  if (!r) throw std::runtime_error(std::string(what) + ": " + r.error().ToString());
  return std::move(*r);
}

inline void MustOk(const Status& st, const char* what = "") {
  if (!st) throw std::runtime_error(std::string(what) + ": " + st.error().ToString());
}

// Permission bits (e.g. 0600) of `path`; -1 when it cannot be stat-ed.
inline int ModeOf(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return -1;
  return static_cast<int>(st.st_mode & 07777);
}

inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline void WriteFile(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
}

inline X509Ptr Cert(const std::string& path) { return Must(LoadCertificate(path), "load cert"); }

// X509_V_OK when `cert` verifies against the CA in `ca_path` (and, if `crl_path` is
// not empty, the CRL with X509_V_FLAG_CRL_CHECK) for `purpose`; else the verify error.
inline int Verify(const std::string& ca_path, const std::string& cert_path,
                  const std::string& crl_path = "", int purpose = X509_PURPOSE_SSL_CLIENT) {
  X509Ptr ca = Cert(ca_path);
  X509Ptr cert = Cert(cert_path);
  X509StorePtr store(X509_STORE_new());
  X509StoreCtxPtr ctx(X509_STORE_CTX_new());
  if (!store || !ctx || X509_STORE_add_cert(store.get(), ca.get()) != 1) return -1;
  if (!crl_path.empty()) {
    X509_LOOKUP* lookup = X509_STORE_add_lookup(store.get(), X509_LOOKUP_file());
    if (lookup == nullptr || X509_load_crl_file(lookup, crl_path.c_str(), X509_FILETYPE_PEM) != 1) {
      return -2;
    }
    X509_STORE_set_flags(store.get(), X509_V_FLAG_CRL_CHECK);
  }
  if (X509_STORE_CTX_init(ctx.get(), store.get(), cert.get(), nullptr) != 1) return -3;
  X509_STORE_CTX_set_purpose(ctx.get(), purpose);
  const int ok = X509_verify_cert(ctx.get());
  const int err = X509_STORE_CTX_get_error(ctx.get());
  return ok == 1 ? X509_V_OK : (err == X509_V_OK ? -4 : err);
}

struct ProcessResult {
  int code = -1;
  std::string output;  // stdout and stderr together
};

// Runs a program (looked up in PATH) with `args`; output captured through a file in
// `scratch_dir`.
inline ProcessResult RunProcess(const std::vector<std::string>& args,
                                const std::string& scratch_dir) {
  const std::string out_path = scratch_dir + "/process-output.txt";
  std::vector<std::string> copy = args;
  std::vector<char*> argv;
  for (auto& a : copy) argv.push_back(a.data());
  argv.push_back(nullptr);
  const pid_t pid = fork();
  if (pid == 0) {
    const int fd = open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0) _exit(127);
    execvp(argv[0], argv.data());
    _exit(127);
  }
  ProcessResult r;
  int status = 0;
  if (pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status)) {
    r.code = WEXITSTATUS(status);
  }
  r.output = ReadFile(out_path);
  return r;
}

// The base64 lines of a PEM body (without the BEGIN/END lines): what a leaked key
// would look like in text.
inline std::vector<std::string> PemBodyLines(const std::string& pem) {
  std::vector<std::string> lines;
  std::istringstream in(pem);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line.rfind("-----", 0) != 0) lines.push_back(line);
  }
  return lines;
}

}  // namespace unitsync::pki::testing
