#include "daemon/handshake_slots.h"

#include <cstdio>

namespace unitsync::daemon {

HandshakeSlots::Slot::~Slot() { Release(); }

bool HandshakeSlots::Slot::evicted() const { return entry_ && entry_->evicted; }

void HandshakeSlots::Slot::Release() {
  if (owner_ != nullptr && entry_ && entry_->in_list) owner_->Release(entry_);
}

std::string HandshakeSlots::SourceOf(const boost::asio::ip::address& address) {
  if (address.is_v4()) return address.to_v4().to_string();
  const auto v6 = address.to_v6();
  if (v6.is_v4_mapped()) {
    return boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, v6).to_string();
  }
  const auto bytes = v6.to_bytes();
  char prefix[32];
  std::snprintf(prefix, sizeof prefix, "%02x%02x:%02x%02x:%02x%02x:%02x%02x::/64", bytes[0],
                bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7]);
  return prefix;
}

HandshakeSlots::~HandshakeSlots() {
  for (auto& e : pending_) e->in_list = false;  // outstanding slots no longer point here
}

std::optional<HandshakeSlots::Slot> HandshakeSlots::Take(
    const std::shared_ptr<TlsConnection>& connection, const std::string& source) {
  if (auto it = by_source_.find(source); it != by_source_.end() && it->second >= per_source_) {
    return std::nullopt;
  }
  while (pending_.size() >= max_) {
    std::shared_ptr<Entry> oldest = pending_.front();
    Forget(*oldest);
    oldest->evicted = true;
    ++evictions_;
    // Its handshake coroutine wakes with an error and drops its slot (a no-op now).
    if (auto c = oldest->connection.lock()) c->Abort();
  }
  auto entry = std::make_shared<Entry>();
  entry->connection = connection;
  entry->source = source;
  pending_.push_back(entry);
  entry->where = std::prev(pending_.end());
  ++by_source_[source];
  return Slot(this, std::move(entry));
}

void HandshakeSlots::Release(const std::shared_ptr<Entry>& entry) { Forget(*entry); }

void HandshakeSlots::Forget(Entry& entry) {
  entry.in_list = false;
  pending_.erase(entry.where);
  if (auto it = by_source_.find(entry.source); it != by_source_.end() && --it->second == 0) {
    by_source_.erase(it);
  }
}

}  // namespace unitsync::daemon
