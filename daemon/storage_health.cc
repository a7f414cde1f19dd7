#include "daemon/storage_health.h"

#include "control/format.h"

namespace unitsync::daemon {

std::string_view StorageConditionName(StorageCondition c) {
  switch (c) {
    case StorageCondition::kOk:
      return "ok";
    case StorageCondition::kDiskFull:
      return "disk_full";
    case StorageCondition::kIo:
      return "io";
  }
  return "ok";
}

StorageHealth::StorageHealth(std::string database, Logger& log)
    : database_(std::move(database)), log_(log) {}

std::string StorageHealth::HintFor(StorageCondition c) {
  switch (c) {
    case StorageCondition::kOk:
      return "";
    case StorageCondition::kDiskFull:
      return "free space on the replica's filesystem (df -h on its directory); every "
             "committed change is kept and syncing resumes by itself, no restart needed";
    case StorageCondition::kIo:
      return "the disk reports I/O errors: check the kernel log (dmesg) and the disk; "
             "syncing retries by itself, and 'unitsyncctl verify' after it works again";
  }
  return "";
}

void StorageHealth::Failed(std::string_view work, const Error& error) {
  StorageCondition kind;
  if (error.code == Errc::kDiskFull) {
    kind = StorageCondition::kDiskFull;
  } else if (error.code == Errc::kIo) {
    kind = StorageCondition::kIo;
  } else {
    return;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    const int64_t now = control::WallNowMs();
    if (state_.condition != kind) state_.since_ms = now;
    state_.condition = kind;
    state_.last_error = error.message;
    state_.last_work = std::string(work);
    state_.last_error_ms = now;
    ++(kind == StorageCondition::kDiskFull ? state_.disk_full_total : state_.io_total);
  }
  log_.Error("storage_fault", "kind=" + std::string(StorageConditionName(kind)) + " work=" +
                                  std::string(work) + " database=\"" + database_ + "\" error=\"" +
                                  error.message + "\" hint=\"" + HintFor(kind) + "\"");
}

void StorageHealth::Wrote() {
  StorageCondition was;
  int64_t since = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (state_.condition == StorageCondition::kOk) return;
    was = state_.condition;
    since = state_.since_ms;
    state_.condition = StorageCondition::kOk;
    state_.since_ms = 0;
    ++state_.recoveries;
  }
  log_.Info("storage_recovered",
            "kind=" + std::string(StorageConditionName(was)) + " database=\"" + database_ +
                "\" after_s=" + std::to_string((control::WallNowMs() - since) / 1000));
}

StorageHealth::State StorageHealth::state() const {
  std::lock_guard<std::mutex> lock(mu_);
  return state_;
}

nlohmann::json StorageHealth::ToJson() const {
  const State s = state();
  nlohmann::json j = {{"condition", StorageConditionName(s.condition)},
                      {"database", database_},
                      {"since_ms", s.since_ms},
                      {"hint", HintFor(s.condition)},
                      {"disk_full_errors", s.disk_full_total},
                      {"io_errors", s.io_total},
                      {"recoveries", s.recoveries}};
  if (s.last_error_ms > 0) {
    j["last_error"] = {
        {"message", s.last_error}, {"work", s.last_work}, {"at_ms", s.last_error_ms}};
  } else {
    j["last_error"] = nullptr;
  }
  return j;
}

}  // namespace unitsync::daemon
