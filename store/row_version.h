// Per-column versions of one row, and their compact "version group" form
// shared by the on-disk row clock (_us_clock.versions) and the wire changeset.
//
// Most columns of a row share a version (an insert stamps every column at
// once), so versions are stored as groups: each distinct (version, prev)
// pair once, with the columns that carry it. One group may name no columns
// (msgpack nil): it covers every column not named by another group. A
// freshly inserted row is thus one group of five scalars.
//
//   group = [hlc: uint, origin: str, prev_hlc: uint, prev_origin: str,
//            cols: nil | [col, ...]]
//
// `col` is a column name on disk (robust to schema changes) and a column
// index into the changeset's column header on the wire (compact).
#pragma once

#include <functional>
#include <msgpack.hpp>
#include <string>
#include <vector>

#include "common/error.h"
#include "store/hlc.h"

namespace unitsync::store {

struct ColumnVersion {
  Version v;     // The write that set the current value.
  Version prev;  // The version that write replaced (empty for a first write).

  friend bool operator==(const ColumnVersion&, const ColumnVersion&) = default;
};

// Packs `versions` (positional) as an array of groups. `pack_col(i)` writes
// column i's reference (name or index).
void PackVersionGroups(
    msgpack::packer<msgpack::sbuffer>& pk, const std::vector<ColumnVersion>& versions,
    const std::function<void(msgpack::packer<msgpack::sbuffer>&, size_t)>& pack_col);

// Unpacks groups into `versions` (already sized; entries not covered stay
// empty). `resolve_col` maps one column reference to an index, or -1 to
// ignore it (a column the schema no longer has), or -2 to reject it.
// Rejects: non-array shapes, wrong types, zero hlc, a column named twice,
// more than one catch-all group. `what` prefixes the error message.
Status UnpackVersionGroups(const msgpack::object& groups, std::vector<ColumnVersion>& versions,
                           const std::function<int(const msgpack::object&)>& resolve_col,
                           std::string_view what);

}  // namespace unitsync::store
