#include "recovery/bundle_file.h"

#include "common/uuid.h"
#include "recovery/sealed_io.h"

namespace unitsync::recovery {
namespace {

using protocol::BundleKind;

const char* KindName(BundleKind kind) {
  return kind == BundleKind::kPushes ? "a unit's changes for central" : "central's reply to a unit";
}

// The unit whose key seals the bundle: the sender of pushes, the receiver of a reply.
const std::string& UnitOf(const protocol::SealedFileHeader& header, BundleKind kind) {
  return kind == BundleKind::kPushes ? header.origin : header.destination;
}

// The wire header changeset `i` (0-based; file record i + 1) was sealed for.
protocol::EnvelopeHeader WireHeader(const protocol::SealedFileHeader& file,
                                    const protocol::BundleManifest& manifest, size_t i) {
  protocol::EnvelopeHeader h;
  h.kind = manifest.kind == BundleKind::kPushes ? protocol::EnvelopeKind::kPush
                                                : protocol::EnvelopeKind::kChanges;
  h.origin = file.origin;
  h.destination = file.destination;
  h.seq_from = manifest.records[i].seq_from;
  h.seq_to = manifest.records[i].seq_to;
  if (manifest.kind == BundleKind::kReply) h.stream = manifest.generation;
  return h;
}

// Pushes are one seq each, consecutive; a reply's CHANGES ranges follow each other.
Status CheckOrder(const protocol::BundleManifest& m) {
  for (size_t i = 0; i < m.records.size(); ++i) {
    const auto& r = m.records[i];
    const bool ok =
        m.kind == BundleKind::kPushes
            ? r.seq_from == r.seq_to && (i == 0 || r.seq_from == m.records[i - 1].seq_to + 1)
            : (i == 0 || r.seq_from == m.records[i - 1].seq_to + 1);
    if (!ok) {
      return Fail(Errc::kMalformed,
                  "the bundle's manifest lists record " + std::to_string(i + 1) + " out of order",
                  "the bundle was not made by unitsyncctl export-bundle");
    }
  }
  return {};
}

Result<const protocol::ChangesetKey*> KeyFor(const UnitKeyLookup& keys, const std::string& unit,
                                             protocol::ByteView record) {
  auto key_id = protocol::EnvelopeKeyId(record);
  if (!key_id) return tl::unexpected(key_id.error());
  return keys(unit, *key_id);
}

}  // namespace

Result<BundleInfo> WriteBundle(const BundleToWrite& b) {
  if (b.key == nullptr) return Fail(Errc::kInvalidArgument, "bundle: no sealing key");
  if (b.manifest.records.size() != b.envelopes.size()) {
    return Fail(Errc::kInvalidArgument, "bundle: manifest and envelopes disagree");
  }
  if (auto st = CheckOrder(b.manifest); !st) {
    return Fail(Errc::kInvalidArgument, "bundle: " + st.error().message);
  }
  UuidV7Generator ids;
  BundleInfo info;
  info.manifest = b.manifest;
  info.header = {protocol::SealedFileKind::kBundle, b.origin, b.destination,
                 "bn-" + ids.Next(b.manifest.created_ms), 1 + b.envelopes.size()};
  auto writer = SealedFileWriter::Create(b.out_path, info.header);
  if (!writer) return tl::unexpected(writer.error());
  if (auto st = writer->AppendSealed(*b.key, protocol::EncodeBundleManifest(b.manifest)); !st) {
    return tl::unexpected(st.error());
  }
  for (const protocol::Bytes& envelope : b.envelopes) {
    if (auto st = writer->AppendEnvelope(envelope); !st) return tl::unexpected(st.error());
  }
  if (auto st = writer->Commit(); !st) return tl::unexpected(st.error());
  info.file_bytes = writer->bytes_written();
  return info;
}

Result<Bundle> ReadBundle(const std::string& path, const std::string& receiver,
                          const std::string& sender, BundleKind kind, const UnitKeyLookup& keys) {
  auto reader = SealedFileReader::Open(path);
  if (!reader) return tl::unexpected(reader.error());
  Bundle out;
  BundleInfo& info = out.info;
  info.header = reader->header();
  info.file_bytes = reader->file_bytes();
  const auto& h = info.header;
  if (h.kind != protocol::SealedFileKind::kBundle) {
    return Fail(Errc::kMalformed, path + " is a backup, not an offline bundle",
                "backups are restored with `unitsyncctl restore`");
  }
  if (h.destination != receiver) {
    return Fail(Errc::kWrongNode,
                path + " is a bundle from " + h.origin + " for " + h.destination +
                    "; this replica is " + receiver + "'s",
                "import it where it is meant to go; nothing was applied");
  }
  if (!sender.empty() && h.origin != sender) {
    return Fail(Errc::kWrongNode, path + " comes from " + h.origin + ", not from " + sender,
                "a unit imports only its central's replies; nothing was applied");
  }
  const std::string& unit = UnitOf(h, kind);
  const std::string tampered = "the file was changed or damaged; nothing was applied";
  auto record = reader->Next();
  if (!record) return tl::unexpected(record.error());
  auto key = KeyFor(keys, unit, *record);
  if (!key) return tl::unexpected(key.error());
  auto plain = protocol::OpenChangeset(**key, protocol::SealedRecordHeader(h, 0), *record);
  if (!plain) {
    return Fail(Errc::kCorrupt, path + ": the bundle's manifest does not open", tampered);
  }
  auto manifest = protocol::DecodeBundleManifest(*plain);
  if (!manifest) return tl::unexpected(manifest.error());
  info.manifest = std::move(*manifest);
  if (info.manifest.kind != kind) {
    return Fail(Errc::kMalformed,
                path + " is " + KindName(info.manifest.kind) + ", expected " + KindName(kind));
  }
  if (info.manifest.records.size() + 1 != h.records) {
    return Fail(Errc::kCorrupt, path + ": the manifest and the header disagree", tampered);
  }
  if (auto st = CheckOrder(info.manifest); !st) return tl::unexpected(st.error());
  for (size_t i = 0; i < info.manifest.records.size(); ++i) {
    auto envelope = reader->Next();
    if (!envelope) return tl::unexpected(envelope.error());
    auto k = KeyFor(keys, unit, *envelope);
    if (!k) return tl::unexpected(k.error());
    // Opened only to verify; the executors open it again where it is applied.
    if (!protocol::OpenChangeset(**k, WireHeader(h, info.manifest, i), *envelope)) {
      return Fail(Errc::kCorrupt,
                  path + ": changeset " + std::to_string(i + 1) + " of " +
                      std::to_string(info.manifest.records.size()) + " does not open",
                  tampered);
    }
    out.envelopes.push_back(std::move(*envelope));
  }
  if (auto st = reader->ExpectEnd(); !st) return tl::unexpected(st.error());
  return out;
}

}  // namespace unitsync::recovery
