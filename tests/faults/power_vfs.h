// A SQLite VFS that simulates power loss (tests/RELIABILITY.md, "Power loss"): the files
// keep exactly what was fsynced. It wraps the default VFS and becomes the default while
// it lives. For each database, WAL and journal file it keeps the file's durable image in
// memory: writes and truncates go to the real file at once (so reads see them, as from
// the page cache) and are remembered; an xSync makes the file's remembered changes
// durable. When power is cut for a node (every file whose path starts with a prefix),
// its writes, truncates and syncs fail with an I/O error and change nothing, and deletes
// change nothing; once every handle of those files is closed, the next open of one of
// them reboots the node: each file is rewritten from its durable image (a file never
// synced does not exist) and the -shm index is removed, as after a real power loss.
//
// A new file counts as durable once it is first synced, and a delete as soon as it is
// made (SQLite deletes a WAL only after a checkpoint it synced).
//
// Not thread-safe: one thread uses every connection (tests/sync_harness runs every node
// on one thread). At most one PowerLossVfs at a time.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace unitsync::faults {

class PowerLossVfs {
 public:
  PowerLossVfs();
  ~PowerLossVfs();
  PowerLossVfs(const PowerLossVfs&) = delete;
  PowerLossVfs& operator=(const PowerLossVfs&) = delete;

  // Power fails for files under `prefix` after `ops` more writes, truncates or syncs of
  // them succeed (0: at once). Replaces a cut armed before that has not happened.
  void CutPowerAfter(const std::string& prefix, uint64_t ops);
  // Forgets a cut armed that has not happened (no effect once the power is off).
  void Disarm() {
    if (!off_) cut_after_.reset(), cut_prefix_.clear();
  }
  // True from the moment the armed cut happened until the node reboots.
  bool PowerIsOff() const { return off_; }

  struct Counters {
    uint64_t writes = 0;        // writes and truncates that reached a real file
    uint64_t syncs = 0;         // xSync calls that made changes durable
    uint64_t cuts = 0;          // power cuts that happened
    uint64_t reboots = 0;       // files rewritten from their durable image
    uint64_t lost_changes = 0;  // writes and truncates thrown away by a reboot
    uint64_t refused = 0;       // writes, truncates, syncs refused while the power was off
  };
  const Counters& counters() const { return counters_; }

 private:
  struct Change {
    int64_t offset = 0;
    std::string bytes;            // written at offset
    std::optional<int64_t> size;  // set: a truncate to this size
  };
  struct FileState {
    bool durable_exists = false;
    std::string durable;          // the durable image
    std::vector<Change> pending;  // since the last sync, in order
    int handles = 0;
  };
  struct ShimFile;
  static const sqlite3_io_methods kMethods;
  static sqlite3_file* Real(sqlite3_file* f);
  static const sqlite3_io_methods* M(sqlite3_file* f);

  static int Open(sqlite3_vfs* vfs, const char* name, sqlite3_file* file, int flags, int* out);
  static int Delete(sqlite3_vfs* vfs, const char* name, int sync_dir);
  static int Close(sqlite3_file* f);
  static int Write(sqlite3_file* f, const void* buf, int n, sqlite3_int64 offset);
  static int Truncate(sqlite3_file* f, sqlite3_int64 size);
  static int Sync(sqlite3_file* f, int flags);

  bool Affected(const std::string& path) const;
  // Counts one operation on `path` towards an armed cut; false when the power is off.
  bool Consume(const std::string& path);
  void Reboot();

  sqlite3_vfs vfs_{};
  sqlite3_vfs* real_ = nullptr;
  std::map<std::string, FileState> files_;
  std::string cut_prefix_;
  std::optional<uint64_t> cut_after_;  // armed: ops left before the cut
  bool off_ = false;
  Counters counters_;
};

}  // namespace unitsync::faults
