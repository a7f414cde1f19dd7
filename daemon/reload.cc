#include "daemon/reload.h"

#include <csignal>
#include <set>
#include <string>

#include "daemon/central_pki.h"

namespace unitsync::daemon {

HangupSignal::HangupSignal(boost::asio::io_context& io, std::function<void()> on_hangup)
    : signals_(io, SIGHUP), on_hangup_(std::move(on_hangup)) {
  Wait();
}

void HangupSignal::Wait() {
  signals_.async_wait([this](const boost::system::error_code& ec, int) {
    if (ec) return;  // the set is gone (shutdown)
    if (!stopped_) on_hangup_();
    Wait();
  });
}

CentralReloader::CentralReloader(const Config& config, StoreWorker& store, Logger& log,
                                 SystemdNotifier& notifier, CentralNode& node,
                                 pki::Registry& registry, KeyRing& keys,
                                 boost::asio::ssl::context& tls, std::time_t& certificate_not_after)
    : config_(config),
      store_(store),
      log_(log),
      notifier_(notifier),
      node_(node),
      registry_(registry),
      keys_(keys),
      tls_(tls),
      certificate_not_after_(certificate_not_after) {}

CentralReloader::~CentralReloader() { *alive_ = false; }

void CentralReloader::Reload() {
  if (stopped_) return;
  if (running_) {
    again_ = true;
    return;
  }
  running_ = true;
  notifier_.Reloading();
  log_.Info("reloading", "pki_dir=" + config_.pki_dir + " bundle=" + config_.bundle);
  using Loaded = std::shared_ptr<Result<CentralPki>>;
  std::weak_ptr<bool> alive = alive_;
  store_.Submit(
      [&config = config_, &keys = keys_]() -> Loaded {
        auto loaded = std::make_shared<Result<CentralPki>>(LoadCentralPki(config));
        if (*loaded) keys.Merge(std::move((*loaded)->keys));
        return loaded;
      },
      [this, alive](Loaded loaded) {
        if (alive.expired() || !*alive.lock() || stopped_) return;
        running_ = false;
        if (!*loaded) {
          const Error& e = loaded->error();
          log_.Error("reload_failed",
                     "error=\"" + e.message + "\"" +
                         (e.hint.empty() ? "" : " hint=\"" + e.hint + "\"") +
                         " kept=\"the registrations, CRL and certificate loaded before\"");
        } else {
          std::set<std::string> admitted_before;
          for (const auto& u : registry_.units) {
            if (!u.unit.revoked) admitted_before.insert(u.unit.unit_id);
          }
          size_t enrolled = 0, revoked = 0, added = 0, newly_revoked = 0, removed = 0;
          for (const auto& id : admitted_before) {
            if ((*loaded)->registry.Find(id) == nullptr) ++removed;
          }
          for (const auto& u : (*loaded)->registry.units) {
            const bool before = admitted_before.contains(u.unit.unit_id);
            if (u.unit.revoked) {
              ++revoked;
              if (before) ++newly_revoked;
            } else {
              ++enrolled;
              if (!before && registry_.Find(u.unit.unit_id) == nullptr) ++added;
            }
          }
          registry_ = std::move((*loaded)->registry);
          tls_ = std::move((*loaded)->tls);
          certificate_not_after_ = (*loaded)->certificate_not_after;
          const size_t dropped = node_.DropUnadmitted();
          log_.Info("reloaded", "units=" + std::to_string(enrolled) + " revoked=" +
                                    std::to_string(revoked) + " added=" + std::to_string(added) +
                                    " newly_revoked=" + std::to_string(newly_revoked) +
                                    " removed=" + std::to_string(removed) +
                                    " sessions_dropped=" + std::to_string(dropped));
        }
        notifier_.Ready();
        if (again_) {
          again_ = false;
          Reload();
        }
      });
}

}  // namespace unitsync::daemon
