// A changeset: the rows one replica sends another, in the state-based form
// that merge.h applies. Byte format: store/FORMAT.md "Changeset"; pinned by
// golden bytes in changeset_test.cc.
//
// Each row entry carries the row's full replicated state (every column's
// value and version), so any entry can create the row on a replica that has
// never seen it, in any delivery order. A tombstone carries the deleter's
// view of the column versions, so the receiver can tell which of its own
// values the deleter never saw (a conflict). An eviction (central fan-out
// only) tells a unit to drop a row that now belongs to another unit. A purge
// (an erasure: purge.h) removes the row and its history and leaves a marker.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "common/error.h"
#include "store/row_version.h"
#include "store/value.h"

namespace unitsync::store {

inline constexpr uint64_t kChangesetFormatVersion = 1;

// A row entry is one of four kinds: an upsert (values set), a tombstone
// (tombstone set), an eviction (evict set: values and versions empty), or a
// purge (purge set: values and versions empty, tombstone_version and
// tombstone_unit hold the purge's version and the row's routing value).
struct ChangeRow {
  std::string pk;
  bool tombstone = false;
  // The row moved to another unit: the receiving unit drops it (merge.h).
  // Never together with tombstone; values and versions stay empty.
  bool evict = false;
  // The row was purged: every replica erases it and its history and keeps a
  // marker that refuses it for good (merge.h). Never together with tombstone or evict.
  bool purge = false;
  std::vector<Value> values;            // Per TableChanges::columns; empty for a tombstone.
  std::vector<ColumnVersion> versions;  // Per TableChanges::columns (deleter's view if tombstone).
  Version tombstone_version;            // Set iff tombstone or purge.
  std::string tombstone_unit;           // Routing value of a deleted/purged row (may be empty).
};

struct TableChanges {
  std::string table;
  std::vector<std::string> columns;  // Replicated columns, without `id`.
  std::vector<ChangeRow> rows;
};

struct Changeset {
  std::string origin;  // The node that built it.
  std::vector<TableChanges> tables;

  size_t RowCount() const;
};

Blob EncodeChangeset(const Changeset& changeset);

// Strict decoding: exact shapes and types, no unknown or duplicate keys, no
// trailing bytes, every upserted column versioned, an eviction with no
// versions. Fails with kMalformed and
// leaves nothing half-built. Whether tables and columns exist is the
// merge's business (it knows the manifest).
Result<Changeset> DecodeChangeset(std::span<const uint8_t> bytes);

}  // namespace unitsync::store
