// Offline bundles on disk: sealed changesets carried by hand between a unit and central
// when there is no network at all (DESIGN.md "Recovery"; byte layout: protocol/FORMAT.md
// section 7, "Offline bundle").
//
//   unit:    outbox PUSH envelopes (as sealed for the wire) ──WriteBundle──► F (kPushes)
//   central: F ──ReadBundle: header, manifest, EVERY record opens──► apply ──► R (kReply)
//   unit:    R ──ReadBundle: ... every CHANGES record opens──► acknowledge + apply
//
// This file only writes and verifies files; what is applied, and how cursors move, is
// daemon/bundle_exchange.h. The records are the wire's own envelopes: nothing is sealed
// again here but the manifest (kind bundle, under the unit's key in both directions).
//
// Threading: no shared state; callable from any thread.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "common/error.h"
#include "protocol/bytes.h"
#include "protocol/envelope.h"
#include "protocol/sealed_file.h"

namespace unitsync::recovery {

// The key `unit` had under `key_id` (central: any enrolled unit's; a unit: its own).
// kNotFound when this node holds no such key.
using UnitKeyLookup =
    std::function<Result<const protocol::ChangesetKey*>(const std::string& unit, uint32_t key_id)>;

struct BundleInfo {
  protocol::SealedFileHeader header;
  protocol::BundleManifest manifest;
  uint64_t file_bytes = 0;
};

struct BundleToWrite {
  std::string out_path;     // created (0600) only when complete; never overwritten
  std::string origin;       // the sealing node
  std::string destination;  // the node meant to import it
  // kind, cursors and one entry per envelope; created_ms is the file's time.
  protocol::BundleManifest manifest;
  std::vector<protocol::Bytes> envelopes;  // sealed for the wire, in manifest order
  // The unit's current key (the unit is the origin of kPushes, the destination of
  // kReply): seals the manifest.
  const protocol::ChangesetKey* key = nullptr;
};

// Writes the bundle (as OUT.partial, synced, then linked to OUT: a crash leaves no file
// that looks complete). Fails with kInvalidArgument (no key, manifest and envelopes
// disagree, bad ids), kAlreadyExists (OUT exists), kDiskFull / kIo; on failure OUT does
// not exist.
Result<BundleInfo> WriteBundle(const BundleToWrite& bundle);

// A verified bundle, held in memory whole: it is what a unit built since its last
// acknowledgement (or central's fan-out for it), megabytes rather than gigabytes.
struct Bundle {
  BundleInfo info;
  std::vector<protocol::Bytes> envelopes;  // every one opened under its wire header
};

// Reads the bundle at `path` meant for `receiver` (from `sender`, unless that is empty),
// of `kind`, and authenticates all of it
// before returning anything: the header, the manifest (under the unit's key), then every
// record under the header it would have on the wire (kPushes: PUSH seq from the manifest,
// origin the unit, destination `receiver`; kReply: CHANGES from..to, origin the header's,
// stream the manifest's generation), and that nothing follows the last record.
// Fails, returning nothing, with:
//   kNotFound       no such file; or `keys` has no key for the unit / key id named
//   kMalformed      not a unitsync file; a backup (use restore); a bundle whose manifest
//                   is of the other kind or lists records out of order
//   kWrongNode      the bundle is meant for another node than `receiver`, or comes from
//                   another node than `sender`
//   kCorrupt        any changed, missing, added or reordered byte or record, a truncated
//                   file, bytes after the end
//   kIo             a read error
Result<Bundle> ReadBundle(const std::string& path, const std::string& receiver,
                          const std::string& sender, protocol::BundleKind kind,
                          const UnitKeyLookup& keys);

}  // namespace unitsync::recovery
