#include "recovery/backup_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>

#include "common/uuid.h"
#include "recovery/sealed_io.h"
#include "store/backup.h"
#include "store/replica.h"

namespace unitsync::recovery {
namespace {

// Removes a file when it goes out of scope, unless released.
class FileGuard {
 public:
  explicit FileGuard(std::string path) : path_(std::move(path)) {}
  ~FileGuard() {
    if (!path_.empty()) ::unlink(path_.c_str());
  }
  void Release() { path_.clear(); }
  FileGuard(const FileGuard&) = delete;
  FileGuard& operator=(const FileGuard&) = delete;

 private:
  std::string path_;
};

std::string DirectoryOf(const std::string& path) {
  std::string dir = std::filesystem::path(path).parent_path().string();
  return dir.empty() ? "." : dir;
}

uint64_t ChunkCount(uint64_t bytes, uint32_t chunk) {
  return bytes == 0 ? 0 : (bytes + chunk - 1) / chunk;
}

// Opens record `index` of the file with `header` under the key the envelope names.
Result<protocol::Bytes> OpenRecord(const protocol::SealedFileHeader& header, uint64_t index,
                                   const protocol::Bytes& record, const KeyLookup& keys) {
  auto key_id = protocol::EnvelopeKeyId(record);
  if (!key_id) return tl::unexpected(key_id.error());
  auto key = keys(*key_id);
  if (!key) return tl::unexpected(key.error());
  auto plain = protocol::OpenChangeset(**key, protocol::SealedRecordHeader(header, index), record);
  if (!plain) {
    return Fail(Errc::kCorrupt, "record " + std::to_string(index) + " of the backup does not open",
                "the file was changed, is incomplete, or belongs to another node or key");
  }
  return plain;
}

Result<BackupInfo> ReadHead(SealedFileReader& reader, const KeyLookup& keys) {
  BackupInfo info;
  info.header = reader.header();
  info.file_bytes = reader.file_bytes();
  if (info.header.kind != protocol::SealedFileKind::kBackup) {
    return Fail(Errc::kMalformed, "this is an offline bundle, not a backup",
                "use `unitsyncctl import-bundle` for bundles");
  }
  auto record = reader.Next();
  if (!record) return tl::unexpected(record.error());
  auto plain = OpenRecord(info.header, 0, *record, keys);
  if (!plain) return tl::unexpected(plain.error());
  auto manifest = protocol::DecodeBackupManifest(*plain);
  if (!manifest) return tl::unexpected(manifest.error());
  info.manifest = *manifest;
  if (info.manifest.node_id != info.header.origin ||
      info.header.records !=
          1 + ChunkCount(info.manifest.database_bytes, info.manifest.chunk_bytes)) {
    return Fail(Errc::kCorrupt, "the backup's manifest disagrees with its header");
  }
  return info;
}

}  // namespace

Result<BackupInfo> WriteBackup(const BackupRequest& request, store::PinnedSnapshot snapshot) {
  if (request.key == nullptr) return Fail(Errc::kInvalidArgument, "backup: no sealing key");
  struct stat st {};
  if (::stat(request.out_path.c_str(), &st) == 0) {
    return tl::unexpected(ErrnoError(EEXIST, "create " + request.out_path));
  }
  UuidV7Generator ids;
  const std::string file_id = "bk-" + ids.Next(request.now_ms);
  const std::string plain =
      DirectoryOf(snapshot.path()) + "/.unitsync-backup-" + file_id.substr(3) + ".db";
  FileGuard plain_guard(plain);
  store::CopyOptions copy;
  if (request.on_progress) {
    copy.on_progress = [&](const store::CopyProgress& p) {
      request.on_progress(
          {static_cast<uint64_t>(p.pages_done), static_cast<uint64_t>(p.pages_total), "copy"});
    };
  }
  const std::string database = snapshot.path();
  if (auto s = store::CopySnapshot(std::move(snapshot), plain, copy); !s) {
    return tl::unexpected(s.error());
  }

  BackupInfo info;
  {
    store::ReplicaOptions options;
    options.read_only = true;
    auto replica = store::Replica::Open(plain, options);
    if (!replica) return tl::unexpected(replica.error());
    info.manifest.role = replica->role() == store::Role::kCentral ? protocol::BackupRole::kCentral
                                                                  : protocol::BackupRole::kUnit;
    info.manifest.node_id = replica->node_id();
    if (info.manifest.node_id != request.expect_node) {
      return Fail(Errc::kWrongNode,
                  database + " is the replica of " + info.manifest.node_id + ", but the key is " +
                      request.expect_node + "'s",
                  "back up a node with its own bundle (--bundle or the config's [tls] bundle)");
    }
    info.manifest.schema_version = static_cast<uint32_t>(replica->schema_version());
  }
  if (::stat(plain.c_str(), &st) != 0) return tl::unexpected(ErrnoError(errno, "stat " + plain));
  info.manifest.created_ms = request.now_ms;
  info.manifest.database_bytes = static_cast<uint64_t>(st.st_size);
  info.manifest.chunk_bytes = kBackupChunkBytes;
  info.header = {protocol::SealedFileKind::kBackup, info.manifest.node_id, info.manifest.node_id,
                 file_id, 1 + ChunkCount(info.manifest.database_bytes, kBackupChunkBytes)};

  auto writer = SealedFileWriter::Create(request.out_path, info.header);
  if (!writer) return tl::unexpected(writer.error());
  if (auto s = writer->AppendSealed(*request.key, protocol::EncodeBackupManifest(info.manifest));
      !s) {
    return tl::unexpected(s.error());
  }
  UniqueFd in(::open(plain.c_str(), O_RDONLY | O_CLOEXEC));
  if (in.get() < 0) return tl::unexpected(ErrnoError(errno, "open " + plain));
  protocol::Bytes chunk(kBackupChunkBytes);
  uint64_t done = 0;
  while (done < info.manifest.database_bytes) {
    const size_t want = static_cast<size_t>(
        std::min<uint64_t>(kBackupChunkBytes, info.manifest.database_bytes - done));
    size_t got = 0;
    while (got < want) {
      const ssize_t n = ::read(in.get(), chunk.data() + got, want - got);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return tl::unexpected(ErrnoError(n < 0 ? errno : EIO, "read " + plain));
      got += static_cast<size_t>(n);
    }
    if (auto s = writer->AppendSealed(*request.key, protocol::ByteView(chunk.data(), want)); !s) {
      return tl::unexpected(s.error());
    }
    done += want;
    if (request.on_progress) request.on_progress({done, info.manifest.database_bytes, "seal"});
  }
  if (auto s = writer->Commit(); !s) return tl::unexpected(s.error());
  info.file_bytes = writer->bytes_written();
  return info;
}

Result<BackupInfo> ReadBackupInfo(const std::string& path, const KeyLookup& keys) {
  auto reader = SealedFileReader::Open(path);
  if (!reader) return tl::unexpected(reader.error());
  return ReadHead(*reader, keys);
}

Result<BackupInfo> UnsealBackup(const std::string& path, const KeyLookup& keys,
                                const std::string& expect_node, const std::string& dest_path) {
  auto reader = SealedFileReader::Open(path);
  if (!reader) return tl::unexpected(reader.error());
  if (reader->header().origin != expect_node) {
    return Fail(Errc::kWrongNode,
                path + " is a backup of " + reader->header().origin + ", not of " + expect_node,
                "restore a node only from its own backups");
  }
  auto info = ReadHead(*reader, keys);
  if (!info) return tl::unexpected(info.error());

  UniqueFd out(::open(dest_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (out.get() < 0) return tl::unexpected(ErrnoError(errno, "create " + dest_path));
  FileGuard dest_guard(dest_path);
  uint64_t written = 0;
  for (uint64_t i = 1; i < info->header.records; ++i) {
    auto record = reader->Next();
    if (!record) return tl::unexpected(record.error());
    auto plain = OpenRecord(info->header, i, *record, keys);
    if (!plain) return tl::unexpected(plain.error());
    const uint64_t expected =
        std::min<uint64_t>(info->manifest.chunk_bytes, info->manifest.database_bytes - written);
    if (plain->size() != expected) {
      return Fail(Errc::kCorrupt,
                  "chunk " + std::to_string(i) + " of the backup has the wrong size");
    }
    if (auto s = WriteFully(out.get(), *plain, dest_path); !s) {
      return tl::unexpected(s.error());
    }
    written += plain->size();
  }
  if (auto s = reader->ExpectEnd(); !s) return tl::unexpected(s.error());
  if (::fsync(out.get()) != 0) return tl::unexpected(ErrnoError(errno, "sync " + dest_path));
  out = UniqueFd();
  if (auto s = store::CheckIntegrity(dest_path); !s) return tl::unexpected(s.error());
  dest_guard.Release();
  return info;
}

}  // namespace unitsync::recovery
