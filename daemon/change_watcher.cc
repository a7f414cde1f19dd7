#include "daemon/change_watcher.h"

#include <sys/inotify.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

namespace unitsync::daemon {

ChangeWatcher::ChangeWatcher(boost::asio::io_context& io, StoreWorker& store,
                             store::Replica& replica, Logger& log, int64_t fallback_ms,
                             std::function<void()> changed)
    : io_(io),
      store_(store),
      replica_(replica),
      log_(log),
      fallback_ms_(fallback_ms),
      changed_(std::move(changed)),
      db_name_(std::filesystem::path(replica.path()).filename().string()),
      inotify_(io),
      fallback_(io),
      settle_(io),
      pause_(io) {}

ChangeWatcher::~ChangeWatcher() { Stop(); }

void ChangeWatcher::Start() {
  const int fd = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  const std::string dir = std::filesystem::absolute(replica_.path()).parent_path().string();
  if (fd < 0 || ::inotify_add_watch(fd, dir.c_str(),
                                    IN_MODIFY | IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE) < 0) {
    log_.Warn("change_watch_unavailable", "dir=" + dir + " error=\"" + std::strerror(errno) +
                                              "\" fallback_ms=" + std::to_string(fallback_ms_));
    if (fd >= 0) ::close(fd);
  } else {
    inotify_.assign(fd);
    Read();
  }
  ArmFallback();
}

void ChangeWatcher::Stop() {
  *alive_ = false;
  boost::system::error_code ec;
  inotify_.close(ec);
  fallback_.cancel();
  settle_.cancel();
  pause_.cancel();
}

void ChangeWatcher::Read() {
  std::weak_ptr<bool> alive = alive_;
  inotify_.async_read_some(
      boost::asio::buffer(buf_), [this, alive](const boost::system::error_code& ec, size_t n) {
        if (ec || alive.expired() || !*alive.lock()) return;
        bool ours = false;
        for (size_t off = 0; off + sizeof(inotify_event) <= n;) {
          const auto* ev = reinterpret_cast<const inotify_event*>(buf_.data() + off);
          if (ev->len > 0 && std::strncmp(ev->name, db_name_.c_str(), db_name_.size()) == 0) {
            ours = true;  // the database, its -wal or -journal
          }
          off += sizeof(inotify_event) + ev->len;
        }
        if (ours) {
          Check();
          settle_ms_ = kSettleFirstMs;  // a new burst: the re-checks start over
          ArmSettle();
        }
        PauseThenRead();
      });
}

void ChangeWatcher::PauseThenRead() {
  pause_.expires_after(std::chrono::milliseconds(kReadPauseMs));
  std::weak_ptr<bool> alive = alive_;
  pause_.async_wait([this, alive](const boost::system::error_code& ec) {
    if (ec || alive.expired() || !*alive.lock()) return;
    Read();
  });
}

void ChangeWatcher::ArmFallback() {
  fallback_.expires_after(std::chrono::milliseconds(fallback_ms_));
  std::weak_ptr<bool> alive = alive_;
  fallback_.async_wait([this, alive](const boost::system::error_code& ec) {
    if (ec || alive.expired() || !*alive.lock()) return;
    Check();
    ArmFallback();
  });
}

void ChangeWatcher::ArmSettle() {
  settle_.expires_after(std::chrono::milliseconds(settle_ms_));  // cancels a pending wait
  std::weak_ptr<bool> alive = alive_;
  settle_.async_wait([this, alive](const boost::system::error_code& ec) {
    if (ec || alive.expired() || !*alive.lock()) return;
    Check();
    settle_ms_ *= 2;
    if (settle_ms_ <= kSettleLastMs) ArmSettle();
  });
}

void ChangeWatcher::Check() {
  if (checking_) {
    again_ = true;  // one more check after the running one: events may have raced it
    return;
  }
  checking_ = true;
  std::weak_ptr<bool> alive = alive_;
  store_.Submit(
      [this]() -> bool {
        auto stmt = replica_.db().Prepare("PRAGMA data_version");
        if (!stmt) return false;
        auto row = stmt->Step();
        if (!row || !*row) return false;
        const int64_t v = stmt->ColumnInt(0);
        const bool moved = data_version_ >= 0 && v != data_version_;
        const bool first = data_version_ < 0;
        data_version_ = v;
        // The first check cannot know what happened while the daemon was down: push.
        return moved || first;
      },
      [this, alive](bool moved) {
        if (alive.expired() || !*alive.lock()) return;
        checking_ = false;
        if (moved) changed_();
        if (again_) {
          again_ = false;
          Check();
        }
      });
}

}  // namespace unitsync::daemon
