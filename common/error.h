// Errors are values: every fallible call in unitsync returns Result<T>.
//
// An Error carries a code that callers branch on, a message for logs and
// operators, and an optional hint that tells the operator what to do next.
// Messages never contain row values (names, identity numbers, free text):
// they name tables, columns, files and sequence numbers only.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <tl/expected.hpp>
#include <utility>

namespace unitsync {

enum class Errc {
  kInvalidArgument,  // The caller passed something malformed (a bad id, an unknown option).
  kNotFound,         // The named thing (row, conflict, file) does not exist.
  kAlreadyExists,    // Creating something that is already there (a replica file, a row id).
  kNotAReplica,      // The file is not a unitsync replica (or not SQLite at all).
  kWrongNode,        // The replica belongs to another node id or role.
  kSchemaTooNew,     // The replica was written by a newer unitsync than this binary.
  kCorrupt,          // Stored or received bytes fail their integrity checks.
  kMalformed,        // Received data does not decode under the format's strict rules.
  kRejected,         // Well-formed data that the receiver refuses (unknown table, bad status).
  kConstraint,       // A write violates a schema constraint (CHECK, NOT NULL, FOREIGN KEY).
  kBusy,             // The database is locked by another writer beyond the busy timeout.
  kDiskFull,         // The disk or quota is full; nothing was written.
  kIo,               // The operating system reported an I/O error.
  kInternal,         // A bug or an unexpected state in unitsync itself.
  kUnavailable,      // A service this needs (the daemon, a peer) is not running or reachable.
};

// A short stable name for the code, as used in logs and --json output ("not_found").
std::string_view ErrcName(Errc code);
// The inverse of ErrcName; nullopt for a name this build does not know.
std::optional<Errc> ErrcFromName(std::string_view name);

struct Error {
  Errc code;
  std::string message;  // What went wrong, without sensitive values.
  std::string hint;     // What the operator can do about it; may be empty.

  // "message (hint: ...)" — the form shown to operators.
  std::string ToString() const;
};

template <typename T>
using Result = tl::expected<T, Error>;

// Status for calls that return nothing on success.
using Status = tl::expected<void, Error>;

inline tl::unexpected<Error> Fail(Errc code, std::string message, std::string hint = {}) {
  return tl::unexpected<Error>(Error{code, std::move(message), std::move(hint)});
}

}  // namespace unitsync
