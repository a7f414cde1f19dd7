#include "tests/faults/ack_book.h"

namespace unitsync::faults {

Applied Difference(const Tokens& before, const Tokens& after) {
  Applied out;
  for (const auto& [id, token] : after) {
    const auto it = before.find(id);
    if (it == before.end() || it->second != token) out[id] = token;
  }
  for (const auto& [id, token] : before) {
    if (!after.count(id)) out[id] = "";
  }
  return out;
}

void AckBook::Applied(protocol::AckOf of, uint64_t seq, const faults::Applied& applied) {
  // A repeat (a resend after a crash) may apply less; keep everything either run applied.
  for (const auto& [id, token] : applied) pending_[of][seq][id] = token;
}

void AckBook::Acked(protocol::AckOf of, uint64_t seq) {
  ++acks_;
  auto& pending = pending_[of];
  for (auto it = pending.begin(); it != pending.end() && it->first <= seq;) {
    for (const auto& [id, token] : it->second) {
      // "" (deleted) is final: no writer re-creates an id; otherwise the newest token.
      auto [acked, fresh] = acked_.try_emplace(id, token);
      if (!fresh && (token.empty() || (!acked->second.empty() && acked->second < token))) {
        acked->second = token;
      }
      ++acked_rows_;
    }
    it = pending.erase(it);
  }
}

void AckBook::Check(const Ledger& ledger, const std::string& node, const Tokens& tokens,
                    std::vector<std::string>& violations) const {
  for (const auto& [id, token] : acked_) {
    const auto now = tokens.find(id);
    if (token.empty()) {
      if (now != tokens.end()) {
        violations.push_back(node + ": acknowledged delete of " + id + " undone (holds " +
                             now->second + ") after power loss");
      }
    } else if (now == tokens.end()) {
      const auto fate = ledger.rows().find(id);
      if (fate == ledger.rows().end() || !fate->second.deleted) {
        violations.push_back(node + ": acknowledged row " + id + " (" + token +
                             ") is gone after power loss");
      }
    } else if (now->second < token) {
      violations.push_back(node + ": acknowledged write " + token + " of " + id +
                           " lost after power loss (holds " + now->second + ")");
    }
  }
}

}  // namespace unitsync::faults
