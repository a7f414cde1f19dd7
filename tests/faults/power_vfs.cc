#include "tests/faults/power_vfs.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <sstream>

namespace unitsync::faults {

struct PowerLossVfs::ShimFile {
  sqlite3_file base;
  PowerLossVfs* owner;
  const std::string* path;  // key in owner->files_; null: not tracked (temporary files)
  sqlite3_file* real;       // lives right after this struct, in the same allocation
};

namespace {

bool WriteWhole(const std::string& path, const std::string& bytes) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0) return false;
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n <= 0) break;
    done += static_cast<size_t>(n);
  }
  ::close(fd);
  return done == bytes.size();
}

}  // namespace

sqlite3_file* PowerLossVfs::Real(sqlite3_file* f) { return reinterpret_cast<ShimFile*>(f)->real; }
const sqlite3_io_methods* PowerLossVfs::M(sqlite3_file* f) { return Real(f)->pMethods; }

const sqlite3_io_methods PowerLossVfs::kMethods = {
    3,
    &PowerLossVfs::Close,
    [](sqlite3_file* f, void* b, int n, sqlite3_int64 o) { return M(f)->xRead(Real(f), b, n, o); },
    &PowerLossVfs::Write,
    &PowerLossVfs::Truncate,
    &PowerLossVfs::Sync,
    [](sqlite3_file* f, sqlite3_int64* s) { return M(f)->xFileSize(Real(f), s); },
    [](sqlite3_file* f, int l) { return M(f)->xLock(Real(f), l); },
    [](sqlite3_file* f, int l) { return M(f)->xUnlock(Real(f), l); },
    [](sqlite3_file* f, int* r) { return M(f)->xCheckReservedLock(Real(f), r); },
    [](sqlite3_file* f, int op, void* a) { return M(f)->xFileControl(Real(f), op, a); },
    [](sqlite3_file* f) { return M(f)->xSectorSize(Real(f)); },
    [](sqlite3_file* f) { return M(f)->xDeviceCharacteristics(Real(f)); },
    [](sqlite3_file* f, int pg, int sz, int ext, void volatile** p) {
      return M(f)->xShmMap(Real(f), pg, sz, ext, p);
    },
    [](sqlite3_file* f, int o, int n, int flags) { return M(f)->xShmLock(Real(f), o, n, flags); },
    [](sqlite3_file* f) { M(f)->xShmBarrier(Real(f)); },
    [](sqlite3_file* f, int del) { return M(f)->xShmUnmap(Real(f), del); },
    [](sqlite3_file* f, sqlite3_int64 o, int n, void** p) {
      return M(f)->xFetch(Real(f), o, n, p);
    },
    [](sqlite3_file* f, sqlite3_int64 o, void* p) { return M(f)->xUnfetch(Real(f), o, p); },
};

PowerLossVfs::PowerLossVfs() {
  real_ = sqlite3_vfs_find(nullptr);
  vfs_ = *real_;
  vfs_.zName = "unitsync_power_loss";
  vfs_.szOsFile = static_cast<int>(sizeof(ShimFile)) + real_->szOsFile;
  vfs_.pNext = nullptr;
  vfs_.pAppData = this;
  vfs_.xOpen = &PowerLossVfs::Open;
  vfs_.xDelete = &PowerLossVfs::Delete;
  sqlite3_vfs_register(&vfs_, 1);
}

PowerLossVfs::~PowerLossVfs() {
  sqlite3_vfs_unregister(&vfs_);
  sqlite3_vfs_register(real_, 1);
}

void PowerLossVfs::CutPowerAfter(const std::string& prefix, uint64_t ops) {
  if (off_) return;
  cut_prefix_ = prefix;
  cut_after_ = ops;
  if (ops == 0) {
    cut_after_.reset();
    off_ = true;
    ++counters_.cuts;
  }
}

bool PowerLossVfs::Affected(const std::string& path) const {
  return !cut_prefix_.empty() && path.compare(0, cut_prefix_.size(), cut_prefix_) == 0;
}

bool PowerLossVfs::Consume(const std::string& path) {
  if (!Affected(path)) return true;
  if (!off_ && cut_after_) {
    if (*cut_after_ == 0) {
      cut_after_.reset();
      off_ = true;
      ++counters_.cuts;
    } else {
      --*cut_after_;
    }
  }
  if (off_) ++counters_.refused;
  return !off_;
}

void PowerLossVfs::Reboot() {
  for (auto& [path, st] : files_) {
    if (!Affected(path)) continue;
    counters_.lost_changes += st.pending.size();
    st.pending.clear();
    if (st.durable_exists) {
      WriteWhole(path, st.durable);
    } else {
      ::unlink(path.c_str());
    }
    ::unlink((path + "-shm").c_str());
    ++counters_.reboots;
  }
  off_ = false;
  cut_prefix_.clear();
}

int PowerLossVfs::Open(sqlite3_vfs* vfs, const char* name, sqlite3_file* file, int flags,
                       int* out) {
  auto* self = static_cast<PowerLossVfs*>(vfs->pAppData);
  auto* shim = reinterpret_cast<ShimFile*>(file);
  shim->owner = self;
  shim->path = nullptr;
  shim->real = reinterpret_cast<sqlite3_file*>(shim + 1);
  const int kinds = SQLITE_OPEN_MAIN_DB | SQLITE_OPEN_WAL | SQLITE_OPEN_MAIN_JOURNAL;
  const bool tracked =
      name != nullptr && (flags & kinds) != 0 && (flags & SQLITE_OPEN_DELETEONCLOSE) == 0;
  std::map<std::string, FileState>::iterator it;
  if (tracked) {
    const std::string path = name;
    if (self->off_ && self->Affected(path)) {
      bool open = false;
      for (const auto& [p, st] : self->files_) open |= self->Affected(p) && st.handles > 0;
      if (!open) self->Reboot();  // the node's process is gone: the machine comes back
    }
    bool fresh = false;
    std::tie(it, fresh) = self->files_.try_emplace(path);
    if (fresh) {
      std::ifstream in(path, std::ios::binary);
      if (in) {
        std::stringstream s;
        s << in.rdbuf();
        it->second.durable = s.str();
        it->second.durable_exists = true;
      }
    }
  }
  const int rc = self->real_->xOpen(self->real_, name, shim->real, flags, out);
  shim->base.pMethods = shim->real->pMethods != nullptr ? &kMethods : nullptr;
  if (rc == SQLITE_OK && tracked) {
    shim->path = &it->first;
    ++it->second.handles;
  }
  return rc;
}

int PowerLossVfs::Delete(sqlite3_vfs* vfs, const char* name, int sync_dir) {
  auto* self = static_cast<PowerLossVfs*>(vfs->pAppData);
  const std::string path = name;
  if (self->off_ && self->Affected(path)) return SQLITE_IOERR_DELETE;
  const int rc = self->real_->xDelete(self->real_, name, sync_dir);
  if (auto it = self->files_.find(path); it != self->files_.end() && rc == SQLITE_OK) {
    it->second.durable_exists = false;
    it->second.durable.clear();
    it->second.pending.clear();
  }
  return rc;
}

int PowerLossVfs::Close(sqlite3_file* f) {
  auto* shim = reinterpret_cast<ShimFile*>(f);
  const int rc = M(f)->xClose(Real(f));
  if (shim->path != nullptr) --shim->owner->files_.at(*shim->path).handles;
  return rc;
}

int PowerLossVfs::Write(sqlite3_file* f, const void* buf, int n, sqlite3_int64 offset) {
  auto* shim = reinterpret_cast<ShimFile*>(f);
  if (shim->path == nullptr) return M(f)->xWrite(Real(f), buf, n, offset);
  if (!shim->owner->Consume(*shim->path)) return SQLITE_IOERR_WRITE;
  const int rc = M(f)->xWrite(Real(f), buf, n, offset);
  if (rc == SQLITE_OK) {
    shim->owner->files_.at(*shim->path)
        .pending.push_back({offset, std::string(static_cast<const char*>(buf), n), {}});
    ++shim->owner->counters_.writes;
  }
  return rc;
}

int PowerLossVfs::Truncate(sqlite3_file* f, sqlite3_int64 size) {
  auto* shim = reinterpret_cast<ShimFile*>(f);
  if (shim->path == nullptr) return M(f)->xTruncate(Real(f), size);
  if (!shim->owner->Consume(*shim->path)) return SQLITE_IOERR_TRUNCATE;
  const int rc = M(f)->xTruncate(Real(f), size);
  if (rc == SQLITE_OK) {
    shim->owner->files_.at(*shim->path).pending.push_back({0, {}, size});
    ++shim->owner->counters_.writes;
  }
  return rc;
}

int PowerLossVfs::Sync(sqlite3_file* f, int flags) {
  auto* shim = reinterpret_cast<ShimFile*>(f);
  if (shim->path == nullptr) return M(f)->xSync(Real(f), flags);
  if (!shim->owner->Consume(*shim->path)) return SQLITE_IOERR_FSYNC;
  const int rc = M(f)->xSync(Real(f), flags);
  if (rc != SQLITE_OK) return rc;
  FileState& st = shim->owner->files_.at(*shim->path);
  for (const Change& c : st.pending) {
    if (c.size) {
      st.durable.resize(static_cast<size_t>(*c.size));
      continue;
    }
    const size_t end = static_cast<size_t>(c.offset) + c.bytes.size();
    if (st.durable.size() < end) st.durable.resize(end);
    std::memcpy(st.durable.data() + c.offset, c.bytes.data(), c.bytes.size());
  }
  st.pending.clear();
  st.durable_exists = true;
  ++shim->owner->counters_.syncs;
  return rc;
}

}  // namespace unitsync::faults
