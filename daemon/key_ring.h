// The changeset keys a node holds: a unit has its own; central has one set per unit.
// Keys are derived from each unit's enrollment secret (protocol/envelope.h) per key id;
// sealing uses the unit's current key id, opening the key id an envelope names, so a
// rotation keeps old envelopes (spool, backups) readable until the old id is retired.
//
// Loading secrets from files belongs to the daemon's config; this is the in-memory
// holder. Not thread-safe: in unitsyncd, once the store thread runs, the ring is read
// and written (Merge on a SIGHUP reload) on the store thread only.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "common/error.h"
#include "protocol/envelope.h"

namespace unitsync::daemon {

class KeyRing {
 public:
  // Derives and adds the key `key_id` of `unit` from its 32-byte secret. The newest
  // added key id of a unit becomes its current one unless SetCurrent says otherwise.
  // Fails with kInvalidArgument on a bad secret; nothing of the secret is in the error.
  Status Add(const std::string& unit, protocol::ByteView secret, uint32_t key_id);
  Status SetCurrent(const std::string& unit, uint32_t key_id);
  // Takes every key of `other` (replacing equal unit/key id pairs) and, for each unit
  // `other` has, its current key id. Keys only `this` has stay. Cannot fail.
  void Merge(KeyRing&& other);

  // The key to seal for `unit` with. kNotFound when the unit has none.
  Result<const protocol::ChangesetKey*> Current(const std::string& unit) const;
  // The key an envelope names. kNotFound (message names unit and key id) when unknown.
  Result<const protocol::ChangesetKey*> Find(const std::string& unit, uint32_t key_id) const;

 private:
  struct UnitKeys {
    std::map<uint32_t, protocol::ChangesetKey> keys;
    uint32_t current = 0;
  };
  std::map<std::string, UnitKeys> units_;
};

}  // namespace unitsync::daemon
