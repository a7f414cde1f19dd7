// Watches a replica from outside, read-only, for the moment a row becomes visible there —
// i.e. the transaction that wrote it has committed. It polls: `PRAGMA data_version` (which
// moves when another connection commits) every `poll` interval, and only when it moved,
// looks the row up by id. The poll interval bounds the resolution: a row is seen up to one
// interval (plus the lookup) after its commit.
//
// Not thread-safe; one probe per replica, on the benchmark's thread.
#pragma once

#include <chrono>
#include <map>
#include <string>

#include "common/error.h"
#include "store/sqlite.h"

namespace unitsync::bench {

class ArrivalProbe {
 public:
  using Clock = std::chrono::steady_clock;

  // Opens `db_path` read-only. Fails as store::Db::Open.
  static Result<ArrivalProbe> Open(const std::string& db_path);

  // Polls until the row `id` of `table` is visible and returns when it was seen. kInternal
  // when it is not seen within `timeout` or a stop signal is pending; SQLite errors as is.
  // `table` is one of the schema's table names (it is spliced into the query).
  Result<Clock::time_point> WaitFor(const std::string& table, const std::string& id,
                                    std::chrono::microseconds poll,
                                    std::chrono::milliseconds timeout);

 private:
  explicit ArrivalProbe(store::Db db) : db_(std::move(db)) {}
  Result<bool> Exists(const std::string& table, const std::string& id);

  store::Db db_;  // declared first: the statements below die before it
  store::Statement data_version_;
  std::map<std::string, store::Statement> exists_;  // per table
  int64_t last_version_ = -1;
};

}  // namespace unitsync::bench
