#include "daemon/disk_usage.h"

#include <filesystem>
#include <system_error>

namespace unitsync::daemon {

Result<DiskUsage> MeasureDiskUsage(const std::string& replica_path) {
  namespace fs = std::filesystem;
  fs::path dir = fs::path(replica_path).parent_path();
  if (dir.empty()) dir = ".";
  std::error_code ec;
  const fs::space_info space = fs::space(dir, ec);
  if (ec) {
    return Fail(Errc::kIo, "cannot measure free space of " + dir.string() + ": " + ec.message());
  }
  DiskUsage usage;
  usage.available_bytes = space.available;
  for (const char* suffix : {"", "-wal", "-shm"}) {
    const uintmax_t size = fs::file_size(replica_path + suffix, ec);
    if (!ec) usage.replica_bytes += size;  // a missing -wal/-shm is normal
  }
  return usage;
}

}  // namespace unitsync::daemon
