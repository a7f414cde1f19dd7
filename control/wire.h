// The control socket protocol between unitsyncctl and unitsyncd: one request, zero or
// more progress lines, one response, each a JSON document on one line, over a Unix
// stream socket (mode 0660, group unitsync). Described in control/DESIGN.md.
//
//   client → {"v":1,"cmd":"status","args":{}}\n
//   daemon → {"progress":{"done":3,"total":150,"what":"unit-0003"}}\n     (long commands)
//   daemon → {"ok":true,"result":{...}}\n
//         or {"ok":false,"error":{"code":"not_found","message":"...","hint":"..."}}\n
//
// One request per connection; the daemon closes after the response. Messages carry ids,
// counts and times; only `conflicts.show` carries row values (the admin asked for them).
#pragma once

#include <chrono>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>

#include "common/error.h"

namespace unitsync::control {

inline constexpr int kVersion = 1;
// A request line longer than this is refused (requests are small).
inline constexpr size_t kMaxRequestBytes = 64 * 1024;
// A response or progress line longer than this is refused by the client.
inline constexpr size_t kMaxResponseBytes = 64 * 1024 * 1024;
inline constexpr const char* kDefaultSocketPath = "/run/unitsync/control.sock";

// The command names (args in control/DESIGN.md).
namespace cmd {
inline constexpr const char* kStatus = "status";
inline constexpr const char* kUnits = "units";
inline constexpr const char* kConflictsList = "conflicts.list";
inline constexpr const char* kConflictsShow = "conflicts.show";
inline constexpr const char* kConflictsRestore = "conflicts.restore";
inline constexpr const char* kConflictsDismiss = "conflicts.dismiss";
inline constexpr const char* kHistory = "history";
inline constexpr const char* kDigest = "digest";
inline constexpr const char* kVerify = "verify";
inline constexpr const char* kSyncNow = "sync-now";
inline constexpr const char* kPause = "pause";
inline constexpr const char* kResume = "resume";
inline constexpr const char* kStamp = "stamp";
inline constexpr const char* kPurge = "purge";
}  // namespace cmd

struct Request {
  std::string cmd;
  nlohmann::json args = nlohmann::json::object();
};

// One line (with the newline) for each message.
std::string EncodeRequest(const Request& request);
std::string EncodeResult(const nlohmann::json& result);
std::string EncodeError(const Error& error);
std::string EncodeProgress(const nlohmann::json& progress);

// Parses a request line (without its newline). kMalformed for bad JSON or a missing or
// mistyped field, kInvalidArgument for another protocol version.
Result<Request> DecodeRequest(std::string_view line);

using ProgressFn = std::function<void(const nlohmann::json& progress)>;

// Connects to the daemon's socket, sends the request and returns the result (or the
// daemon's error as it was sent). Fails with kUnavailable when nothing listens there
// (no socket file, connection refused) — the caller may fall back to the database —
// kIo with a hint when access is denied, kMalformed for an answer that is not the
// protocol, kIo when the daemon does not answer within `timeout` (of silence: progress
// lines reset it).
Result<nlohmann::json> Call(const std::string& socket_path, const Request& request,
                            std::chrono::milliseconds timeout, const ProgressFn& progress = {});

}  // namespace unitsync::control
