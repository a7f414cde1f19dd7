// The acknowledgements a node sent, and what each covered (tests/faults, power loss).
//
// Around every store work that applies something — central's ApplyPush for a unit, a
// unit's ApplyChanges and ApplySnapshotChunk — the test reads the node's tracked rows
// before and after; the difference is what that work applied, kept as pending under its
// (kind, seq). When the node then sends an ACK of that kind, every pending entry up to
// its seq becomes acknowledged (ACKs are cumulative cursors). After the node loses
// power and reboots from its durable bytes, every acknowledged row must still be there
// with at least the acknowledged token (later writes only raise tokens), or be gone only
// if its writer deleted it; an acknowledged delete must stay deleted.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "protocol/message.h"
#include "tests/faults/ledger.h"

namespace unitsync::faults {

// id -> token the work left; "" = the work deleted the row.
using Applied = std::map<std::string, std::string>;

// What changed from `before` to `after`.
Applied Difference(const Tokens& before, const Tokens& after);

class AckBook {
 public:
  // The node applied `applied` for (of, seq).
  void Applied(protocol::AckOf of, uint64_t seq, const faults::Applied& applied);
  // The node sent an ACK (of, seq): pending entries of that kind up to seq are acknowledged.
  void Acked(protocol::AckOf of, uint64_t seq);
  // After a reboot: violations of acknowledged changes in `tokens`, read at `node`.
  void Check(const Ledger& ledger, const std::string& node, const Tokens& tokens,
             std::vector<std::string>& violations) const;
  // ACKs seen, and row changes they acknowledged.
  uint64_t acks() const { return acks_; }
  uint64_t acked_rows() const { return acked_rows_; }

 private:
  std::map<protocol::AckOf, std::map<uint64_t, faults::Applied>> pending_;
  std::map<std::string, std::string> acked_;  // id -> highest acknowledged token ("" deleted)
  uint64_t acks_ = 0;
  uint64_t acked_rows_ = 0;
};

}  // namespace unitsync::faults
