#include "store/row_clock.h"

#include "store/msgpack_io.h"

namespace unitsync::store {
namespace {

constexpr int64_t kPurgedMark = 2;  // _us_clock.deleted of a purged row

}  // namespace

uint64_t RowClock::MaxHlc() const {
  uint64_t max = tombstone.hlc;
  for (const ColumnVersion& c : columns) max = std::max(max, c.v.hlc);
  return max;
}

RowClock RowClock::PurgeMarker(size_t columns, std::string unit, const Version& version) {
  RowClock marker;
  marker.exists = true;
  marker.unit = std::move(unit);
  marker.deleted = true;
  marker.purged = true;
  marker.tombstone = version;
  marker.columns.resize(columns);
  return marker;
}

Result<RowClockStore> RowClockStore::Prepare(Db& db) {
  RowClockStore s;
  auto load = db.Prepare(
      "SELECT unit, deleted, tomb_hlc, tomb_origin, versions FROM _us_clock "
      "WHERE tbl = ?1 AND pk = ?2");
  if (!load) return tl::unexpected(load.error());
  auto save = db.Prepare(
      "INSERT INTO _us_clock(tbl, pk, unit, deleted, tomb_hlc, tomb_origin, versions) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT(tbl, pk) DO UPDATE SET "
      "unit = excluded.unit, deleted = excluded.deleted, tomb_hlc = excluded.tomb_hlc, "
      "tomb_origin = excluded.tomb_origin, versions = excluded.versions");
  if (!save) return tl::unexpected(save.error());
  auto erase = db.Prepare("DELETE FROM _us_clock WHERE tbl = ?1 AND pk = ?2");
  if (!erase) return tl::unexpected(erase.error());
  s.load_ = std::move(*load);
  s.save_ = std::move(*save);
  s.erase_ = std::move(*erase);
  return s;
}

Result<RowClock> RowClockStore::Load(const TableSpec& spec, std::string_view pk) {
  RowClock clock;
  clock.columns.resize(spec.columns.size());
  load_.Reset();
  load_.BindText(1, spec.name);
  load_.BindText(2, pk);
  auto row = load_.Step();
  if (!row) return tl::unexpected(row.error());
  if (!*row) return clock;
  clock.exists = true;
  clock.unit = load_.ColumnText(0);
  const int64_t deleted = load_.ColumnInt(1);
  clock.deleted = deleted != 0;
  clock.purged = deleted == kPurgedMark;
  clock.tombstone = {static_cast<uint64_t>(load_.ColumnInt(2)), load_.ColumnText(3)};
  const Blob blob = load_.ColumnBlob(4);
  load_.Reset();
  if (auto st = DecodeVersions(spec, blob, clock.columns); !st) return tl::unexpected(st.error());
  return clock;
}

Status RowClockStore::Save(const TableSpec& spec, std::string_view pk, const RowClock& clock) {
  save_.Reset();
  save_.BindText(1, spec.name);
  save_.BindText(2, pk);
  if (clock.unit.empty()) {
    save_.BindNull(3);
  } else {
    save_.BindText(3, clock.unit);
  }
  save_.BindInt(4, clock.purged ? kPurgedMark : clock.deleted ? 1 : 0);
  save_.BindInt(5, static_cast<int64_t>(clock.tombstone.hlc));
  save_.BindText(6, clock.tombstone.origin);
  EncodeVersionsInto(spec, clock.columns, *versions_buf_);
  save_.BindBlob(7,
                 {reinterpret_cast<const uint8_t*>(versions_buf_->data()), versions_buf_->size()},
                 Statement::Bytes::kBorrow);
  return save_.Run();
}

Status RowClockStore::Erase(const TableSpec& spec, std::string_view pk) {
  erase_.Reset();
  erase_.BindText(1, spec.name);
  erase_.BindText(2, pk);
  return erase_.Run();
}

Blob RowClockStore::EncodeVersions(const TableSpec& spec,
                                   const std::vector<ColumnVersion>& columns) {
  msgpack::sbuffer buf;
  EncodeVersionsInto(spec, columns, buf);
  return Blob(reinterpret_cast<const uint8_t*>(buf.data()),
              reinterpret_cast<const uint8_t*>(buf.data()) + buf.size());
}

void RowClockStore::EncodeVersionsInto(const TableSpec& spec,
                                       const std::vector<ColumnVersion>& columns,
                                       msgpack::sbuffer& buf) {
  buf.clear();
  msgpack::packer<msgpack::sbuffer> pk(buf);
  PackVersionGroups(pk, columns, [&](msgpack::packer<msgpack::sbuffer>& p, size_t i) {
    p.pack(spec.columns[i]);
  });
}

Status RowClockStore::DecodeVersions(const TableSpec& spec, const Blob& blob,
                                     std::vector<ColumnVersion>& columns) {
  const std::string what = "_us_clock " + spec.name;
  auto handle = UnpackStrict(blob, what);
  if (!handle) return Fail(Errc::kCorrupt, handle.error().message, "run 'unitsyncctl verify'");
  auto st = UnpackVersionGroups(
      handle->get(), columns,
      [&](const msgpack::object& c) -> int {
        if (c.type != msgpack::type::STR) return -2;
        // A column the schema no longer has is ignored, not an error.
        return spec.ColumnIndex(std::string_view(c.via.str.ptr, c.via.str.size));
      },
      what);
  if (!st) return Fail(Errc::kCorrupt, st.error().message, "run 'unitsyncctl verify'");
  return {};
}

}  // namespace unitsync::store
