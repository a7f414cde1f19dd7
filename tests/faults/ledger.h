// What the fault tests' writers committed, and the checks a replica must pass against it
// (tests/RELIABILITY.md, "Crash and power-loss tests").
//
// Every replicated row the writers touch has exactly one writer: a unit writes its own
// students ("s-<unit>-<n>"), central writes students in a unit's scope ("c-<unit>-<n>")
// and reference data (action_type "a-<n>"). Each write puts a fresh token in the row's
// tracked column (student.grade, action_type.name): "w" and a counter shared by all
// writers, zero-padded, so a later write of a row always has the larger token. A write
// is recorded only once its COMMIT returned to the writer, so the ledger holds exactly
// the writes a user was told are saved. With one writer per row no two writes are
// concurrent: every replica must end with each row's last token (or without the row,
// once its writer deleted it), and no replica ever shows a row going back to an older
// token, a deleted row coming back, or a conflict record.
//
// Not thread-safe; the kill test guards its ledger with a mutex held across each write
// and each check (a check then never sees a commit the ledger does not hold yet).
#pragma once

#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "store/replica.h"

namespace unitsync::faults {

inline constexpr const char* kCentralNode = "central";

struct RowFate {
  std::string table;   // "student" or "action_type"
  std::string scope;   // the owning unit; "" for central-scope rows (every unit holds them)
  std::string writer;  // node id of the only node that writes it
  std::string token;   // last token committed
  bool deleted = false;
};

// A replica's tracked rows: id -> token (live rows only).
using Tokens = std::map<std::string, std::string>;

class Ledger {
 public:
  struct Counts {
    uint64_t inserts = 0, updates = 0, deletes = 0, failed = 0;
  };

  // One random insert, update or delete by `node` (a unit id or kCentralNode) on `r`, in
  // one IMMEDIATE transaction; `units` are the deployment's units (central writes into
  // their scopes). Recorded only when COMMIT succeeded; a failed write (busy, I/O) is
  // rolled back, counted in `failed`, and not recorded. An update or delete of a row the
  // ledger holds live that finds no row at the writer's own replica is a violation,
  // appended to `violations`.
  void Write(store::Replica& r, const std::string& node, const std::vector<std::string>& units,
             std::mt19937_64& rng, std::vector<std::string>& violations);

  const std::map<std::string, RowFate>& rows() const { return rows_; }
  const Counts& counts() const { return counts_; }

 private:
  std::string NextToken();
  std::map<std::string, RowFate> rows_;
  std::map<std::string, std::vector<std::string>> live_;  // writer -> ids it may still write
  std::map<std::string, uint64_t> next_id_;               // writer -> next row number
  uint64_t next_token_ = 1;
  Counts counts_;
};

// True when `node` holds `row` (central holds everything, a unit its scope and
// central-scope rows).
bool Holds(const std::string& node, const RowFate& row);

// The tracked rows of a replica. Fails only when the replica cannot be read.
Result<Tokens> ReadTokens(store::Replica& r);

// "ok" or what PRAGMA integrity_check reported, from a fresh connection to `path` (as a
// restarted daemon finds the file).
std::string IntegrityCheck(const std::string& path);

// Rows in _us_conflicts (with one writer per row there must be none).
Result<int64_t> ConflictCount(store::Replica& r);

// After a drain: `tokens` (read at `node`) hold exactly the ledger's live rows that `node`
// holds, each with its last token. One line per violation (ids only).
std::vector<std::string> CheckFinal(const Ledger& ledger, const std::string& node,
                                    const Tokens& tokens);

// Checks each replica's tracked rows against what it showed before: no token goes back,
// no row that was live disappears unless its writer deleted it, no deleted row comes
// back, no token the ledger does not hold (a value never committed).
class MonotonicCheck {
 public:
  // REQUIRES: `ledger` holds every write committed before `tokens` was read.
  void Observe(const Ledger& ledger, const std::string& node, const Tokens& tokens,
               std::vector<std::string>& violations);
  uint64_t observations() const { return observations_; }

 private:
  struct Seen {
    std::string token;  // last token seen live ("" = never)
    bool gone = false;  // seen absent after its writer deleted it
  };
  std::map<std::pair<std::string, std::string>, Seen> seen_;  // (node, id)
  uint64_t observations_ = 0;
};

}  // namespace unitsync::faults
