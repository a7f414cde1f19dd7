// Per-peer cursors (_us_peers): how far this replica has sent to, been
// acknowledged by, and received from each peer. A unit has one peer
// (central); central has one per unit.
//
//   sent_seq      highest change-log seq included in a changeset sent to peer
//   acked_seq     highest seq the peer has acknowledged (durably applied)
//   received_seq  highest sequence applied from the peer (its numbering)
//
// Invariants kept here: acked_seq <= sent_seq is not enforced (a restored
// peer may ack what we consider unsent), but no cursor ever moves backwards
// except through ResetCursor (recovery paths).
#pragma once

#include <string>
#include <vector>

#include "common/error.h"
#include "store/replica.h"

namespace unitsync::store {

struct PeerCursor {
  std::string peer;
  int64_t sent_seq = 0;
  int64_t acked_seq = 0;
  int64_t received_seq = 0;
  int64_t updated_ms = 0;
};

// The peer's cursor; all zero when the peer was never seen.
Result<PeerCursor> GetCursor(Replica& replica, const std::string& peer);
Result<std::vector<PeerCursor>> ListCursors(Replica& replica);

// Each advances one field to max(old, value).
Status AdvanceSent(Replica& replica, const std::string& peer, int64_t seq);
Status AdvanceAcked(Replica& replica, const std::string& peer, int64_t seq);
Status AdvanceReceived(Replica& replica, const std::string& peer, int64_t seq);

// Sets all three fields as given (recovery: a peer restored from backup).
Status ResetCursor(Replica& replica, const PeerCursor& cursor);

}  // namespace unitsync::store
