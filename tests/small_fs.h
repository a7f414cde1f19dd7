// A small filesystem for tests that fill the disk: a size-limited tmpfs mounted on a
// directory, unmounted when the object dies (also when the test fails).
//
// Mechanisms, in order: mount(2) directly (root, or CAP_SYS_ADMIN, as on CI); else a new
// user + mount namespace for this process (unshare(2), unprivileged where the kernel
// allows it: the mount is then private to this process and the processes it starts
// afterwards, and vanishes with them). Mount() names the reason when neither works, so a
// test can skip with it instead of failing silently. REQUIRES: the process is single-
// threaded when the namespace fallback is tried (unshare(CLONE_NEWUSER) refuses others).
#pragma once

#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

namespace unitsync::testing {

class SmallFs {
 public:
  SmallFs() = default;
  SmallFs(const SmallFs&) = delete;
  SmallFs& operator=(const SmallFs&) = delete;
  ~SmallFs() { Unmount(); }

  // Mounts a tmpfs of `bytes` on `dir` (created). Empty on success, else why not.
  std::string Mount(const std::string& dir, size_t bytes) {
    std::filesystem::create_directories(dir);
    const std::string options = "size=" + std::to_string(bytes) + ",mode=0700";
    if (::mount("tmpfs", dir.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, options.c_str()) == 0) {
      dir_ = dir;
      how_ = "tmpfs";
      return {};
    }
    const std::string direct = std::strerror(errno);
    const uid_t uid = ::geteuid();
    const gid_t gid = ::getegid();
    if (::unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0) {
      return "mount tmpfs: " + direct + "; unshare(user+mount namespace): " + std::strerror(errno);
    }
    if (!WriteProc("/proc/self/setgroups", "deny") ||
        !WriteProc("/proc/self/uid_map", "0 " + std::to_string(uid) + " 1") ||
        !WriteProc("/proc/self/gid_map", "0 " + std::to_string(gid) + " 1")) {
      return "mount tmpfs: " + direct + "; user namespace id maps: " + std::strerror(errno);
    }
    if (::mount("tmpfs", dir.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, options.c_str()) != 0) {
      return "mount tmpfs: " + direct + "; in a user+mount namespace: " + std::strerror(errno);
    }
    dir_ = dir;
    how_ = "tmpfs in a user+mount namespace";
    return {};
  }

  // Lazily (MNT_DETACH: a process still holding a file there does not stop it).
  void Unmount() {
    if (dir_.empty()) return;
    ::umount2(dir_.c_str(), MNT_DETACH);
    dir_.clear();
  }
  const std::string& how() const { return how_; }

 private:
  static bool WriteProc(const char* path, const std::string& text) {
    const int fd = ::open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) return errno == ENOENT;  // setgroups is missing on old kernels
    const bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
    ::close(fd);
    return ok;
  }

  std::string dir_;
  std::string how_;
};

// Fills the filesystem holding `path` (a new file there) until the next write fails with
// ENOSPC. Returns the bytes written; removing the file frees them.
inline size_t FillDisk(const std::string& path) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return 0;
  std::vector<char> block(64 * 1024, 'x');
  size_t total = 0;
  for (size_t size = block.size(); size > 0;) {
    const ssize_t n = ::write(fd, block.data(), size);
    if (n > 0) {
      total += static_cast<size_t>(n);
    } else {
      size /= 2;  // the last pages: smaller writes until not even one byte fits
    }
  }
  ::close(fd);
  return total;
}

// Gives `bytes` of the filler at `path` back to its filesystem (truncates it).
inline void FreeSome(const std::string& path, uintmax_t bytes) {
  std::error_code ec;
  const uintmax_t size = std::filesystem::file_size(path, ec);
  if (!ec) std::filesystem::resize_file(path, size > bytes ? size - bytes : 0, ec);
}

}  // namespace unitsync::testing
