#include "store/manifest.h"

#include <toml++/toml.h>

#include <algorithm>
#include <set>

namespace unitsync::store {
namespace {

bool IsIdentifier(std::string_view s) {
  if (s.empty() || s.size() > 64 || s.front() == '_') return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
}

Result<std::string> OptionalIdentifier(const toml::table& t, std::string_view key,
                                       std::string_view table) {
  const toml::node* node = t.get(key);
  if (node == nullptr) return std::string();
  auto value = node->value<std::string>();
  if (!value || !IsIdentifier(*value)) {
    return Fail(Errc::kInvalidArgument, "manifest: table '" + std::string(table) + "': '" +
                                            std::string(key) + "' must be a lowercase identifier");
  }
  return *value;
}

}  // namespace

int TableSpec::ColumnIndex(std::string_view column) const {
  auto it = std::find(columns.begin(), columns.end(), column);
  return it == columns.end() ? -1 : static_cast<int>(it - columns.begin());
}

bool TableSpec::IsLocalOnly(std::string_view column) const {
  return std::find(local_only.begin(), local_only.end(), column) != local_only.end();
}

Result<Manifest> Manifest::Parse(std::string_view text) {
  // Debian's toml++ is built with exceptions: parse errors are thrown.
  toml::table root;
  try {
    root = toml::parse(text);
  } catch (const toml::parse_error& err) {
    return Fail(Errc::kInvalidArgument, "manifest: line " +
                                            std::to_string(err.source().begin.line) + ": " +
                                            std::string(err.description()));
  }
  for (const auto& [key, _] : root) {
    if (key.str() != "table") {
      return Fail(Errc::kInvalidArgument, "manifest: unknown key '" + std::string(key.str()) + "'");
    }
  }
  const toml::array* entries = root["table"].as_array();
  if (entries == nullptr || entries->empty()) {
    return Fail(Errc::kInvalidArgument, "manifest: no [[table]] entries");
  }

  Manifest manifest;
  std::set<std::string> seen;
  for (const toml::node& node : *entries) {
    const toml::table* t = node.as_table();
    if (t == nullptr) return Fail(Errc::kInvalidArgument, "manifest: [[table]] must be a table");
    static const std::set<std::string> kKeys = {"name", "scope", "routing", "local_only",
                                                "private_row_flag"};
    TableSpec spec;
    auto name = (*t)["name"].value<std::string>();
    if (!name || !IsIdentifier(*name)) {
      return Fail(Errc::kInvalidArgument, "manifest: a table has no valid 'name'");
    }
    spec.name = *name;
    for (const auto& [key, _] : *t) {
      if (!kKeys.contains(std::string(key.str()))) {
        return Fail(Errc::kInvalidArgument, "manifest: table '" + spec.name + "': unknown key '" +
                                                std::string(key.str()) + "'");
      }
    }
    if (!seen.insert(spec.name).second) {
      return Fail(Errc::kInvalidArgument, "manifest: table '" + spec.name + "' listed twice");
    }
    const std::string scope = (*t)["scope"].value_or(std::string());
    if (scope == "central") {
      spec.scope = Scope::kCentral;
    } else if (scope == "unit") {
      spec.scope = Scope::kUnit;
    } else {
      return Fail(Errc::kInvalidArgument,
                  "manifest: table '" + spec.name + "': scope must be \"central\" or \"unit\"");
    }
    auto routing = OptionalIdentifier(*t, "routing", spec.name);
    if (!routing) return tl::unexpected(routing.error());
    spec.routing = *routing;
    if (spec.scope == Scope::kUnit && spec.routing.empty()) {
      return Fail(Errc::kInvalidArgument,
                  "manifest: unit-scope table '" + spec.name + "' needs a 'routing' column");
    }
    auto flag = OptionalIdentifier(*t, "private_row_flag", spec.name);
    if (!flag) return tl::unexpected(flag.error());
    spec.private_row_flag = *flag;
    if (const toml::node* lo = t->get("local_only")) {
      const toml::array* arr = lo->as_array();
      if (arr == nullptr) {
        return Fail(Errc::kInvalidArgument,
                    "manifest: table '" + spec.name + "': local_only must be an array");
      }
      for (const toml::node& c : *arr) {
        auto col = c.value<std::string>();
        if (!col || !IsIdentifier(*col) || *col == "id" || *col == spec.routing) {
          return Fail(Errc::kInvalidArgument,
                      "manifest: table '" + spec.name + "': local_only holds an invalid column");
        }
        spec.local_only.push_back(*col);
      }
    }
    manifest.tables_.push_back(std::move(spec));
  }
  return manifest;
}

Status Manifest::Bind(Db& db) {
  auto info = db.Prepare("SELECT name, type, pk FROM pragma_table_info(?1)");
  if (!info) return tl::unexpected(info.error());
  for (TableSpec& spec : tables_) {
    info->Reset();
    info->BindText(1, spec.name);
    std::vector<std::string> all;
    bool id_ok = false;
    for (;;) {
      auto row = info->Step();
      if (!row) return tl::unexpected(row.error());
      if (!*row) break;
      std::string col = info->ColumnText(0);
      if (col == "id") id_ok = info->ColumnText(1) == "TEXT" && info->ColumnInt(2) == 1;
      all.push_back(std::move(col));
    }
    if (all.empty()) {
      return Fail(Errc::kInvalidArgument,
                  "manifest: table '" + spec.name + "' is not in the schema");
    }
    if (!id_ok) {
      return Fail(Errc::kInvalidArgument,
                  "manifest: table '" + spec.name + "' needs 'id TEXT PRIMARY KEY'");
    }
    auto has = [&](const std::string& c) {
      return std::find(all.begin(), all.end(), c) != all.end();
    };
    for (const std::string& c : spec.local_only) {
      if (!has(c)) {
        return Fail(Errc::kInvalidArgument,
                    "manifest: table '" + spec.name + "' has no local_only column '" + c + "'");
      }
    }
    for (const std::string* c : {&spec.routing, &spec.private_row_flag}) {
      if (!c->empty() && !has(*c)) {
        return Fail(Errc::kInvalidArgument,
                    "manifest: table '" + spec.name + "' has no column '" + *c + "'");
      }
    }
    spec.columns.clear();
    for (std::string& c : all) {
      if (c != "id" && !spec.IsLocalOnly(c)) spec.columns.push_back(std::move(c));
    }
  }
  return {};
}

const TableSpec* Manifest::Find(std::string_view table) const {
  for (const TableSpec& spec : tables_) {
    if (spec.name == table) return &spec;
  }
  return nullptr;
}

}  // namespace unitsync::store
