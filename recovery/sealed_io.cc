#include "recovery/sealed_io.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

namespace unitsync::recovery {
namespace {

Status SyncDirectoryOf(const std::string& path) {
  std::string dir = std::filesystem::path(path).parent_path().string();
  if (dir.empty()) dir = ".";
  UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.get() < 0) return tl::unexpected(ErrnoError(errno, "open directory " + dir));
  if (::fsync(fd.get()) != 0) return tl::unexpected(ErrnoError(errno, "sync directory " + dir));
  return {};
}

void PutBe32(uint8_t* out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out[i] = static_cast<uint8_t>(v >> (24 - 8 * i));
}

}  // namespace

UniqueFd& UniqueFd::operator=(UniqueFd&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = o.fd_;
    o.fd_ = -1;
  }
  return *this;
}

UniqueFd::~UniqueFd() {
  if (fd_ >= 0) ::close(fd_);
}

Error ErrnoError(int err, const std::string& what) {
  const std::string message = what + ": " + std::strerror(err);
  switch (err) {
    case ENOSPC:
    case EDQUOT:
      return Error{Errc::kDiskFull, message, "free space on that disk and try again"};
    case ENOENT:
      return Error{Errc::kNotFound, message, "check the path"};
    case EEXIST:
      return Error{Errc::kAlreadyExists, message, "choose another name; nothing is overwritten"};
    default:
      return Error{Errc::kIo, message, "check the disk, the path and its permissions"};
  }
}

Result<SealedFileWriter> SealedFileWriter::Create(const std::string& path,
                                                  const protocol::SealedFileHeader& header) {
  auto head = protocol::EncodeSealedFileHeader(header);
  if (!head) return tl::unexpected(head.error());
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) return tl::unexpected(ErrnoError(EEXIST, "create " + path));
  SealedFileWriter w;
  w.path_ = path;
  w.partial_ = path + ".partial";
  w.header_ = header;
  w.fd_ = UniqueFd(::open(w.partial_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (w.fd_.get() < 0) {
    const int e = errno;
    Error err = ErrnoError(e, "create " + w.partial_);
    if (e == EEXIST) err.hint = "a backup or export was interrupted: remove " + w.partial_;
    w.partial_.clear();  // not ours: never remove it
    return tl::unexpected(err);
  }
  if (auto s = w.Write(*head); !s) return tl::unexpected(s.error());
  return w;
}

SealedFileWriter::~SealedFileWriter() {
  if (!committed_ && !partial_.empty() && fd_.get() >= 0) ::unlink(partial_.c_str());
}

Status WriteFully(int fd, protocol::ByteView bytes, const std::string& path) {
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return tl::unexpected(ErrnoError(errno, "write " + path));
    }
    done += static_cast<size_t>(n);
  }
  return {};
}

Status SealedFileWriter::Write(protocol::ByteView bytes) {
  if (auto s = WriteFully(fd_.get(), bytes, partial_); !s) return s;
  bytes_ += bytes.size();
  return {};
}

Status SealedFileWriter::AppendSealed(const protocol::ChangesetKey& key,
                                      protocol::ByteView plaintext) {
  if (next_ >= header_.records) {
    return Fail(Errc::kInvalidArgument, "sealed file: more records than its header announced");
  }
  auto sealed =
      protocol::SealChangeset(key, protocol::SealedRecordHeader(header_, next_), plaintext);
  if (!sealed) return tl::unexpected(sealed.error());
  return AppendEnvelope(*sealed);
}

Status SealedFileWriter::AppendEnvelope(protocol::ByteView envelope) {
  if (next_ >= header_.records) {
    return Fail(Errc::kInvalidArgument, "sealed file: more records than its header announced");
  }
  if (envelope.size() > protocol::kMaxSealedRecord) {
    return Fail(Errc::kInvalidArgument, "sealed file: record over the size limit");
  }
  uint8_t len[4];
  PutBe32(len, static_cast<uint32_t>(envelope.size()));
  if (auto s = Write(len); !s) return s;
  if (auto s = Write(envelope); !s) return s;
  ++next_;
  return {};
}

Status SealedFileWriter::Commit() {
  if (next_ != header_.records) {
    return Fail(Errc::kInternal, "sealed file: " + std::to_string(next_) + " of " +
                                     std::to_string(header_.records) + " records written");
  }
  if (::fsync(fd_.get()) != 0) return tl::unexpected(ErrnoError(errno, "sync " + partial_));
  // link + unlink instead of rename: an OUT that appeared meanwhile is never replaced.
  if (::link(partial_.c_str(), path_.c_str()) != 0) {
    return tl::unexpected(ErrnoError(errno, "create " + path_));
  }
  committed_ = true;
  ::unlink(partial_.c_str());
  return SyncDirectoryOf(path_);
}

Result<SealedFileReader> SealedFileReader::Open(const std::string& path) {
  SealedFileReader r;
  r.path_ = path;
  r.fd_ = UniqueFd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (r.fd_.get() < 0) return tl::unexpected(ErrnoError(errno, "open " + path));
  struct stat st {};
  if (::fstat(r.fd_.get(), &st) != 0) return tl::unexpected(ErrnoError(errno, "stat " + path));
  if (!S_ISREG(st.st_mode)) return Fail(Errc::kMalformed, path + " is not a regular file");
  r.file_bytes_ = static_cast<uint64_t>(st.st_size);
  uint8_t head[protocol::kMaxSealedFileHeader];
  const ssize_t n = ::pread(r.fd_.get(), head, sizeof head, 0);
  if (n < 0) return tl::unexpected(ErrnoError(errno, "read " + path));
  size_t consumed = 0;
  auto header =
      protocol::DecodeSealedFileHeader(protocol::ByteView(head, static_cast<size_t>(n)), consumed);
  if (!header) {
    Error e = header.error();
    e.message = path + ": " + e.message;
    return tl::unexpected(e);
  }
  r.header_ = *header;
  if (::lseek(r.fd_.get(), static_cast<off_t>(consumed), SEEK_SET) < 0) {
    return tl::unexpected(ErrnoError(errno, "seek " + path));
  }
  return r;
}

Status SealedFileReader::ReadExactly(uint8_t* out, size_t n, const char* what) {
  size_t done = 0;
  while (done < n) {
    const ssize_t got = ::read(fd_.get(), out + done, n - done);
    if (got < 0) {
      if (errno == EINTR) continue;
      return tl::unexpected(ErrnoError(errno, "read " + path_));
    }
    if (got == 0) {
      return Fail(Errc::kCorrupt,
                  path_ + ": truncated inside " + what + " of record " + std::to_string(next_),
                  "the file is incomplete: copy it again from where it was made");
    }
    done += static_cast<size_t>(got);
  }
  return {};
}

Result<protocol::Bytes> SealedFileReader::Next() {
  if (next_ >= header_.records) {
    return Fail(Errc::kCorrupt, path_ + ": read past the last record");
  }
  uint8_t len[4];
  if (auto s = ReadExactly(len, 4, "the length"); !s) return tl::unexpected(s.error());
  const uint32_t n = (uint32_t{len[0]} << 24) | (uint32_t{len[1]} << 16) | (uint32_t{len[2]} << 8) |
                     uint32_t{len[3]};
  if (n > protocol::kMaxSealedRecord || n < protocol::kEnvelopeOverhead) {
    return Fail(Errc::kCorrupt, path_ + ": record " + std::to_string(next_) +
                                    " has an impossible length " + std::to_string(n));
  }
  protocol::Bytes record(n);
  if (auto s = ReadExactly(record.data(), n, "the envelope"); !s) return tl::unexpected(s.error());
  ++next_;
  return record;
}

Status SealedFileReader::ExpectEnd() {
  uint8_t byte;
  const ssize_t got = ::read(fd_.get(), &byte, 1);
  if (got < 0) return tl::unexpected(ErrnoError(errno, "read " + path_));
  if (got > 0 || next_ != header_.records) {
    return Fail(Errc::kCorrupt, path_ + ": bytes after the last record",
                "the file was changed after it was made");
  }
  return {};
}

}  // namespace unitsync::recovery
