#include "store/digest.h"

#include <openssl/evp.h>

#include <memory>
#include <msgpack.hpp>

#include "store/change_log.h"
#include "store/row_clock.h"

namespace unitsync::store {
namespace {

struct MdCtxFree {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};

class Sha256 {
 public:
  Sha256() : ctx_(EVP_MD_CTX_new()) { EVP_DigestInit_ex(ctx_.get(), EVP_sha256(), nullptr); }
  void Update(const msgpack::sbuffer& b) { EVP_DigestUpdate(ctx_.get(), b.data(), b.size()); }
  std::string HexFinal() {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_DigestFinal_ex(ctx_.get(), md, &len);
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    for (unsigned int i = 0; i < len; ++i) {
      out.push_back(kHex[md[i] >> 4]);
      out.push_back(kHex[md[i] & 0xf]);
    }
    return out;
  }

 private:
  std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx_;
};

void PackValue(msgpack::packer<msgpack::sbuffer>& pk, const Value& v) {
  // Tag each value with its type so 1 (INTEGER) and "1" (TEXT) differ.
  pk.pack_array(2);
  pk.pack_uint64(v.index());
  std::visit(
      [&](const auto& x) {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, std::monostate>) {
          pk.pack_nil();
        } else if constexpr (std::is_same_v<T, Blob>) {
          pk.pack_bin(static_cast<uint32_t>(x.size()));
          pk.pack_bin_body(reinterpret_cast<const char*>(x.data()),
                           static_cast<uint32_t>(x.size()));
        } else {
          pk.pack(x);
        }
      },
      v);
}

Result<TableDigest> DigestTable(Replica& replica, const TableSpec& spec, const DigestScope& scope) {
  Db& db = replica.db();
  const bool by_unit = scope.unit && spec.scope == Scope::kUnit;
  auto rows = db.Prepare(std::string("SELECT pk, deleted, tomb_hlc, tomb_origin, versions FROM "
                                     "_us_clock WHERE tbl = ?1") +
                         (by_unit ? " AND unit = ?2" : "") + " ORDER BY pk");
  if (!rows) return tl::unexpected(rows.error());
  rows->BindText(1, spec.name);
  if (by_unit) rows->BindText(2, *scope.unit);

  // Columns in name order: the digest must not depend on column order.
  std::vector<size_t> order(spec.columns.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(),
            [&](size_t a, size_t b) { return spec.columns[a] < spec.columns[b]; });
  std::string cols;
  for (size_t i = 0; i < spec.columns.size(); ++i)
    cols += (i ? ", \"" : "\"") + spec.columns[i] + "\"";
  auto values = db.Prepare("SELECT " + (cols.empty() ? std::string("1") : cols) + " FROM \"" +
                           spec.name + "\" WHERE id = ?1");
  if (!values) return tl::unexpected(values.error());
  const int flag = spec.private_row_flag.empty() ? -1 : spec.ColumnIndex(spec.private_row_flag);

  TableDigest d;
  d.table = spec.name;
  Sha256 sha;
  std::vector<ColumnVersion> versions;
  for (;;) {
    auto more = rows->Step();
    if (!more) return tl::unexpected(more.error());
    if (!*more) break;
    const std::string pk = rows->ColumnText(0);
    msgpack::sbuffer buf;
    msgpack::packer<msgpack::sbuffer> pk_(buf);
    if (const int64_t deleted = rows->ColumnInt(1); deleted != 0) {
      // A tombstone [id, hlc, origin]; a purge marker (deleted = 2) adds a 4th element.
      pk_.pack_array(deleted == 1 ? 3 : 4);
      pk_.pack(pk);
      pk_.pack_uint64(static_cast<uint64_t>(rows->ColumnInt(2)));
      pk_.pack(rows->ColumnText(3));
      if (deleted != 1) pk_.pack("purged");
      ++d.tombstones;
    } else {
      versions.assign(spec.columns.size(), ColumnVersion{});
      if (auto st = RowClockStore::DecodeVersions(spec, rows->ColumnBlob(4), versions); !st) {
        return tl::unexpected(st.error());
      }
      values->Reset();
      values->BindText(1, pk);
      auto found = values->Step();
      if (!found) return tl::unexpected(found.error());
      if (!*found) {
        return Fail(Errc::kCorrupt,
                    "table " + spec.name + " lacks row " + pk + " that _us_clock has",
                    "run 'PRAGMA integrity_check' and re-seed the replica if it fails");
      }
      if (flag >= 0 && values->ColumnInt(flag) == 1) continue;  // Private: never shared.
      pk_.pack_array(2);
      pk_.pack(pk);
      pk_.pack_array(static_cast<uint32_t>(order.size()));
      for (size_t i : order) {
        pk_.pack_array(4);
        pk_.pack(spec.columns[i]);
        PackValue(pk_, values->ColumnValue(static_cast<int>(i)));
        pk_.pack_uint64(versions[i].v.hlc);
        pk_.pack(versions[i].v.origin);
      }
      ++d.rows;
    }
    sha.Update(buf);
  }
  d.sha256 = sha.HexFinal();
  return d;
}

}  // namespace

Result<std::vector<TableDigest>> ComputeDigests(Replica& replica, const DigestScope& scope) {
  if (!replica.db().InTransaction()) {
    if (auto st = StampPendingChangesNow(replica); !st) return tl::unexpected(st.error());
  }
  auto tx = Transaction::Begin(replica.db(), Transaction::Kind::kDeferred);
  if (!tx) return tl::unexpected(tx.error());
  std::vector<TableDigest> out;
  for (const TableSpec& spec : replica.manifest().tables()) {
    auto d = DigestTable(replica, spec, scope);
    if (!d) return tl::unexpected(d.error());
    out.push_back(std::move(*d));
  }
  if (auto st = tx->Commit(); !st) return tl::unexpected(st.error());
  return out;
}

}  // namespace unitsync::store
