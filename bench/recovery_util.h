// Helpers shared by the recovery benchmarks (recovery_bench: backlog drain and re-seed;
// backup_bench: backup and restore): the plain `sqlite3` baselines they are compared
// with, row counts read from a replica file, file sizes and timing.
//
// Not thread-safe; use from the benchmark's main thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "common/error.h"

namespace unitsync::bench {

using Clock = std::chrono::steady_clock;

inline double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// The absolute path of `name` found on $PATH. kNotFound when it is not there.
Result<std::string> FindProgram(const std::string& name);

// Runs `argv` to completion (RunTool) and returns its wall time in seconds.
Result<double> TimeTool(const std::vector<std::string>& argv, const std::string& stdout_path = {});

// Writes to `script_path` a `sqlite3` script that does what a re-seed of `unit` does with
// plain SQLite: creates the support schema (the replica's migrations, WAL, the replica's
// connection pragmas: foreign_keys, synchronous = FULL, temp_store = MEMORY) in the fresh
// database it is run on, attaches `source_db` (a central replica) and copies, in one
// transaction, every row a re-seed streams to `unit`: all rows of central-scope tables and
// the unit's rows of unit-scope tables, the replicated columns only (the manifest's, so
// local-only columns are left out as the snapshot leaves them out). Run it with
// `sqlite3 -bail NEW_DB ".read SCRIPT"`. kIo when the file cannot be written; errors of
// reading the manifest from `source_db` as they come.
Status WriteCopyScript(const std::string& source_db, const std::string& unit,
                       const std::string& script_path);

// Rows of `unit` in `table` of the database at `db_path` (opened read-only).
Result<int64_t> CountUnitRows(const std::string& db_path, const std::string& table,
                              const std::string& unit);

// Every row a re-seed streams to `unit` (as WriteCopyScript copies them) in the database
// at `db_path` (opened read-only).
Result<int64_t> CountRoutedRows(const std::string& db_path, const std::string& unit);

// Size of the file at `path` in bytes; 0 when it does not exist.
int64_t FileBytes(const std::string& path);

// Removes the files in `dir` whose name starts with `prefix` (e.g. the replicas that
// reseed and restore set aside). Returns how many were removed.
int RemoveFilesStartingWith(const std::string& dir, const std::string& prefix);

}  // namespace unitsync::bench
