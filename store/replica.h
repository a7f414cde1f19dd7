// A unitsync replica: one SQLite file holding the application tables, the
// engine's tables (_us_*), the node's identity and its hybrid logical clock.
// On-disk layout: store/FORMAT.md.
//
// Threading: a Replica belongs to one thread (the store thread); it is
// movable, not copyable, and not safe to share.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "common/clock.h"
#include "common/error.h"
#include "common/uuid.h"
#include "store/hlc.h"
#include "store/manifest.h"
#include "store/schema.h"
#include "store/sqlite.h"

namespace unitsync::store {

enum class Role { kUnit, kCentral };
std::string_view RoleName(Role role);
Result<Role> ParseRole(std::string_view name);

// True for ids like "central", "unit-0042", "skola.norr_1": 1-64 of
// [a-z0-9._-], starting with a letter or digit.
bool IsValidNodeId(std::string_view id);

// Default bound on how far ahead of the local clock a remote timestamp may
// be before it is no longer adopted (it still merges; see HybridClock).
inline constexpr int64_t kDefaultMaxClockSkewMs = 10 * 60 * 1000;

struct ReplicaOptions {
  // Time source; not owned, must outlive the replica. Null: the system clock.
  WallClock* clock = nullptr;
  // Schema to create or migrate to. Null: SupportSchema().
  const SchemaBundle* schema = nullptr;
  int64_t max_clock_skew_ms = kDefaultMaxClockSkewMs;
  // Open: refuse a replica of another node or role (kWrongNode).
  std::optional<std::string> expect_node_id;
  std::optional<Role> expect_role;
  // Open: no writes at all (no migration; fails if one is needed).
  bool read_only = false;
};

class Replica {
 public:
  // Creates a new replica file. Fails with kAlreadyExists when `path` exists
  // and is not empty, kInvalidArgument on a bad node id; on failure no file
  // is left behind that Open() would accept.
  static Result<Replica> Create(const std::string& path, Role role, const std::string& node_id,
                                const ReplicaOptions& options = {});

  // Opens an existing replica, migrating its schema forward when needed.
  // Fails with kNotFound (no file), kNotAReplica (not SQLite, or not made by
  // unitsync), kWrongNode (expectations not met), kSchemaTooNew (made by a
  // newer unitsync), kCorrupt.
  static Result<Replica> Open(const std::string& path, const ReplicaOptions& options = {});

  Replica(Replica&&) noexcept = default;
  Replica& operator=(Replica&&) noexcept = default;

  Role role() const { return role_; }
  const std::string& node_id() const { return node_id_; }
  const std::string& path() const { return path_; }
  int schema_version() const { return schema_version_; }
  const Manifest& manifest() const { return manifest_; }
  Db& db() { return db_; }
  HybridClock& clock() { return *hlc_; }
  int64_t NowMs() const { return wall_->NowMs(); }
  // A fresh UUIDv7 for a new row.
  std::string NewId() { return uuid_.Next(wall_->NowMs()); }

  // Persists the clock's high-water mark. REQUIRES: inside the write
  // transaction that used the timestamps, so they are durable together.
  Status SaveClock();

  // Reads / writes one engine metadata value (_us_meta).
  Result<std::optional<std::string>> GetMeta(std::string_view key);
  Status SetMeta(std::string_view key, std::string_view value);

 private:
  Replica() = default;
  static Result<Replica> Init(Db db, const std::string& path, const ReplicaOptions& options);
  Status Migrate(const SchemaBundle& schema);
  Status InstallCaptureTriggers();

  Db db_;
  std::string path_;
  Role role_ = Role::kUnit;
  std::string node_id_;
  int schema_version_ = 0;
  Manifest manifest_;
  std::unique_ptr<WallClock> owned_wall_;  // Set when no clock was injected.
  WallClock* wall_ = nullptr;
  std::unique_ptr<HybridClock> hlc_;
  UuidV7Generator uuid_;
};

}  // namespace unitsync::store
