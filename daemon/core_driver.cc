#include "daemon/core_driver.h"

namespace unitsync::daemon {

CoreDriver::CoreDriver(boost::asio::io_context& io, StoreWorker& store, Logger& log,
                       std::string who, Hooks hooks)
    : io_(io), store_(store), log_(log), who_(std::move(who)), hooks_(std::move(hooks)) {}

CoreDriver::~CoreDriver() { Shutdown(); }

void CoreDriver::Shutdown() {
  *alive_ = false;
  alive_ = std::make_shared<bool>(true);
  for (auto& [id, timer] : timers_) timer->cancel();
  timers_.clear();
  if (connection_) connection_->Abort();
  connection_.reset();
}

void CoreDriver::Pump() {
  for (auto& action : hooks_.take_actions()) {
    std::visit(
        [&](auto& a) {
          using A = std::decay_t<decltype(a)>;
          if constexpr (std::is_same_v<A, protocol::SendFrame>) {
            if (connection_) {
              bytes_sent_ += a.frame.size();
              connection_->Send(std::move(a.frame));
            }
          } else if constexpr (std::is_same_v<A, protocol::ArmTimer>) {
            auto& timer = timers_[a.id];
            if (!timer) timer = std::make_unique<boost::asio::steady_timer>(io_);
            timer->expires_after(std::chrono::milliseconds(a.after_ms));
            const protocol::TimerId id = a.id;
            std::weak_ptr<bool> alive = alive_;
            timer->async_wait([this, id, alive](const boost::system::error_code& ec) {
              if (ec || alive.expired() || !*alive.lock()) return;
              hooks_.on_timer(id);
              Pump();
            });
          } else if constexpr (std::is_same_v<A, protocol::CancelTimer>) {
            if (auto it = timers_.find(a.id); it != timers_.end()) it->second->cancel();
          } else if constexpr (std::is_same_v<A, protocol::Connect>) {
            if (hooks_.connect) hooks_.connect();
          } else if constexpr (std::is_same_v<A, protocol::CloseConnection>) {
            if (connection_) connection_->Close();
            connection_.reset();
          } else if constexpr (std::is_same_v<A, protocol::LogAdvanced>) {
            if (hooks_.log_advanced) hooks_.log_advanced();
          } else if constexpr (std::is_same_v<A, protocol::VerifyDone>) {
            if (hooks_.verify_done) hooks_.verify_done(std::move(a));
          } else if constexpr (std::is_same_v<A, protocol::LogLine>) {
            log_.Line(a.level, a.event, who_.empty() ? a.fields : who_ + " " + a.fields);
            if (a.level != protocol::LogLevel::kInfo && hooks_.on_problem) hooks_.on_problem(a);
          } else if constexpr (std::is_same_v<A, protocol::StoreWork>) {
            std::weak_ptr<bool> alive = alive_;
            store_.Submit([run = hooks_.run_store_work, work = std::move(a)] { return run(work); },
                          [this, alive](protocol::StoreResult result) {
                            if (alive.expired() || !*alive.lock()) return;
                            hooks_.on_store_result(std::move(result));
                            Pump();
                          });
          }
        },
        action);
  }
  if (hooks_.after_pump) hooks_.after_pump();
}

}  // namespace unitsync::daemon
