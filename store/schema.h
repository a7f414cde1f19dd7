// The schema a replica is created with: numbered migrations plus the
// replication manifest. The product ships SupportSchema() (store/schema/,
// compiled in); tests may pass their own bundle to show that a new table
// needs no engine change.
#pragma once

#include <string>
#include <vector>

namespace unitsync::store {

struct Migration {
  int version;       // 1, 2, 3 ... — applied in order, each exactly once.
  std::string name;  // File name, for messages.
  std::string sql;   // Plain SQL; may reference the engine table _us_applying.
};

struct SchemaBundle {
  std::vector<Migration> migrations;  // Sorted by version, no gaps.
  std::string manifest_toml;          // See store/schema/manifest.toml.

  int LatestVersion() const { return migrations.empty() ? 0 : migrations.back().version; }
};

// The support schema from DESIGN.md "Data model". Generated from store/schema.
const SchemaBundle& SupportSchema();

}  // namespace unitsync::store
