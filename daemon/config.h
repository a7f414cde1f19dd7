// unitsyncd's configuration: defaults here, Parse (TOML) → Validate, every key documented
// in packaging/unitsyncd.toml.example. `unitsyncd --check-config` runs both and explains.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "common/error.h"
#include "protocol/sync_types.h"

namespace unitsync::daemon {

inline constexpr const char* kDefaultConfigPath = "/etc/unitsync/unitsyncd.toml";
inline constexpr uint16_t kDefaultPort = 7443;

enum class NodeRole { kUnit, kCentral };

struct Config {
  NodeRole role = NodeRole::kUnit;
  std::string node_id;   // this node; must match the CN of `bundle`'s certificate
  std::string database;  // the replica file

  // [tls]
  std::string bundle;  // directory from `unitsyncctl pki enroll|server` (cert, key, ca, secret)
  // central only: the CA directory's registrations (which units exist, their sealing
  // secrets, revocations) — `unitsyncctl pki init-ca --dir`.
  std::string pki_dir;

  // [central] (unit role): where to connect.
  std::string central_host = "127.0.0.1";
  uint16_t central_port = kDefaultPort;
  std::string central_node = "central";  // expected node id of central's certificate

  // [listen] (central role)
  std::string listen_address = "0.0.0.0";
  uint16_t listen_port = kDefaultPort;
  uint32_t max_sessions = 1000;  // authenticated unit sessions at once
  // TLS handshakes in progress at once; when full, the oldest is aborted for the newest
  // (daemon/handshake_slots.h). Not counted in max_sessions.
  uint32_t max_handshakes = 256;
  // ... of which from one address (an IPv6 /64 counts as one); more are refused at once.
  uint32_t max_handshakes_per_address = 32;

  // [control]
  std::string control_socket = "/run/unitsync/control.sock";

  // [metrics]: empty address = off.
  std::string metrics_address;
  uint16_t metrics_port = 9464;

  // [sync]
  protocol::SyncOptions sync;
  size_t max_rows_per_changeset = 1000;
  // Central: rows per re-seed snapshot chunk at most (chunks are also cut at ~half a
  // frame of values). Larger than a changeset: every chunk is one commit at the unit.
  size_t max_rows_per_snapshot_chunk = 16384;
  // A local write is noticed through the WAL file changing; this bounds how long a write
  // that changed nothing visible to the watch (e.g. a checkpoint race) waits.
  int64_t change_poll_ms = 5'000;
  // Central: a unit silent for longer no longer holds back the trimming of the change log
  // and tombstones (store/log_gc.h); it re-seeds when it comes back. 0 = never trim.
  int64_t log_retention_s = 30 * 86'400;

  // [backup]: scheduled sealed backups (recovery/backup_file.h). Empty dir = off.
  std::string backup_dir;
  int64_t backup_interval_s = 86'400;  // one a day
  uint32_t backup_keep = 7;            // newest backups kept in backup_dir; older ones deleted

  // Where the values came from, for messages only: the file name, and the line of each
  // key the file set ("sync.window" → 72). Both empty for a Config built in code.
  std::string source;
  std::map<std::string, int64_t> lines;
};

// Reads and parses a TOML file. kNotFound (no file), kInvalidArgument for a syntax error,
// an unknown key, a wrong type or a value out of range; the message starts "FILE:LINE: "
// and names the key. Does not check cross-field rules.
Result<Config> ParseConfigFile(const std::string& path);
Result<Config> ParseConfig(std::string_view toml_text, const std::string& source_name);

// Cross-field rules (role-specific keys present, ids valid, limits consistent).
// kInvalidArgument naming the key; for a key the file set, the message starts with
// "FILE:LINE: " (config.source, config.lines), for a missing one with "FILE: ".
Status ValidateConfig(const Config& config);

// A human summary of the effective configuration (for --check-config); no secrets.
std::string DescribeConfig(const Config& config);

}  // namespace unitsync::daemon
