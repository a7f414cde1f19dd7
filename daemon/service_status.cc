#include "daemon/service_status.h"

#include <ctime>

#include "store/change_log.h"
#include "store/sync_state.h"

namespace unitsync::daemon {
namespace {

std::string Utc(int64_t wall_ms) {
  const std::time_t t = static_cast<std::time_t>(wall_ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace

Result<UnitBacklog> ReadUnitBacklog(store::Replica& replica) {
  auto outbox = store::GetOutboxState(replica);
  if (!outbox) return tl::unexpected(outbox.error());
  auto stats = store::GetChangeLogStats(replica, outbox->acked_log_seq);
  if (!stats) return tl::unexpected(stats.error());
  return UnitBacklog{stats->pending, stats->oldest_wall_ms};
}

std::string UnitStatusText(protocol::Uplink::Phase phase, uint32_t attempts,
                           const UnitBacklog* backlog, bool paused) {
  using Phase = protocol::Uplink::Phase;
  std::string s;
  if (paused) {
    s = "sync paused by the admin (unitsyncctl resume)";
  } else {
    switch (phase) {
      case Phase::kSyncing:
        s = "connected to central";
        break;
      case Phase::kConnecting:
      case Phase::kAwaitWelcome:
      case Phase::kIdle:
        s = "connecting to central";
        break;
      case Phase::kBackoff:
        s = "not connected to central";
        break;
      case Phase::kStopped:
        return "stopping";
    }
    if (phase != Phase::kSyncing && attempts > 0) {
      s += " (attempt " + std::to_string(attempts) + ")";
    }
  }
  if (backlog != nullptr) {
    s += "; " + std::to_string(backlog->changes) +
         (backlog->changes == 1 ? " change waiting" : " changes waiting");
    if (backlog->changes > 0 && backlog->oldest_wall_ms > 0) {
      s += " since " + Utc(backlog->oldest_wall_ms);
    }
  }
  return s;
}

std::string CentralStatusText(const std::string& listening, size_t connected, size_t enrolled) {
  return "listening on " + listening + "; " + std::to_string(connected) + " of " +
         std::to_string(enrolled) + " enrolled units connected";
}

StatusReporter::StatusReporter(boost::asio::io_context& io, SystemdNotifier& notifier,
                               const UnitNode& node, StoreWorker& store, store::Replica& replica)
    : notifier_(notifier), timer_(io), unit_(&node), store_(&store), replica_(&replica) {}

StatusReporter::StatusReporter(boost::asio::io_context& io, SystemdNotifier& notifier,
                               const CentralNode& node, const pki::Registry& registry,
                               std::string listening)
    : notifier_(notifier),
      timer_(io),
      central_(&node),
      registry_(&registry),
      listening_(std::move(listening)) {}

StatusReporter::~StatusReporter() {
  *alive_ = false;
  timer_.cancel();
}

void StatusReporter::Start() {
  if (!notifier_.enabled() || stopped_) return;
  Sample();
  Arm();
}

void StatusReporter::Stop() {
  stopped_ = true;
  timer_.cancel();
}

void StatusReporter::Arm() {
  timer_.expires_after(SystemdNotifier::kStatusInterval);
  std::weak_ptr<bool> alive = alive_;
  timer_.async_wait([this, alive](const boost::system::error_code& ec) {
    if (ec || alive.expired() || !*alive.lock() || stopped_) return;
    Sample();
    Arm();
  });
}

void StatusReporter::Sample() {
  if (central_ != nullptr) {
    size_t enrolled = 0;
    for (const auto& u : registry_->units) enrolled += u.unit.revoked ? 0 : 1;
    notifier_.SetStatus(CentralStatusText(listening_, central_->sessions(), enrolled));
    return;
  }
  const protocol::Uplink& up = unit_->uplink();
  notifier_.SetStatus(UnitStatusText(up.phase(), up.attempts(), backlog_.get(), unit_->paused()));
  if (reading_) return;
  reading_ = true;
  std::weak_ptr<bool> alive = alive_;
  store::Replica* replica = replica_;
  store_->Submit(
      [replica] {
        auto b = ReadUnitBacklog(*replica);
        // A failed read shows as "unknown"; the sync itself reports store errors.
        return b ? std::make_shared<UnitBacklog>(*b) : std::shared_ptr<UnitBacklog>();
      },
      [this, alive](std::shared_ptr<UnitBacklog> b) {
        if (alive.expired() || !*alive.lock()) return;
        reading_ = false;
        backlog_ = b ? std::make_unique<UnitBacklog>(*b) : nullptr;
        if (stopped_) return;
        const protocol::Uplink& up = unit_->uplink();
        notifier_.SetStatus(
            UnitStatusText(up.phase(), up.attempts(), backlog_.get(), unit_->paused()));
      });
}

}  // namespace unitsync::daemon
