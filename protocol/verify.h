// Verify: does a unit hold the same rows as central's copy of that unit? Each side computes
// per-table digests of the unit's scope (store/digest.h) with the sync position it stood at
// (DIGESTS, FORMAT.md section 2); this file compares the two and judges whether sync was
// settled, so a difference can be told apart from one that is merely still in flight.
//
// Pure functions and plain values: no I/O, thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "protocol/bytes.h"
#include "protocol/limits.h"
#include "protocol/message.h"

namespace unitsync::protocol {

// One side's digest of one table. `sha256` is lowercase hex (64 characters), as
// `unitsyncctl digest` prints it.
struct DigestSide {
  uint64_t rows = 0;
  uint64_t tombstones = 0;
  std::string sha256;
  bool operator==(const DigestSide&) const = default;
};

struct TableVerdict {
  std::string table;
  std::optional<DigestSide> unit;     // nullopt: the unit has no such table
  std::optional<DigestSide> central;  // nullopt: central has no such table
  bool equal = false;                 // both have it with the same rows, tombstones and hash
  bool operator==(const TableVerdict&) const = default;
};

// The outcome of one verify, the same whichever side asked.
struct VerifyReport {
  std::string unit;  // whose scope was compared
  // Central's tables in its manifest order, then tables only the unit has (unit's order).
  std::vector<TableVerdict> tables;
  VerifyPosition unit_position;     // meanings: FORMAT.md, DIGESTS
  VerifyPosition central_position;  // ditto
  // Sync had settled when the digests were computed: neither side had anything left to
  // send and their cursors matched (FORMAT.md section 6, "Verify"). Differences found while
  // settled are real; differences found while not settled may be sync still in progress.
  bool settled = false;
  // Pushes the unit had built that central had not applied (unit push − central push).
  uint64_t pushes_in_flight = 0;
  // Why not settled, for operators ("2 pushes built at the unit not yet applied at
  // central; ..."); empty when settled.
  std::string in_flight;

  size_t differing() const;
  bool all_equal() const { return differing() == 0; }
  // One line for operators and logs: "all 13 tables equal, settled" or
  // "2 of 13 tables differ (student, decision) while sync was in flight: ...".
  std::string Summary() const;
  bool operator==(const VerifyReport&) const = default;
};

// Compares the unit's digests with central's for `unit` and judges settledness:
//   settled ⇔ unit.waiting = 0 ∧ central.waiting = 0 ∧ unit.push = central.push
//             ∧ central.pull ≤ unit.pull ≤ central.head
// Table order and missing tables as documented on VerifyReport.
VerifyReport CompareDigests(const std::string& unit, const VerifyPosition& unit_position,
                            const std::vector<TableDigest>& unit_tables,
                            const VerifyPosition& central_position,
                            const std::vector<TableDigest>& central_tables);

// Lowercase hex of `bytes`; and back (nullopt unless exactly 2×n hex digits).
std::string HexOf(ByteView bytes);
std::optional<Bytes> BytesOfHex(std::string_view hex);

}  // namespace unitsync::protocol
