// Files and directories with strict modes (internal to pki/). The only file in
// pki/ that calls the POSIX file API; errno is translated to Errc here and nowhere
// else.
//
// Every error names the path, never the contents.
//   ENOENT -> kNotFound, EEXIST/ENOTEMPTY -> kAlreadyExists, ENOSPC/EDQUOT -> kDiskFull,
//   everything else (EACCES included) -> kIo, each with a hint.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"

namespace unitsync::pki {

inline constexpr mode_t kPrivateFileMode = 0600;
inline constexpr mode_t kPublicFileMode = 0644;
inline constexpr mode_t kPrivateDirMode = 0700;

// Creates `path` with exactly `mode` (umask can only narrow it) and writes `bytes`,
// fsyncs the file and its directory. Never replaces anything: an existing file (or
// symlink) at `path` gives kAlreadyExists with a hint. On failure after creating the
// file, the file is removed again.
Status WriteNewFile(const std::string& path, std::string_view bytes, mode_t mode);

// Atomically replaces (or creates) `path`: writes `path.tmp` with `mode`, fsyncs,
// renames over `path`, fsyncs the directory. Readers see the old or the new file.
Status ReplaceFile(const std::string& path, std::string_view bytes, mode_t mode);

// Reads a whole regular file of at most `max_bytes` (kCorrupt when larger, so a
// wrong path cannot make us read a disk image). kNotFound when missing.
Result<std::string> ReadSmallFile(const std::string& path, size_t max_bytes);

// A directory that will hold private material. Creates it with mode 0700 (its parent
// must exist: kNotFound otherwise). An existing directory is accepted only when it is
// empty (else kAlreadyExists) and not accessible to group or others (else kRejected
// with "chmod 700" as the hint). Returns true when it created the directory.
Result<bool> PreparePrivateDir(const std::string& path);

// Creates a directory with `mode`; kAlreadyExists when something is there.
Status MakeDir(const std::string& path, mode_t mode);

// kRejected (hint "chmod 600 PATH") when the regular file `path` may be read or
// written by group or others; kRejected when it is not a regular file; kNotFound when
// missing. Follows symlinks: the mode that matters is the target's.
Status CheckPrivateFile(const std::string& path);

// True when something (anything, a dangling symlink included) is at `path`.
bool PathExists(const std::string& path);

// Names of the entries of directory `dir` (not "." or ".."), sorted.
Result<std::vector<std::string>> ListDir(const std::string& dir);

// Removes what a failed operation created, newest first, unless Commit() was called.
// Removal is best effort: the operation's own error is what the caller reports.
class CreatedPaths {
 public:
  CreatedPaths() = default;
  CreatedPaths(const CreatedPaths&) = delete;
  CreatedPaths& operator=(const CreatedPaths&) = delete;
  ~CreatedPaths();

  void AddFile(std::string path) { paths_.push_back({std::move(path), false}); }
  void AddDir(std::string path) { paths_.push_back({std::move(path), true}); }
  void Commit() { paths_.clear(); }

 private:
  struct Entry {
    std::string path;
    bool is_dir;
  };
  std::vector<Entry> paths_;
};

// An exclusive advisory lock (flock) on `dir`/lock, held until destruction, so two
// admins enrolling or revoking at once cannot lose each other's update. Blocks.
class DirLock {
 public:
  static Result<DirLock> Acquire(const std::string& dir);
  DirLock(DirLock&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  DirLock& operator=(DirLock&&) = delete;
  DirLock(const DirLock&) = delete;
  DirLock& operator=(const DirLock&) = delete;
  ~DirLock();

 private:
  explicit DirLock(int fd) : fd_(fd) {}
  int fd_ = -1;
};

// Joins a directory and a file name.
std::string JoinPath(std::string_view dir, std::string_view name);

}  // namespace unitsync::pki
