// Small SQL helpers for the simulator's workload and checker: bound text parameters
// only, errors as values (a refused write is a normal outcome of a random workload).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "store/replica.h"

namespace unitsync::sim {

// Runs one statement; the rows it changed, or nullopt when SQLite refused it (a
// constraint, a trigger's RAISE). Text parameters bind to ?1, ?2, ...
std::optional<int64_t> RunSql(store::Replica& r, const std::string& sql,
                              const std::vector<std::string>& params = {});

// The first column of every result row, as text ("" for NULL). Throws
// std::runtime_error when the query fails (the simulator's own SQL: a bug).
std::vector<std::string> QueryColumn(store::Replica& r, const std::string& sql,
                                     const std::vector<std::string>& params = {});

// Every result row, its first `columns` columns as text; `null_as` for NULL.
std::vector<std::vector<std::string>> QueryRows(store::Replica& r, const std::string& sql,
                                                int columns,
                                                const std::vector<std::string>& params = {},
                                                const std::string& null_as = "");

}  // namespace unitsync::sim
