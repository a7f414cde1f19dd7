#include "daemon/link_stats.h"

#include <chrono>

namespace unitsync::daemon {
namespace {

bool Has(const std::string& text, const char* what) { return text.find(what) != std::string::npos; }

std::string HintFor(const std::string& what) {
  if (Has(what, "cannot resolve") || Has(what, "cannot connect") || Has(what, "connect timeout")) {
    return "is central running and reachable? check [central] host and port in the config, "
           "DNS and firewalls";
  }
  if (Has(what, "handshake") || Has(what, "certificate")) {
    return "the certificates do not fit: is this unit's bundle current (not expired, not "
           "revoked, from this deployment's CA)? check with 'unitsyncctl pki list' at central";
  }
  if (Has(what, "error_from_central") || Has(what, "not_authorized")) {
    return "central refused this unit: is it enrolled and not revoked? see central's log";
  }
  if (Has(what, "rejected_rows") || Has(what, "rows_rejected")) {
    return "rows were refused (a unit may only write its own unit's rows); see the rejected "
           "rows listed in status";
  }
  if (Has(what, "read_deadline") || Has(what, "disconnected") || Has(what, "closed")) {
    return "the connection dropped; it is retried with backoff ('unitsyncctl sync-now' "
           "retries at once)";
  }
  if (Has(what, "disk is full") || Has(what, "free disk space")) {
    return "the disk is full: free space on the replica's filesystem; syncing resumes by "
           "itself (see 'storage:' in status)";
  }
  if (Has(what, "I/O error") || Has(what, "check the disk")) {
    return "the disk reports I/O errors: check the kernel log; syncing retries by itself";
  }
  if (Has(what, "failed") || Has(what, "store")) {
    return "a database operation failed; check disk space and the daemon's log";
  }
  return "see the daemon's log for details";
}

}  // namespace

void LinkStats::Problem(const std::string& what) {
  last_error = what;
  last_error_hint = HintFor(what);
  last_error_ms = WallNowMs();
}

void LinkStats::Problem(const protocol::LogLine& line) {
  Problem(line.event + (line.fields.empty() ? "" : " " + line.fields));
}

void LinkStats::SetConnected(bool up) {
  if (up == connected) return;
  connected = up;
  connected_since_ms = WallNowMs();
  if (!up) peer.clear();
}

nlohmann::json LinkStats::ToJson() const {
  nlohmann::json j = {{"connected", connected},
                      {"since_ms", connected_since_ms},
                      {"last_contact_ms", last_contact_ms},
                      {"last_sync_ms", last_sync_ms},
                      {"bytes_in", bytes_in},
                      {"bytes_out", bytes_out},
                      {"peer", peer}};
  if (!last_error.empty()) {
    j["last_error"] = {
        {"message", last_error}, {"hint", last_error_hint}, {"at_ms", last_error_ms}};
  } else {
    j["last_error"] = nullptr;
  }
  return j;
}

}  // namespace unitsync::daemon
