// The replication manifest: which tables are replicated and how (scope,
// routing column, local-only columns, private-row flag). Parsed from TOML,
// then bound to the live schema, which fills in each table's columns.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"
#include "store/sqlite.h"

namespace unitsync::store {

enum class Scope {
  kCentral,  // Reference data: written at central, sent to every unit.
  kUnit,     // Owned by the unit named in the routing column.
};

struct TableSpec {
  std::string name;
  Scope scope = Scope::kUnit;
  std::string routing;                  // Routing column; empty for central scope.
  std::vector<std::string> local_only;  // Never leave the replica.
  std::string private_row_flag;         // Rows with this = 1 never leave; may be empty.

  // Filled by Manifest::Bind from the schema: the replicated columns in
  // schema order, without `id` and without local-only columns.
  std::vector<std::string> columns;

  // Index into `columns`, or -1.
  int ColumnIndex(std::string_view column) const;
  bool IsLocalOnly(std::string_view column) const;
};

class Manifest {
 public:
  // Parses the TOML text. Fails (kInvalidArgument) on a syntax error, an
  // unknown key, a duplicate table, or a unit-scope table without routing.
  static Result<Manifest> Parse(std::string_view toml);

  // Checks every table against the schema in `db` (table exists, `id TEXT`
  // primary key, the named columns exist) and fills TableSpec::columns.
  Status Bind(Db& db);

  const TableSpec* Find(std::string_view table) const;
  const std::vector<TableSpec>& tables() const { return tables_; }

 private:
  std::vector<TableSpec> tables_;
};

}  // namespace unitsync::store
