// Refused rows, kept for the admin (_us_rejections): which peer, which changeset, which
// row, why. Central records the rows it refused from a unit's push; a unit records the
// rows central refused from its pushes (NACK partial) and the rows of central's fan-out
// its own schema refused. Never values: table, id, reason code.
//
// Bounded: only the newest kMaxRejectionRecords are kept (a unit forging rows in a loop
// must not fill central's disk).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/error.h"
#include "store/merge.h"
#include "store/replica.h"

namespace unitsync::store {

inline constexpr int64_t kMaxRejectionRecords = 10'000;

enum class RejectionDirection : char {
  kRefusedHere = 'i',    // we refused rows the peer sent
  kRefusedByPeer = 'o',  // the peer refused rows we sent
};

struct RejectionRecord {
  int64_t id = 0;
  std::string peer;
  RejectionDirection direction = RejectionDirection::kRefusedHere;
  int64_t seq = 0;  // the changeset: push seq, or the CHANGES `to`
  std::string table;
  std::string pk;
  uint16_t reason = 0;  // RowRejectReason wire value (a peer may send codes we don't know)
  int64_t detected_ms = 0;
};

// Appends one record per row, then trims to the newest kMaxRejectionRecords.
// REQUIRES: inside a write transaction (the apply that refused them).
Status InsertRejections(Replica& replica, const std::string& peer, RejectionDirection direction,
                        int64_t seq, const std::vector<RowRejection>& rows);

// The same in its own transaction.
Status RecordRejections(Replica& replica, const std::string& peer, RejectionDirection direction,
                        int64_t seq, const std::vector<RowRejection>& rows);

// Newest first, at most `limit`.
Result<std::vector<RejectionRecord>> ListRejections(Replica& replica, size_t limit);

}  // namespace unitsync::store
