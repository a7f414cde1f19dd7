// How much room the replica has left: the free space of the filesystem that holds it and
// the size of its files. The metrics expose both so an operator can see the disk runway
// (free bytes over their rate of decrease) before the disk fills.
//
// Thread-safe (no shared state). Makes file-system calls: unitsyncd calls it on the store
// thread, never on the I/O thread.
#pragma once

#include <cstdint>
#include <string>

#include "common/error.h"

namespace unitsync::daemon {

struct DiskUsage {
  // Bytes an unprivileged process may still write on the replica's filesystem (what
  // statvfs calls f_bavail: root's reserve does not count, unitsyncd is not root).
  uint64_t available_bytes = 0;
  // The replica file plus its -wal and -shm files (those missing count 0).
  uint64_t replica_bytes = 0;
};

// Measures the filesystem of `replica_path`'s directory and the replica's files.
// kIo when the directory cannot be examined (message names it); nothing is returned then.
Result<DiskUsage> MeasureDiskUsage(const std::string& replica_path);

}  // namespace unitsync::daemon
