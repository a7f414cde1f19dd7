// The engine's per-row bookkeeping (_us_clock): each replicated column's
// current version, the routing value, and the tombstone of a deleted row.
// Layout: store/FORMAT.md "_us_clock".
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"
#include "store/manifest.h"
#include "store/row_version.h"
#include "store/sqlite.h"

namespace unitsync::store {

struct RowClock {
  bool exists = false;   // A _us_clock row was found (Load) / is to be written.
  std::string unit;      // Routing value at the last change; empty in central scope.
  bool deleted = false;  // Tombstoned: final, the row never comes back.
  // Purged (implies deleted): only this marker is left; `tombstone` is the purge's
  // version and `columns` are empty (purge.h). Stored as deleted = 2.
  bool purged = false;
  Version tombstone;
  std::vector<ColumnVersion> columns;  // Per TableSpec::columns.

  // The highest version of any column or the tombstone.
  uint64_t MaxHlc() const;

  // What a purge leaves of a row (purge.h): routing value and purge version only.
  static RowClock PurgeMarker(size_t columns, std::string unit, const Version& version);
};

// Prepared statements over _us_clock. REQUIRES: used on the replica's thread,
// and destroyed before the Db.
class RowClockStore {
 public:
  static Result<RowClockStore> Prepare(Db& db);

  // Loads the clock of one row; `exists` is false (and `columns` sized,
  // empty) when there is none. Fails with kCorrupt on an undecodable record.
  Result<RowClock> Load(const TableSpec& spec, std::string_view pk);
  Status Save(const TableSpec& spec, std::string_view pk, const RowClock& clock);
  // Removes the row's record (an evicted row: the replica forgets it).
  Status Erase(const TableSpec& spec, std::string_view pk);

  static Blob EncodeVersions(const TableSpec& spec, const std::vector<ColumnVersion>& columns);
  // Same, into `buf` (cleared first); lets a caller reuse one buffer.
  static void EncodeVersionsInto(const TableSpec& spec, const std::vector<ColumnVersion>& columns,
                                 msgpack::sbuffer& buf);
  static Status DecodeVersions(const TableSpec& spec, const Blob& blob,
                               std::vector<ColumnVersion>& columns);

 private:
  Statement load_;
  Statement save_;
  Statement erase_;
  // Reused across Save() calls; bound without copying, valid until the next Save.
  std::unique_ptr<msgpack::sbuffer> versions_buf_ = std::make_unique<msgpack::sbuffer>();
};

}  // namespace unitsync::store
