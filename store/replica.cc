#include "store/replica.h"

#include <charconv>
#include <filesystem>

#include "store/capture.h"
#include "store/meta_number.h"

namespace unitsync::store {
namespace {

// PRAGMA application_id of every unitsync replica: "USYC".
constexpr int64_t kApplicationId = 0x55535943;
// Version of the engine's own tables (_us_*), independent of the app schema.
constexpr int kEngineVersion = 1;

// A number kept as text in _us_meta: non-negative decimal digits and nothing else. Anything
// else (empty, a sign, spaces, trailing bytes, out of range) means the metadata is damaged;
// the error names the key, never the bytes found.
template <typename Int>
Result<Int> ParseMetaNumber(const std::string& path, std::string_view key,
                            const std::string& text) {
  Int value{};
  const char* end = text.data() + text.size();
  const auto [stop, ec] = std::from_chars(text.data(), end, value);
  // from_chars accepts a leading '-' for signed types; the first byte must be a digit.
  if (text.empty() || text[0] < '0' || text[0] > '9' || ec != std::errc() || stop != end) {
    return Fail(Errc::kCorrupt,
                path + ": replica metadata '" + std::string(key) + "' is not a valid number",
                "the replica is damaged and was left untouched: restore it from a backup "
                "('unitsyncctl restore') or re-seed this node");
  }
  return value;
}

constexpr const char* kEngineTables = R"sql(
CREATE TABLE _us_meta (
  key TEXT PRIMARY KEY NOT NULL,
  value TEXT NOT NULL
) STRICT;
CREATE TABLE _us_applying (flag INTEGER) STRICT;
CREATE TABLE _us_changes (
  seq INTEGER PRIMARY KEY,
  tbl TEXT NOT NULL,
  pk TEXT NOT NULL,
  op TEXT NOT NULL CHECK (op IN ('I', 'U', 'D', 'M', 'X', 'R', 'P')),
  cols TEXT,
  unit TEXT,
  wall_ms INTEGER NOT NULL
) STRICT;
CREATE TABLE _us_clock (
  tbl TEXT NOT NULL,
  pk TEXT NOT NULL,
  unit TEXT,
  deleted INTEGER NOT NULL DEFAULT 0,
  tomb_hlc INTEGER NOT NULL DEFAULT 0,
  tomb_origin TEXT NOT NULL DEFAULT '',
  versions BLOB NOT NULL,
  PRIMARY KEY (tbl, pk)
) STRICT, WITHOUT ROWID;
CREATE INDEX _us_clock_unit ON _us_clock(unit, tbl, pk);
CREATE TABLE _us_conflicts (
  id INTEGER PRIMARY KEY,
  tbl TEXT NOT NULL,
  pk TEXT NOT NULL,
  col TEXT NOT NULL,
  kind TEXT NOT NULL CHECK (kind IN ('update', 'delete', 'evict')),
  winner_value ANY,
  winner_hlc INTEGER NOT NULL,
  winner_origin TEXT NOT NULL,
  loser_value ANY,
  loser_hlc INTEGER NOT NULL,
  loser_origin TEXT NOT NULL,
  detected_ms INTEGER NOT NULL,
  resolved_ms INTEGER,
  UNIQUE (tbl, pk, col, loser_hlc, loser_origin)
) STRICT;
CREATE TABLE _us_outbox (
  seq INTEGER PRIMARY KEY,
  log_seq INTEGER NOT NULL,
  rows INTEGER NOT NULL,
  sealed BLOB NOT NULL,
  built_ms INTEGER NOT NULL
) STRICT;
CREATE TABLE _us_rejections (
  id INTEGER PRIMARY KEY,
  peer TEXT NOT NULL,
  direction TEXT NOT NULL CHECK (direction IN ('i', 'o')),
  seq INTEGER NOT NULL,
  tbl TEXT NOT NULL,
  pk TEXT NOT NULL,
  reason INTEGER NOT NULL,
  detected_ms INTEGER NOT NULL
) STRICT;
CREATE TABLE _us_peers (
  peer TEXT PRIMARY KEY NOT NULL,
  sent_seq INTEGER NOT NULL DEFAULT 0,
  acked_seq INTEGER NOT NULL DEFAULT 0,
  received_seq INTEGER NOT NULL DEFAULT 0,
  updated_ms INTEGER NOT NULL DEFAULT 0
) STRICT;
)sql";

Status ApplyPragmas(Db& db, bool read_only) {
  // temp_store: statement journals (every insert into a table with triggers
  // keeps one) stay in memory instead of spilling to /var/tmp — measured at
  // ~20 KB of temp-file writes per merged row without it (bench/RESULTS.md).
  // secure_delete: a deleted or purged row's bytes are overwritten, not left in a free
  // page (erasure, store/purge.h); Debian's SQLite defaults to it, others do not.
  std::string sql =
      "PRAGMA foreign_keys = ON; PRAGMA trusted_schema = OFF; PRAGMA temp_store = MEMORY; "
      "PRAGMA secure_delete = ON;";
  // FULL: a commit is durable before an ack covering it is sent (DESIGN.md "Recovery").
  if (!read_only) sql += "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;";
  return db.Exec(sql);
}

// Central's generation id (store/sync_state.h): "g-" + a UUIDv7.
std::string NewGenerationId(const ReplicaOptions& options) {
  SystemWallClock system;
  WallClock& wall = options.clock != nullptr ? *options.clock : system;
  UuidV7Generator uuid;
  return "g-" + uuid.Next(wall.NowMs());
}

// The engine's tables and metadata of a new replica, in one transaction. Every failure
// returns here, so Create removes the file whatever failed.
Status WriteEngineTables(Db& db, Role role, const std::string& node_id,
                         const ReplicaOptions& options) {
  auto tx = Transaction::Begin(db);
  if (!tx) return tl::unexpected(tx.error());
  if (auto st = db.Exec(kEngineTables); !st) return st;
  // Central fans its log out per unit; at a unit every entry has one unit.
  if (role == Role::kCentral) {
    if (auto st = db.Exec("CREATE INDEX _us_changes_unit ON _us_changes(unit, seq)"); !st)
      return st;
  }
  if (auto st = db.Exec("PRAGMA application_id = " + std::to_string(kApplicationId)); !st)
    return st;
  auto ins = db.Prepare("INSERT INTO _us_meta(key, value) VALUES (?1, ?2)");
  if (!ins) return tl::unexpected(ins.error());
  std::vector<std::pair<const char*, std::string>> rows = {
      {"role", std::string(RoleName(role))},
      {"node_id", node_id},
      {"engine_version", std::to_string(kEngineVersion)},
      {"schema_version", "0"},
      {"hlc", "0"},
      {"stamped_seq", "0"},
  };
  if (role == Role::kCentral) rows.push_back({"generation", NewGenerationId(options)});
  for (const auto& [k, v] : rows) {
    ins->Reset();
    ins->BindText(1, k);
    ins->BindText(2, v);
    if (auto st = ins->Run(); !st) return st;
  }
  return tx->Commit();
}

}  // namespace

std::string_view RoleName(Role role) { return role == Role::kCentral ? "central" : "unit"; }

Result<Role> ParseRole(std::string_view name) {
  if (name == "unit") return Role::kUnit;
  if (name == "central") return Role::kCentral;
  return Fail(Errc::kInvalidArgument, "role must be 'unit' or 'central'");
}

bool IsValidNodeId(std::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  auto ok = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (!ok(id.front())) return false;
  return std::all_of(id.begin(), id.end(),
                     [&](char c) { return ok(c) || c == '-' || c == '_' || c == '.'; });
}

Result<Replica> Replica::Create(const std::string& path, Role role, const std::string& node_id,
                                const ReplicaOptions& options) {
  if (!IsValidNodeId(node_id)) {
    return Fail(Errc::kInvalidArgument, "invalid node id",
                "use 1-64 of a-z 0-9 . _ -, starting with a letter or digit");
  }
  std::error_code ec;
  if (std::filesystem::exists(path, ec) && std::filesystem::file_size(path, ec) > 0) {
    return Fail(Errc::kAlreadyExists, "a file already exists at " + path,
                "open it instead, or choose another path");
  }
  auto db = Db::Open(path, /*create=*/true);
  if (!db) return tl::unexpected(db.error());
  auto remove = [&path, &ec] {
    std::filesystem::remove(path, ec);
    std::filesystem::remove(path + "-wal", ec);
    std::filesystem::remove(path + "-shm", ec);
  };
  auto st = ApplyPragmas(*db, false);
  if (st) st = WriteEngineTables(*db, role, node_id, options);
  if (!st) {
    db = Db();  // Close before removing.
    remove();
    return tl::unexpected(st.error());
  }
  // Init applies the schema: a replica it failed on holds engine tables but not the
  // schema, and must not stay (Open would accept it, Create would refuse the path).
  auto replica = Init(std::move(*db), path, options);
  if (!replica) remove();  // Init's handle closed with it: nothing holds the file.
  return replica;
}

Result<Replica> Replica::Open(const std::string& path, const ReplicaOptions& options) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    return Fail(Errc::kNotFound, "no replica at " + path,
                "create one with 'unitsyncctl --db PATH init'");
  }
  auto db = Db::Open(path, /*create=*/false, options.read_only);
  if (!db) return tl::unexpected(db.error());
  auto app_id = db->QueryInt("PRAGMA application_id");
  if (!app_id) {
    if (app_id.error().code == Errc::kNotAReplica) {
      return Fail(Errc::kNotAReplica, path + " is not a SQLite database",
                  "check the path; unitsync never overwrites a file it did not create");
    }
    return tl::unexpected(app_id.error());
  }
  if (*app_id != kApplicationId) {
    return Fail(Errc::kNotAReplica, path + " is a SQLite database but not a unitsync replica",
                "check the path; unitsync never overwrites a file it did not create");
  }
  return Init(std::move(*db), path, options);
}

Result<Replica> Replica::Init(Db db, const std::string& path, const ReplicaOptions& options) {
  Replica r;
  r.db_ = std::move(db);
  r.path_ = path;
  if (auto st = ApplyPragmas(r.db_, options.read_only); !st) return tl::unexpected(st.error());

  auto read = [&](std::string_view key) -> Result<std::string> {
    auto v = r.GetMeta(key);
    if (!v) return tl::unexpected(v.error());
    if (!*v)
      return Fail(Errc::kCorrupt, path + ": replica metadata lacks '" + std::string(key) + "'");
    return **v;
  };
  auto role = read("role");
  auto node = read("node_id");
  auto engine = read("engine_version");
  auto schema = read("schema_version");
  auto hlc = read("hlc");
  for (auto* v : {&role, &node, &engine, &schema, &hlc}) {
    if (!*v) return tl::unexpected(v->error());
  }
  auto parsed_role = ParseRole(*role);
  if (!parsed_role) return Fail(Errc::kCorrupt, path + ": unknown role in replica metadata");
  r.role_ = *parsed_role;
  r.node_id_ = *node;
  if (options.expect_node_id && *options.expect_node_id != r.node_id_) {
    return Fail(
        Errc::kWrongNode,
        path + " belongs to node '" + r.node_id_ + "', not '" + *options.expect_node_id + "'",
        "check node_id in the configuration, or the database path");
  }
  if (options.expect_role && *options.expect_role != r.role_) {
    return Fail(Errc::kWrongNode,
                path + " is a " + std::string(RoleName(r.role_)) + " replica, not a " +
                    std::string(RoleName(*options.expect_role)) + " replica",
                "check role in the configuration, or the database path");
  }
  auto engine_version = ParseMetaNumber<int>(path, "engine_version", *engine);
  if (!engine_version) return tl::unexpected(engine_version.error());
  auto schema_version = ParseMetaNumber<int>(path, "schema_version", *schema);
  if (!schema_version) return tl::unexpected(schema_version.error());
  auto hlc_value = ParseMetaNumber<uint64_t>(path, "hlc", *hlc);
  if (!hlc_value) return tl::unexpected(hlc_value.error());
  // Never migrate down: a newer unitsync may have changed what the tables mean.
  auto too_new = [&path](const char* what, int found, int known) {
    return Fail(Errc::kSchemaTooNew,
                path + " was written by a newer unitsync: its " + what + " is version " +
                    std::to_string(found) + ", this unitsync supports up to version " +
                    std::to_string(known),
                "upgrade unitsync on this node to the version that wrote the replica (or "
                "newer); the replica was left untouched");
  };
  if (*engine_version > kEngineVersion) {
    return too_new("engine metadata", *engine_version, kEngineVersion);
  }
  const SchemaBundle& bundle = options.schema ? *options.schema : SupportSchema();
  if (*schema_version > bundle.LatestVersion()) {
    return too_new("schema", *schema_version, bundle.LatestVersion());
  }
  r.schema_version_ = *schema_version;

  if (options.clock != nullptr) {
    r.wall_ = options.clock;
  } else {
    r.owned_wall_ = std::make_unique<SystemWallClock>();
    r.wall_ = r.owned_wall_.get();
  }
  r.hlc_ = std::make_unique<HybridClock>(*r.wall_, *hlc_value, options.max_clock_skew_ms);

  auto manifest = Manifest::Parse(bundle.manifest_toml);
  if (!manifest) return tl::unexpected(manifest.error());
  r.manifest_ = std::move(*manifest);

  auto installed = r.GetMeta("manifest");
  if (!installed) return tl::unexpected(installed.error());
  const bool up_to_date = r.schema_version_ == bundle.LatestVersion() && *installed &&
                          **installed == bundle.manifest_toml;
  if (!up_to_date) {
    if (options.read_only) {
      return Fail(Errc::kInvalidArgument, path + " needs a schema migration",
                  "open it read-write once (start the daemon) to migrate");
    }
    auto tx = Transaction::Begin(r.db_);
    if (!tx) return tl::unexpected(tx.error());
    if (auto st = r.Migrate(bundle); !st) return tl::unexpected(st.error());
    if (auto st = r.manifest_.Bind(r.db_); !st) return tl::unexpected(st.error());
    if (auto st = r.InstallCaptureTriggers(); !st) return tl::unexpected(st.error());
    if (auto st = r.SetMeta("manifest", bundle.manifest_toml); !st)
      return tl::unexpected(st.error());
    if (auto st = tx->Commit(); !st) return tl::unexpected(st.error());
  } else if (auto st = r.manifest_.Bind(r.db_); !st) {
    return tl::unexpected(st.error());
  }
  return r;
}

Status Replica::Migrate(const SchemaBundle& schema) {
  for (const Migration& m : schema.migrations) {
    if (m.version <= schema_version_) continue;
    if (auto st = db_.Exec(m.sql); !st) {
      return Fail(st.error().code, "migration " + m.name + " failed: " + st.error().message,
                  "the replica was left at schema " + std::to_string(schema_version_));
    }
    schema_version_ = m.version;
  }
  return SetMeta("schema_version", std::to_string(schema_version_));
}

Status Replica::InstallCaptureTriggers() {
  auto list = db_.Prepare(kListCaptureTriggersSql);
  if (!list) return tl::unexpected(list.error());
  std::vector<std::string> old;
  for (;;) {
    auto row = list->Step();
    if (!row) return tl::unexpected(row.error());
    if (!*row) break;
    old.push_back(list->ColumnText(0));
  }
  for (const std::string& name : old) {
    if (auto st = db_.Exec("DROP TRIGGER \"" + name + "\""); !st) return st;
  }
  for (const TableSpec& spec : manifest_.tables()) {
    for (const std::string& sql : CaptureTriggerSql(spec)) {
      if (auto st = db_.Exec(sql); !st) return st;
    }
  }
  return {};
}

Status Replica::SaveClock() { return SetMeta("hlc", std::to_string(hlc_->last())); }

Result<int64_t> GetMetaNumber(Replica& replica, std::string_view key) {
  auto v = replica.GetMeta(key);
  if (!v) return tl::unexpected(v.error());
  if (!*v) return int64_t{0};
  return ParseMetaNumber<int64_t>(replica.path(), key, **v);
}

Result<std::optional<std::string>> Replica::GetMeta(std::string_view key) {
  auto stmt = db_.Prepare("SELECT value FROM _us_meta WHERE key = ?1");
  if (!stmt) return tl::unexpected(stmt.error());
  stmt->BindText(1, key);
  auto row = stmt->Step();
  if (!row) return tl::unexpected(row.error());
  if (!*row) return std::optional<std::string>();
  return std::optional<std::string>(stmt->ColumnText(0));
}

Status Replica::SetMeta(std::string_view key, std::string_view value) {
  auto stmt = db_.Prepare(
      "INSERT INTO _us_meta(key, value) VALUES (?1, ?2) "
      "ON CONFLICT(key) DO UPDATE SET value = excluded.value");
  if (!stmt) return tl::unexpected(stmt.error());
  stmt->BindText(1, key);
  stmt->BindText(2, value);
  return stmt->Run();
}

}  // namespace unitsync::store
