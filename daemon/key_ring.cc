#include "daemon/key_ring.h"

namespace unitsync::daemon {

Status KeyRing::Add(const std::string& unit, protocol::ByteView secret, uint32_t key_id) {
  auto key = protocol::DeriveChangesetKey(secret, key_id);
  if (!key) return tl::unexpected(key.error());
  UnitKeys& u = units_[unit];
  u.keys.insert_or_assign(key_id, std::move(*key));
  u.current = key_id;
  return {};
}

Status KeyRing::SetCurrent(const std::string& unit, uint32_t key_id) {
  auto it = units_.find(unit);
  if (it == units_.end() || !it->second.keys.contains(key_id)) {
    return Fail(Errc::kNotFound, "no key id " + std::to_string(key_id) + " for unit " + unit);
  }
  it->second.current = key_id;
  return {};
}

void KeyRing::Merge(KeyRing&& other) {
  for (auto& [unit, theirs] : other.units_) {
    UnitKeys& mine = units_[unit];
    for (auto& [id, key] : theirs.keys) mine.keys.insert_or_assign(id, std::move(key));
    mine.current = theirs.current;
  }
  other.units_.clear();
}

Result<const protocol::ChangesetKey*> KeyRing::Current(const std::string& unit) const {
  auto it = units_.find(unit);
  if (it == units_.end()) {
    return Fail(Errc::kNotFound, "no changeset key for unit " + unit,
                "enroll the unit (unitsyncctl enroll) or check the key directory");
  }
  return &it->second.keys.at(it->second.current);
}

Result<const protocol::ChangesetKey*> KeyRing::Find(const std::string& unit,
                                                    uint32_t key_id) const {
  auto it = units_.find(unit);
  if (it != units_.end()) {
    auto k = it->second.keys.find(key_id);
    if (k != it->second.keys.end()) return &k->second;
  }
  return Fail(Errc::kNotFound,
              "no changeset key id " + std::to_string(key_id) + " for unit " + unit);
}

}  // namespace unitsync::daemon
