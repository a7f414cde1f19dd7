#include "tests/sim/sql.h"

#include <stdexcept>

namespace unitsync::sim {
namespace {

store::Statement Prepare(store::Replica& r, const std::string& sql,
                         const std::vector<std::string>& params) {
  auto stmt = r.db().Prepare(sql);
  if (!stmt) throw std::runtime_error("sim sql: " + stmt.error().ToString());
  for (size_t i = 0; i < params.size(); ++i) stmt->BindText(static_cast<int>(i + 1), params[i]);
  return std::move(*stmt);
}

}  // namespace

std::optional<int64_t> RunSql(store::Replica& r, const std::string& sql,
                              const std::vector<std::string>& params) {
  store::Statement stmt = Prepare(r, sql, params);
  if (!stmt.Run()) return std::nullopt;
  return r.db().Changes();
}

std::vector<std::vector<std::string>> QueryRows(store::Replica& r, const std::string& sql,
                                                int columns, const std::vector<std::string>& params,
                                                const std::string& null_as) {
  store::Statement stmt = Prepare(r, sql, params);
  std::vector<std::vector<std::string>> rows;
  for (;;) {
    auto more = stmt.Step();
    if (!more) throw std::runtime_error("sim sql: " + more.error().ToString());
    if (!*more) break;
    std::vector<std::string> row;
    for (int i = 0; i < columns; ++i) {
      row.push_back(stmt.ColumnIsNull(i) ? null_as : stmt.ColumnText(i));
    }
    rows.push_back(std::move(row));
  }
  return rows;
}

std::vector<std::string> QueryColumn(store::Replica& r, const std::string& sql,
                                     const std::vector<std::string>& params) {
  std::vector<std::string> out;
  for (auto& row : QueryRows(r, sql, 1, params)) out.push_back(std::move(row[0]));
  return out;
}

}  // namespace unitsync::sim
