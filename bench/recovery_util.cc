#include "bench/recovery_util.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <system_error>

#include "bench/bench_try.h"
#include "bench/process.h"
#include "store/manifest.h"
#include "store/schema.h"
#include "store/sqlite.h"

namespace unitsync::bench {
namespace {

namespace fs = std::filesystem;

// The manifest bound to the schema of the database at `db_path` (opened read-only).
Result<store::Manifest> BoundManifest(const std::string& db_path) {
  auto db = store::Db::Open(db_path, /*create=*/false, /*read_only=*/true);
  if (!db) return tl::unexpected(db.error());
  auto manifest = store::Manifest::Parse(store::SupportSchema().manifest_toml);
  if (!manifest) return tl::unexpected(manifest.error());
  BENCH_TRY(manifest->Bind(*db));
  return manifest;
}

// `id` plus the replicated columns, comma-separated.
std::string ColumnList(const store::TableSpec& t) {
  std::string out = "id";
  for (const std::string& c : t.columns) out += ", " + c;
  return out;
}

std::string Quoted(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("''") : std::string(1, c);
  return out + "'";
}

// " WHERE routing = 'unit'" for a unit-scope table, "" for a central-scope one.
std::string RoutedRows(const store::TableSpec& t, const std::string& unit) {
  return t.scope == store::Scope::kUnit ? " WHERE " + t.routing + " = " + Quoted(unit) : "";
}

}  // namespace

Result<std::string> FindProgram(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::istringstream dirs(path ? path : "/usr/bin:/bin");
  for (std::string dir; std::getline(dirs, dir, ':');) {
    if (dir.empty()) continue;
    const fs::path p = fs::path(dir) / name;
    std::error_code ec;
    if (fs::is_regular_file(p, ec)) return p.string();
  }
  return Fail(Errc::kNotFound, name + " not found on PATH", "apt-get install sqlite3");
}

Result<double> TimeTool(const std::vector<std::string>& argv, const std::string& stdout_path) {
  const auto t0 = Clock::now();
  BENCH_TRY(RunTool(argv, stdout_path));
  return Seconds(Clock::now() - t0);
}

Status WriteCopyScript(const std::string& source_db, const std::string& unit,
                       const std::string& script_path) {
  auto manifest = BoundManifest(source_db);
  if (!manifest) return tl::unexpected(manifest.error());
  std::ostringstream s;
  s << "PRAGMA journal_mode = WAL;\nPRAGMA synchronous = FULL;\nPRAGMA foreign_keys = ON;\n"
    << "PRAGMA temp_store = MEMORY;\n";
  for (const store::Migration& m : store::SupportSchema().migrations) s << m.sql << "\n;\n";
  s << "ATTACH DATABASE " << Quoted(source_db) << " AS src;\nBEGIN;\n";
  for (const store::TableSpec& t : manifest->tables()) {
    const std::string cols = ColumnList(t);
    s << "INSERT INTO main." << t.name << "(" << cols << ") SELECT " << cols << " FROM src."
      << t.name << RoutedRows(t, unit) << ";\n";
  }
  s << "COMMIT;\n";
  std::ofstream out(script_path, std::ios::trunc);
  out << s.str();
  out.close();
  if (!out) return Fail(Errc::kIo, "cannot write " + script_path);
  return {};
}

Result<int64_t> CountUnitRows(const std::string& db_path, const std::string& table,
                              const std::string& unit) {
  auto db = store::Db::Open(db_path, /*create=*/false, /*read_only=*/true);
  if (!db) return tl::unexpected(db.error());
  auto q = db->Prepare("SELECT count(*) FROM " + table + " WHERE unit_id = ?1");
  if (!q) return tl::unexpected(q.error());
  q->BindText(1, unit);
  auto row = q->Step();
  if (!row) return tl::unexpected(row.error());
  return *row ? q->ColumnInt(0) : 0;
}

Result<int64_t> CountRoutedRows(const std::string& db_path, const std::string& unit) {
  auto manifest = BoundManifest(db_path);
  if (!manifest) return tl::unexpected(manifest.error());
  auto db = store::Db::Open(db_path, /*create=*/false, /*read_only=*/true);
  if (!db) return tl::unexpected(db.error());
  int64_t total = 0;
  for (const store::TableSpec& t : manifest->tables()) {
    auto q = db->Prepare("SELECT count(*) FROM " + t.name + RoutedRows(t, unit));
    if (!q) return tl::unexpected(q.error());
    auto row = q->Step();
    if (!row) return tl::unexpected(row.error());
    if (*row) total += q->ColumnInt(0);
  }
  return total;
}

int64_t FileBytes(const std::string& path) {
  std::error_code ec;
  const auto n = fs::file_size(path, ec);
  return ec ? 0 : static_cast<int64_t>(n);
}

int RemoveFilesStartingWith(const std::string& dir, const std::string& prefix) {
  int removed = 0;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    if (e.path().filename().string().rfind(prefix, 0) == 0 && fs::remove(e.path(), ec)) ++removed;
  }
  return removed;
}

}  // namespace unitsync::bench
