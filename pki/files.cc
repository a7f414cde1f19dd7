#include "pki/files.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <system_error>

namespace unitsync::pki {
namespace {

std::string ModeText(mode_t mode) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(mode & 07777));
  return buf;
}

// The errno translation of pki/ (see files.h for the table).
Error ErrnoError(int err, std::string_view what, const std::string& path) {
  std::string message = std::string(what) + " " + path + ": " +
                        std::error_code(err, std::generic_category()).message();
  switch (err) {
    case ENOENT:
      return Error{Errc::kNotFound, std::move(message), "check the path"};
    case EEXIST:
    case ENOTEMPTY:
      return Error{Errc::kAlreadyExists, std::move(message),
                   "nothing is overwritten; choose another path or remove it yourself"};
    case ENOSPC:
    case EDQUOT:
      return Error{Errc::kDiskFull, std::move(message), "free some space and run it again"};
    case EACCES:
    case EPERM:
      return Error{Errc::kIo, std::move(message),
                   "run as the user that owns the directory (root or unitsync)"};
    default:
      return Error{Errc::kIo, std::move(message), {}};
  }
}

tl::unexpected<Error> FailErrno(int err, std::string_view what, const std::string& path) {
  return tl::unexpected<Error>(ErrnoError(err, what, path));
}

std::string ParentDir(std::string path) {
  while (path.size() > 1 && path.back() == '/') path.pop_back();  // "out/" is "out".
  const size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }
  // Closes now and reports the error close() gives (a late write error on some
  // file systems).
  int Close() {
    const int rc = ::close(fd_);
    fd_ = -1;
    return rc;
  }

 private:
  int fd_;
};

Status SyncDir(const std::string& dir) {
  Fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.get() < 0) return FailErrno(errno, "cannot open directory", dir);
  if (::fsync(fd.get()) != 0) return FailErrno(errno, "cannot sync directory", dir);
  return {};
}

Status WriteAll(int fd, std::string_view bytes, const std::string& path) {
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return FailErrno(errno, "cannot write", path);
    }
    done += static_cast<size_t>(n);
  }
  return {};
}

Status WriteNewFileNoDirSync(const std::string& path, std::string_view bytes, mode_t mode) {
  // O_EXCL: never replace, and never follow a symlink planted at `path`. The mode is
  // given at creation, so the file is never readable by anyone else, not even briefly.
  Fd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode));
  if (fd.get() < 0) {
    if (errno == EEXIST) {
      return Fail(Errc::kAlreadyExists, path + " already exists",
                  "nothing is overwritten; choose another path or move the file away");
    }
    return FailErrno(errno, "cannot create", path);
  }
  Status st = WriteAll(fd.get(), bytes, path);
  if (st && ::fsync(fd.get()) != 0) st = FailErrno(errno, "cannot sync", path);
  if (st && fd.Close() != 0) st = FailErrno(errno, "cannot close", path);
  if (!st) ::unlink(path.c_str());
  return st;
}

}  // namespace

std::string JoinPath(std::string_view dir, std::string_view name) {
  std::string out(dir);
  if (!out.empty() && out.back() != '/') out += '/';
  out += name;
  return out;
}

Status WriteNewFile(const std::string& path, std::string_view bytes, mode_t mode) {
  if (auto st = WriteNewFileNoDirSync(path, bytes, mode); !st) return st;
  if (auto st = SyncDir(ParentDir(path)); !st) {
    ::unlink(path.c_str());
    return st;
  }
  return {};
}

Status ReplaceFile(const std::string& path, std::string_view bytes, mode_t mode) {
  const std::string tmp = path + ".tmp";
  // A temp file left by a crash is ours to discard (callers hold the directory lock).
  if (::unlink(tmp.c_str()) != 0 && errno != ENOENT) {
    return FailErrno(errno, "cannot remove stale", tmp);
  }
  if (auto st = WriteNewFileNoDirSync(tmp, bytes, mode); !st) return st;
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    return FailErrno(err, "cannot replace", path);
  }
  return SyncDir(ParentDir(path));
}

Result<std::string> ReadSmallFile(const std::string& path, size_t max_bytes) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return FailErrno(errno, "cannot open", path);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return FailErrno(errno, "cannot stat", path);
  if (!S_ISREG(st.st_mode)) return Fail(Errc::kCorrupt, path + " is not a regular file");
  if (static_cast<size_t>(st.st_size) > max_bytes) {
    return Fail(Errc::kCorrupt, path + " is larger than " + std::to_string(max_bytes) + " bytes",
                "is this the right file?");
  }
  std::string out;
  out.resize(max_bytes + 1);
  size_t done = 0;
  while (done < out.size()) {
    const ssize_t n = ::read(fd.get(), out.data() + done, out.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return FailErrno(errno, "cannot read", path);
    }
    if (n == 0) break;
    done += static_cast<size_t>(n);
  }
  if (done > max_bytes) {
    return Fail(Errc::kCorrupt, path + " is larger than " + std::to_string(max_bytes) + " bytes");
  }
  out.resize(done);
  return out;
}

Result<bool> PreparePrivateDir(const std::string& path) {
  if (path.empty()) return Fail(Errc::kInvalidArgument, "empty directory path");
  if (::mkdir(path.c_str(), kPrivateDirMode) == 0) {
    if (auto st = SyncDir(ParentDir(path)); !st) return tl::unexpected(st.error());
    return true;
  }
  if (errno != EEXIST) return FailErrno(errno, "cannot create directory", path);
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return FailErrno(errno, "cannot stat", path);
  if (!S_ISDIR(st.st_mode)) {
    return Fail(Errc::kAlreadyExists, path + " exists and is not a directory",
                "choose a new directory; it is created with mode 0700");
  }
  auto entries = ListDir(path);
  if (!entries) return tl::unexpected(entries.error());
  if (!entries->empty()) {
    return Fail(Errc::kAlreadyExists, path + " already exists and is not empty",
                "nothing is overwritten; choose a new directory");
  }
  if ((st.st_mode & 077) != 0) {
    return Fail(Errc::kRejected,
                path + " is accessible to group or others (mode " + ModeText(st.st_mode) + ")",
                "chmod 700 " + path + ", or let this command create the directory");
  }
  return false;
}

Status MakeDir(const std::string& path, mode_t mode) {
  if (::mkdir(path.c_str(), mode) != 0) return FailErrno(errno, "cannot create directory", path);
  return SyncDir(ParentDir(path));
}

Status CheckPrivateFile(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return FailErrno(errno, "cannot stat", path);
  if (!S_ISREG(st.st_mode)) return Fail(Errc::kRejected, path + " is not a regular file");
  if ((st.st_mode & 077) != 0) {
    return Fail(Errc::kRejected,
                path + " holds private key material but is accessible to group or others (mode " +
                    ModeText(st.st_mode) + ")",
                "chmod 600 " + path + " (and check who may have read it)");
  }
  return {};
}

bool PathExists(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

Result<std::vector<std::string>> ListDir(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return FailErrno(errno, "cannot open directory", dir);
  std::vector<std::string> names;
  errno = 0;
  while (const dirent* e = ::readdir(d)) {
    const std::string_view name = e->d_name;
    if (name != "." && name != "..") names.emplace_back(name);
    errno = 0;
  }
  const int err = errno;
  ::closedir(d);
  if (err != 0) return FailErrno(err, "cannot read directory", dir);
  std::sort(names.begin(), names.end());
  return names;
}

CreatedPaths::~CreatedPaths() {
  for (auto it = paths_.rbegin(); it != paths_.rend(); ++it) {
    if (it->is_dir) {
      ::rmdir(it->path.c_str());
    } else {
      ::unlink(it->path.c_str());
    }
  }
}

Result<DirLock> DirLock::Acquire(const std::string& dir) {
  const std::string path = JoinPath(dir, "lock");
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, kPrivateFileMode);
  if (fd < 0) return FailErrno(errno, "cannot open lock file", path);
  while (::flock(fd, LOCK_EX) != 0) {
    if (errno == EINTR) continue;
    const int err = errno;
    ::close(fd);
    return FailErrno(err, "cannot lock", path);
  }
  return DirLock(fd);
}

DirLock::~DirLock() {
  if (fd_ >= 0) ::close(fd_);
}

}  // namespace unitsync::pki
