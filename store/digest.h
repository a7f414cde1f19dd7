// Per-table digests that two replicas compare to prove they hold the same
// rows (DESIGN.md "verify"). A digest covers what replicates: for every row
// its id, its replicated column values and their versions (hlc, origin);
// for every tombstone its id and tombstone version. Local-only columns and
// private rows are left out, so a unit and central agree when in sync.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "common/error.h"
#include "store/replica.h"

namespace unitsync::store {

struct TableDigest {
  std::string table;
  int64_t rows = 0;        // Live rows covered.
  int64_t tombstones = 0;  // Deleted rows covered (purge markers included).
  std::string sha256;      // Lowercase hex.

  friend bool operator==(const TableDigest&, const TableDigest&) = default;
};

struct DigestScope {
  // Only rows routed to this unit (unit-scope tables); central-scope tables
  // are always covered in full. Unset: every row.
  std::optional<std::string> unit;
};

// One digest per manifest table, in manifest order. Stamps pending local
// changes first, so the digest reflects every committed write.
Result<std::vector<TableDigest>> ComputeDigests(Replica& replica, const DigestScope& scope = {});

}  // namespace unitsync::store
