// Reading and writing sealed files (protocol/sealed_file.h) on disk: the one place in
// recovery/ that does file I/O for them.
//
// A writer creates OUT.partial (0600, O_EXCL), appends records, and on Commit syncs the
// file, renames it to OUT and syncs the directory; a writer destroyed before Commit
// removes the partial file. A reader bounds every record length before allocating.
//
// Threading: a writer or reader belongs to one thread.
#pragma once

#include <cstdint>
#include <string>

#include "common/error.h"
#include "protocol/bytes.h"
#include "protocol/envelope.h"
#include "protocol/sealed_file.h"

namespace unitsync::recovery {

// A file descriptor that closes itself.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  UniqueFd& operator=(UniqueFd&& o) noexcept;
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd();
  int get() const { return fd_; }

 private:
  int fd_ = -1;
};

// errno as an Error: ENOSPC/EDQUOT kDiskFull, ENOENT kNotFound, EEXIST kAlreadyExists,
// anything else kIo. `what` names the operation and the path.
Error ErrnoError(int err, const std::string& what);

// Writes all of `bytes` to `fd` (retrying short writes and EINTR); errors name `path`.
Status WriteFully(int fd, protocol::ByteView bytes, const std::string& path);

class SealedFileWriter {
 public:
  // Creates `path`.partial for a file with `header`. kAlreadyExists when `path` (or a
  // partial file from a crashed writer) exists; kInvalidArgument on a bad header.
  static Result<SealedFileWriter> Create(const std::string& path,
                                         const protocol::SealedFileHeader& header);
  SealedFileWriter(SealedFileWriter&&) noexcept = default;
  SealedFileWriter& operator=(SealedFileWriter&&) noexcept = default;
  ~SealedFileWriter();

  // Seals `plaintext` under `key` as the next record (SealedRecordHeader). kInvalidArgument
  // past the header's record count.
  Status AppendSealed(const protocol::ChangesetKey& key, protocol::ByteView plaintext);
  // Appends an envelope sealed elsewhere (a bundle's wire changesets).
  Status AppendEnvelope(protocol::ByteView envelope);
  // Every record written: sync, rename to the final name, sync the directory. kInternal
  // when fewer records than the header promised were appended.
  Status Commit();

  uint64_t bytes_written() const { return bytes_; }

 private:
  SealedFileWriter() = default;
  Status Write(protocol::ByteView bytes);

  std::string path_;
  std::string partial_;
  protocol::SealedFileHeader header_;
  UniqueFd fd_;
  uint64_t next_ = 0;
  uint64_t bytes_ = 0;
  bool committed_ = false;
};

class SealedFileReader {
 public:
  // Opens `path` and decodes its header. kNotFound, kMalformed (not a sealed file).
  static Result<SealedFileReader> Open(const std::string& path);

  const protocol::SealedFileHeader& header() const { return header_; }
  // The next record's envelope. kCorrupt when the file ends inside a record, a length is
  // over kMaxSealedRecord, or all records were read already; kIo on a read error.
  Result<protocol::Bytes> Next();
  // After the last record: kCorrupt when bytes follow it.
  Status ExpectEnd();
  // Index of the record Next() returns next (0 = the manifest).
  uint64_t next_index() const { return next_; }
  uint64_t file_bytes() const { return file_bytes_; }

 private:
  SealedFileReader() = default;
  Status ReadExactly(uint8_t* out, size_t n, const char* what);

  std::string path_;
  protocol::SealedFileHeader header_;
  UniqueFd fd_;
  uint64_t next_ = 0;
  uint64_t file_bytes_ = 0;
};

}  // namespace unitsync::recovery
