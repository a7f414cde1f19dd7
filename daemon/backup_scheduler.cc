#include "daemon/backup_scheduler.h"

#include <algorithm>
#include <boost/asio/post.hpp>
#include <chrono>
#include <ctime>
#include <filesystem>
#include <vector>

#include "control/format.h"
#include "recovery/backup_file.h"

namespace unitsync::daemon {
namespace {

namespace fs = std::filesystem;
constexpr const char* kSuffix = ".usbk";

// <node>-YYYYmmddTHHMMSSZ.usbk: names sort by time.
std::string BackupName(const std::string& node, int64_t now_ms) {
  const std::time_t t = static_cast<std::time_t>(now_ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
  return node + "-" + stamp + kSuffix;
}

// This node's backups in `dir`, oldest first.
std::vector<fs::path> OwnBackups(const std::string& dir, const std::string& node) {
  std::vector<fs::path> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    if (name.rfind(node + "-", 0) == 0 && name.size() > node.size() + 6 &&
        name.compare(name.size() - 5, 5, kSuffix) == 0 && e.is_regular_file(ec)) {
      out.push_back(e.path());
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

BackupScheduler::BackupScheduler(boost::asio::io_context& io, const Config& config,
                                 protocol::ChangesetKey key, StoreWorker& store,
                                 store::Replica& replica, Logger& log)
    : io_(io),
      config_(config),
      key_(std::move(key)),
      store_(store),
      replica_(replica),
      log_(log),
      timer_(io) {}

BackupScheduler::~BackupScheduler() {
  if (worker_.joinable()) worker_.join();
}

void BackupScheduler::Start() {
  const int64_t interval_ms = config_.backup_interval_s * 1000;
  int64_t delay_ms = 0;
  const auto own = OwnBackups(config_.backup_dir, config_.node_id);
  if (!own.empty()) {
    std::error_code ec;
    const auto mtime = fs::last_write_time(own.back(), ec);
    if (!ec) {
      const auto age = fs::file_time_type::clock::now() - mtime;
      const int64_t age_ms = std::chrono::duration_cast<std::chrono::milliseconds>(age).count();
      delay_ms = std::clamp<int64_t>(interval_ms - age_ms, 0, interval_ms);
    }
  }
  log_.Info("backup_scheduled", "dir=\"" + config_.backup_dir +
                                    "\" in_s=" + std::to_string(delay_ms / 1000) +
                                    " every_s=" + std::to_string(config_.backup_interval_s) +
                                    " keep=" + std::to_string(config_.backup_keep));
  Arm(delay_ms);
}

void BackupScheduler::Stop() {
  stopped_ = true;
  timer_.cancel();
}

void BackupScheduler::Arm(int64_t delay_ms) {
  timer_.expires_after(std::chrono::milliseconds(delay_ms));
  timer_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec && !stopped_) RunOnce();
  });
}

void BackupScheduler::RunOnce() {
  if (state_.running) return;
  if (worker_.joinable()) worker_.join();  // the previous run has posted its result
  state_.running = true;
  const int64_t started_ms = control::WallNowMs();
  store_.Submit([&replica = replica_] { return store::PinStampedSnapshot(replica); },
                [this, started_ms](Result<store::PinnedSnapshot> pin) {
                  if (!pin) return Finished(tl::unexpected(pin.error()), 0, started_ms);
                  if (stopped_) {
                    state_.running = false;
                    return;
                  }
                  Copy(std::move(*pin), started_ms);
                });
}

void BackupScheduler::Copy(store::PinnedSnapshot snapshot, int64_t started_ms) {
  const std::string path =
      (fs::path(config_.backup_dir) / BackupName(config_.node_id, started_ms)).string();
  worker_ = std::thread([this, path, started_ms, snapshot = std::move(snapshot)]() mutable {
    recovery::BackupRequest req;
    req.out_path = path;
    req.key = &key_;
    req.expect_node = config_.node_id;
    req.now_ms = started_ms;
    auto info = recovery::WriteBackup(req, std::move(snapshot));
    Result<std::string> file = path;
    uint64_t bytes = 0;
    if (info) {
      bytes = info->file_bytes;
    } else {
      file = tl::unexpected(info.error());
    }
    boost::asio::post(io_, [this, file = std::move(file), bytes, started_ms]() mutable {
      Finished(std::move(file), bytes, started_ms);
    });
  });
}

void BackupScheduler::Finished(Result<std::string> file, uint64_t bytes, int64_t started_ms) {
  state_.running = false;
  const int64_t took_ms = control::WallNowMs() - started_ms;
  if (file) {
    state_.last_success_ms = started_ms;
    state_.last_file = *file;
    state_.last_bytes = bytes;
    state_.last_error.clear();
    log_.Info("backup_done", "file=\"" + *file + "\" bytes=" + std::to_string(bytes) +
                                 " took_ms=" + std::to_string(took_ms));
    Prune();
  } else {
    state_.last_failure_ms = started_ms;
    state_.last_error = file.error().message;
    ++state_.failures;
    log_.Error("backup_failed", "error=\"" + file.error().message + "\" hint=\"" +
                                    file.error().hint + "\" retry_in_s=600");
  }
  if (stopped_) return;
  // A failed backup is retried sooner than the next scheduled one (the disk may be back).
  const int64_t interval_ms = config_.backup_interval_s * 1000;
  Arm(file ? interval_ms : std::min<int64_t>(interval_ms, 600'000));
}

void BackupScheduler::Prune() {
  auto own = OwnBackups(config_.backup_dir, config_.node_id);
  while (own.size() > config_.backup_keep) {
    std::error_code ec;
    fs::remove(own.front(), ec);
    if (ec) {
      log_.Warn("backup_prune_failed",
                "file=\"" + own.front().string() + "\" error=\"" + ec.message() + "\"");
    } else {
      log_.Info("backup_pruned", "file=\"" + own.front().string() + "\"");
    }
    own.erase(own.begin());
  }
}

}  // namespace unitsync::daemon
