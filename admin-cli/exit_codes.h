// Exit codes of unitsyncctl: the contract that scripts rely on.
//
//   code  name           meaning                                        from Errc
//   ----  -------------  ---------------------------------------------  ---------------------------
//   0     ok             the command did what was asked                 —
//   1     failure        operational error: retrying or fixing the      kBusy, kDiskFull, kIo,
//                        environment may help                           kMalformed, kInternal
//   2     usage          bad flags, arguments or values (nothing        kInvalidArgument,
//                        was written)                                   any command-line parse
//                        error
//   3     not_found      the named action, conflict or row does not     kNotFound
//                        exist
//   4     rejected       the request is well-formed but refused in the  kRejected, kConstraint,
//                        current state (already exists, already         kAlreadyExists
//                        resolved, a row that other rows reference)
//   5     replica        --db is not usable: missing, not a replica,    kNotAReplica, kWrongNode,
//                        another node's or role's, written by a newer   kSchemaTooNew, kCorrupt
//                        unitsync, or damaged
//   6     daemon         the command needs the running daemon and it    kUnavailable
//                        is not reachable (sync-now, pause, resume,
//                        verify); read commands fall back to the
//                        database instead
//
// Every failure prints one line "unitsyncctl: error: MESSAGE" (and, when
// there is one, "unitsyncctl: hint: HINT") to stderr; stdout then holds
// nothing a script should parse. Exit codes never change meaning between
// releases; new ones are only ever added.
#pragma once

#include "common/error.h"

namespace unitsync::cli {

enum ExitCode : int {
  kExitOk = 0,
  kExitFailure = 1,
  kExitUsage = 2,
  kExitNotFound = 3,
  kExitRejected = 4,
  kExitReplica = 5,
  kExitDaemon = 6,
};

constexpr int ExitCodeFor(Errc code) {
  switch (code) {
    case Errc::kInvalidArgument:
      return kExitUsage;
    case Errc::kNotFound:
      return kExitNotFound;
    case Errc::kAlreadyExists:
    case Errc::kRejected:
    case Errc::kConstraint:
      return kExitRejected;
    case Errc::kNotAReplica:
    case Errc::kWrongNode:
    case Errc::kSchemaTooNew:
    case Errc::kCorrupt:
      return kExitReplica;
    case Errc::kMalformed:
    case Errc::kBusy:
    case Errc::kDiskFull:
    case Errc::kIo:
    case Errc::kInternal:
      return kExitFailure;
    case Errc::kUnavailable:
      return kExitDaemon;
  }
  return kExitFailure;
}

}  // namespace unitsync::cli
