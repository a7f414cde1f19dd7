// Whether the replica's storage works: the condition "disk full" or "I/O error" while the
// store's writes fail with SQLITE_FULL / SQLITE_IOERR (Errc::kDiskFull / kIo), counted,
// logged, shown in `unitsyncctl status` and the metrics; gone at the first store write
// that succeeds again. The daemon keeps running meanwhile: nothing was written by the
// failed transaction (SQLite rolls it back), nothing unwritten is acknowledged, and the
// sync core retries the failed work with backoff until it succeeds (daemon/DESIGN.md
// "Disk full and I/O errors").
//
// Log lines: `storage_fault kind=disk_full|io work=... database=... error=... hint=...`
// on every failure (the Logger rate-limits them), `storage_recovered kind=... after_s=...`
// when a write succeeds again. They name the work and the SQL statement that failed
// (bound parameters only), never a row value.
//
// Thread-safe: the store thread reports, the I/O thread reads (one mutex).
#pragma once

#include <cstdint>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "common/error.h"
#include "daemon/log.h"
#include "daemon/sync_executor.h"

namespace unitsync::daemon {

enum class StorageCondition {
  kOk,        // the last write succeeded (or none failed yet)
  kDiskFull,  // the last failure was SQLITE_FULL: the filesystem (or a quota) is full
  kIo,        // the last failure was an I/O error (EIO, a vanished or read-only file)
};

// "ok", "disk_full", "io" (the `kind` label of the metrics, the log and --json).
std::string_view StorageConditionName(StorageCondition c);

class StorageHealth final : public StoreObserver {
 public:
  struct State {
    StorageCondition condition = StorageCondition::kOk;
    int64_t since_ms = 0;    // wall time the condition began (0 when ok)
    std::string last_error;  // the most recent storage failure, kept after recovery
    std::string last_work;   // the store work it happened in
    int64_t last_error_ms = 0;
    uint64_t disk_full_total = 0;  // failures counted per kind since start
    uint64_t io_total = 0;
    uint64_t recoveries = 0;  // times the condition cleared
  };

  // `database` is the replica's path (shown with the condition); `log` must outlive this.
  StorageHealth(std::string database, Logger& log);

  // StoreObserver (any thread): a failure with kDiskFull / kIo sets the condition; other
  // errors are not about storage and are ignored here.
  void Failed(std::string_view work, const Error& error) override;
  void Wrote() override;

  State state() const;
  // The operator's next step for the current condition ("" when ok).
  static std::string HintFor(StorageCondition c);
  // {"condition", "database", "since_ms", "hint", "last_error": {...} | null, counters}.
  nlohmann::json ToJson() const;

 private:
  const std::string database_;
  Logger& log_;
  mutable std::mutex mu_;
  State state_;  // GUARDED_BY(mu_)
};

}  // namespace unitsync::daemon
