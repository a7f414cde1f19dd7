// What the daemon reports about its sync sessions beyond the database: whether a link is
// up and since when, last contact and sync, bytes, the last problem with a hint for the
// admin. Kept on the I/O thread by the nodes; read by the control socket and metrics.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "control/format.h"
#include "protocol/sync_types.h"

namespace unitsync::daemon {

using control::WallNowMs;

struct LinkStats {
  bool connected = false;          // the session is established (after WELCOME)
  int64_t connected_since_ms = 0;  // when it was, or when the link last went down
  int64_t last_contact_ms = 0;     // last bytes received
  int64_t last_sync_ms = 0;        // last time a cursor moved (push acked, changes applied)
  uint64_t bytes_in = 0;
  uint64_t bytes_out = 0;
  std::string peer;  // address:port of the other end while connected
  std::string last_error;
  std::string last_error_hint;
  int64_t last_error_ms = 0;

  // Records a problem; the hint is derived from what it says.
  void Problem(const std::string& what);
  void Problem(const protocol::LogLine& line);
  // Marks the link up or down (keeps connected_since_ms meaningful).
  void SetConnected(bool up);

  nlohmann::json ToJson() const;
};

// Process-wide counters (metrics).
struct ProcessCounters {
  uint64_t sessions_admitted = 0;
  uint64_t refused_tls = 0;     // TLS handshake failed (wrong CA, expired, revoked, garbage)
  uint64_t refused_unit = 0;    // certificate fine, unit not enrolled / not the enrolled one
  uint64_t refused_limit = 0;   // max_sessions or a handshake limit reached
  uint64_t refused_paused = 0;  // an admin paused central or the unit
  uint64_t session_errors = 0;  // warnings and errors logged by sync sessions
};

}  // namespace unitsync::daemon
