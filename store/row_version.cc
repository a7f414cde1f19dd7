#include "store/row_version.h"

#include <map>

namespace unitsync::store {
namespace {

bool AsUint(const msgpack::object& o, uint64_t& out) {
  if (o.type != msgpack::type::POSITIVE_INTEGER) return false;
  out = o.via.u64;
  return true;
}

bool AsStr(const msgpack::object& o, std::string& out, size_t max_len) {
  if (o.type != msgpack::type::STR || o.via.str.size > max_len) return false;
  out.assign(o.via.str.ptr, o.via.str.size);
  return true;
}

}  // namespace

void PackVersionGroups(
    msgpack::packer<msgpack::sbuffer>& pk, const std::vector<ColumnVersion>& versions,
    const std::function<void(msgpack::packer<msgpack::sbuffer>&, size_t)>& pack_col) {
  // Group columns by identical (v, prev); empty versions are left out.
  std::vector<std::pair<const ColumnVersion*, std::vector<size_t>>> groups;
  for (size_t i = 0; i < versions.size(); ++i) {
    if (versions[i].v.empty()) continue;
    auto it = std::find_if(groups.begin(), groups.end(),
                           [&](const auto& g) { return *g.first == versions[i]; });
    if (it == groups.end()) {
      groups.push_back({&versions[i], {i}});
    } else {
      it->second.push_back(i);
    }
  }
  // The largest group becomes the catch-all, unless some column has no
  // version (the catch-all would wrongly cover it).
  const bool all_versioned = std::all_of(versions.begin(), versions.end(),
                                         [](const ColumnVersion& c) { return !c.v.empty(); });
  size_t catch_all = groups.size();
  if (all_versioned) {
    for (size_t g = 0; g < groups.size(); ++g) {
      if (catch_all == groups.size() || groups[g].second.size() > groups[catch_all].second.size()) {
        catch_all = g;
      }
    }
  }
  pk.pack_array(static_cast<uint32_t>(groups.size()));
  for (size_t g = 0; g < groups.size(); ++g) {
    const ColumnVersion& cv = *groups[g].first;
    pk.pack_array(5);
    pk.pack_uint64(cv.v.hlc);
    pk.pack(cv.v.origin);
    pk.pack_uint64(cv.prev.hlc);
    pk.pack(cv.prev.origin);
    if (g == catch_all) {
      pk.pack_nil();
    } else {
      pk.pack_array(static_cast<uint32_t>(groups[g].second.size()));
      for (size_t i : groups[g].second) pack_col(pk, i);
    }
  }
}

Status UnpackVersionGroups(const msgpack::object& groups, std::vector<ColumnVersion>& versions,
                           const std::function<int(const msgpack::object&)>& resolve_col,
                           std::string_view what) {
  auto bad = [&](const std::string& why) {
    return Fail(Errc::kMalformed, std::string(what) + ": versions: " + why);
  };
  if (groups.type != msgpack::type::ARRAY) return bad("not an array");
  std::vector<bool> named(versions.size(), false);
  const ColumnVersion* catch_all = nullptr;
  ColumnVersion catch_all_value;
  for (uint32_t g = 0; g < groups.via.array.size; ++g) {
    const msgpack::object& grp = groups.via.array.ptr[g];
    if (grp.type != msgpack::type::ARRAY || grp.via.array.size != 5) {
      return bad("a group is not a 5-element array");
    }
    const msgpack::object* f = grp.via.array.ptr;
    ColumnVersion cv;
    if (!AsUint(f[0], cv.v.hlc) || cv.v.hlc == 0) return bad("hlc must be a positive integer");
    if (!AsStr(f[1], cv.v.origin, 64) || cv.v.origin.empty()) return bad("bad origin");
    if (!AsUint(f[2], cv.prev.hlc)) return bad("prev hlc must be an unsigned integer");
    if (!AsStr(f[3], cv.prev.origin, 64)) return bad("bad prev origin");
    if ((cv.prev.hlc == 0) != cv.prev.origin.empty()) return bad("prev hlc and origin disagree");
    if (f[4].type == msgpack::type::NIL) {
      if (catch_all != nullptr) return bad("more than one catch-all group");
      catch_all_value = cv;
      catch_all = &catch_all_value;
      continue;
    }
    if (f[4].type != msgpack::type::ARRAY) return bad("group columns must be nil or an array");
    for (uint32_t c = 0; c < f[4].via.array.size; ++c) {
      const int idx = resolve_col(f[4].via.array.ptr[c]);
      if (idx == -1) continue;
      if (idx < 0 || static_cast<size_t>(idx) >= versions.size()) return bad("unknown column");
      if (named[idx]) return bad("a column is in two groups");
      named[idx] = true;
      versions[idx] = cv;
    }
  }
  if (catch_all != nullptr) {
    for (size_t i = 0; i < versions.size(); ++i) {
      if (!named[i]) versions[i] = *catch_all;
    }
  }
  return {};
}

}  // namespace unitsync::store
