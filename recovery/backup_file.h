// Sealed backups of a replica: taken online while the daemon runs, encrypted and
// authenticated with the node's key, restored only after every byte verified
// (DESIGN.md "Recovery"; byte layout: protocol/FORMAT.md section 7).
//
//   replica.db ──store::PinStampedSnapshot, CopySnapshot (one read txn)──► <db dir>/.backup-XXXX
//   (0600, plain)
//     ──1 MiB chunks, each sealed (kind backup, seq i of n)──► OUT (0600) ──► plain copy gone
//
// The plain intermediate copy lives beside the replica (same disk, same permissions as
// the data itself), never beside the output, which may be a USB stick or a share.
//
// Threading: no shared state; callable from any thread (the daemon runs scheduled
// backups on a thread of their own, beside the store thread's connection).
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "common/error.h"
#include "protocol/envelope.h"
#include "protocol/sealed_file.h"
#include "store/backup.h"

namespace unitsync::recovery {

// Plaintext bytes per chunk of a new backup.
inline constexpr uint32_t kBackupChunkBytes = 1024 * 1024;

struct BackupProgress {
  uint64_t bytes_done = 0;  // database bytes copied or sealed so far
  uint64_t bytes_total = 0;
  const char* phase = "";  // "copy" then "seal"
};

struct BackupRequest {
  std::string out_path;  // the sealed file to create (refused if it exists)
  // The node's sealing key (a unit: its changeset key; central: its own secret's key).
  const protocol::ChangesetKey* key = nullptr;
  // The node `key` belongs to: a replica of any other node is refused before anything is
  // sealed (it could never be restored with this key's bundle).
  std::string expect_node;
  int64_t now_ms = 0;  // the manifest's created_ms
  std::function<void(const BackupProgress&)> on_progress;
};

struct BackupInfo {
  protocol::SealedFileHeader header;
  protocol::BackupManifest manifest;
  uint64_t file_bytes = 0;
};

// Copies the replica as of `snapshot` (store::PinStampedSnapshot: nothing captured is
// left unstamped) and seals it into `out_path` (written as OUT.partial, synced, then
// renamed: a crash leaves no file that looks complete). The node id and role come from
// the replica itself. Fails with kAlreadyExists (out_path exists), the copy's errors
// (store::CopySnapshot), kNotAReplica, kWrongNode (the replica is not `expect_node`'s),
// kDiskFull / kIo on either file; on failure
// neither OUT nor the plain copy is left behind.
Result<BackupInfo> WriteBackup(const BackupRequest& request, store::PinnedSnapshot snapshot);

// Finds the key for a key id the file names. kNotFound when this node has no such key.
using KeyLookup = std::function<Result<const protocol::ChangesetKey*>(uint32_t key_id)>;

// Reads and authenticates the header and manifest of the backup at `path` without
// unsealing the data (what `unitsyncctl restore` shows before it does anything). Fails
// with kNotFound, kMalformed (not a backup, damaged header), kCorrupt (the manifest does
// not open under `keys`: another node's backup, or tampered), kNotFound from `keys`.
Result<BackupInfo> ReadBackupInfo(const std::string& path, const KeyLookup& keys);

// Unseals the backup at `path` into the new file `dest_path` (0600, refused if it
// exists) and checks the result: every chunk opens in order and the byte count matches
// the manifest, then PRAGMA integrity_check passes. The backup must have been taken by
// `expect_node`: kWrongNode otherwise. On any failure (kCorrupt for a changed byte, a
// missing or reordered chunk, a truncated file; kMalformed; kDiskFull / kIo) dest_path
// does not exist afterwards.
Result<BackupInfo> UnsealBackup(const std::string& path, const KeyLookup& keys,
                                const std::string& expect_node, const std::string& dest_path);

}  // namespace unitsync::recovery
