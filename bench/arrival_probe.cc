#include "bench/arrival_probe.h"

#include <thread>

#include "bench/process.h"

namespace unitsync::bench {

Result<ArrivalProbe> ArrivalProbe::Open(const std::string& db_path) {
  auto db = store::Db::Open(db_path, /*create=*/false, /*read_only=*/true);
  if (!db) return tl::unexpected(db.error());
  ArrivalProbe probe(std::move(*db));
  auto stmt = probe.db_.Prepare("PRAGMA data_version");
  if (!stmt) return tl::unexpected(stmt.error());
  probe.data_version_ = std::move(*stmt);
  return probe;
}

Result<bool> ArrivalProbe::Exists(const std::string& table, const std::string& id) {
  auto it = exists_.find(table);
  if (it == exists_.end()) {
    auto stmt = db_.Prepare("SELECT 1 FROM " + table + " WHERE id = ?1");
    if (!stmt) return tl::unexpected(stmt.error());
    it = exists_.emplace(table, std::move(*stmt)).first;
  }
  store::Statement& s = it->second;
  s.Reset();
  s.BindText(1, id);
  auto row = s.Step();
  s.Reset();  // ends the read transaction
  if (!row) return tl::unexpected(row.error());
  return *row;
}

Result<ArrivalProbe::Clock::time_point> ArrivalProbe::WaitFor(const std::string& table,
                                                              const std::string& id,
                                                              std::chrono::microseconds poll,
                                                              std::chrono::milliseconds timeout) {
  const auto until = Clock::now() + timeout;
  for (;;) {
    data_version_.Reset();
    auto row = data_version_.Step();
    if (!row) return tl::unexpected(row.error());
    const int64_t version = data_version_.ColumnInt(0);
    data_version_.Reset();
    if (version != last_version_) {
      last_version_ = version;
      auto found = Exists(table, id);
      if (!found) return tl::unexpected(found.error());
      if (*found) return Clock::now();
    }
    if (Clock::now() >= until) {
      return Fail(Errc::kInternal, "a " + table + " row did not arrive within " +
                                       std::to_string(timeout.count()) + " ms");
    }
    if (StopRequested()) return Fail(Errc::kInternal, "interrupted");
    std::this_thread::sleep_for(poll);
  }
}

}  // namespace unitsync::bench
