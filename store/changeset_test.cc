#include "store/changeset.h"

#include <gtest/gtest.h>

#include <random>

namespace unitsync::store {
namespace {

std::string Hex(const Blob& b) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string s;
  for (uint8_t c : b) {
    s.push_back(kHex[c >> 4]);
    s.push_back(kHex[c & 0xf]);
  }
  return s;
}

Blob Unhex(const std::string& s) {
  Blob b;
  for (size_t i = 0; i + 1 < s.size(); i += 2) b.push_back(std::stoi(s.substr(i, 2), nullptr, 16));
  return b;
}

Value RandomValue(std::mt19937_64& rng) {
  switch (rng() % 5) {
    case 0:
      return Value{};
    case 1:
      return Value{static_cast<int64_t>(rng())};
    case 2:
      return Value{static_cast<double>(rng() % 1000) / 7.0};
    case 3:
      return Value{std::string("åäö ") + std::to_string(rng())};
    default:
      return Value{Blob{1, 2, static_cast<uint8_t>(rng())}};
  }
}

// The example from store/FORMAT.md "Changeset": one upserted row (one
// column updated after the insert) and one tombstone.
Changeset Example() {
  Changeset cs;
  cs.origin = "unit-0001";
  TableChanges t;
  t.table = "followup";
  t.columns = {"unit_id", "notes"};
  ChangeRow live;
  live.pk = "r1";
  live.values = {std::string("unit-0001"), std::string("Bra")};
  live.versions = {{{0x10000, "unit-0001"}, {}}, {{0x20001, "unit-0001"}, {0x10000, "unit-0001"}}};
  ChangeRow dead;
  dead.pk = "r2";
  dead.tombstone = true;
  dead.tombstone_version = {0x30000, "central"};
  dead.tombstone_unit = "unit-0001";
  dead.versions = {{{0x10000, "unit-0001"}, {}}, {{0x10000, "unit-0001"}, {}}};
  t.rows = {live, dead};
  cs.tables.push_back(t);
  return cs;
}

// Pinned: changing the encoding breaks every deployed node. This is the
// hex in store/FORMAT.md; update both only with a format version bump.
constexpr const char* kExampleHex =
    "83a17601a66f726967696ea9756e69742d30303031a67461626c657391"
    "93a8666f6c6c6f77757092a7756e69745f6964a56e6f746573"
    "92"
    "94a2723192a9756e69742d30303031a3427261"
    "92"
    "95ce00010000a9756e69742d3030303100a0c0"
    "95ce00020001a9756e69742d30303031ce00010000a9756e69742d303030319101"
    "c0"
    "94a27232c0"
    "9195ce00010000a9756e69742d3030303100a0c0"
    "93ce00030000a763656e7472616ca9756e69742d30303031";

TEST(ChangesetFormat, GoldenBytes) { EXPECT_EQ(Hex(EncodeChangeset(Example())), kExampleHex); }

TEST(ChangesetFormat, GoldenBytesDecode) {
  auto cs = DecodeChangeset(Unhex(kExampleHex));
  ASSERT_TRUE(cs) << cs.error().ToString();
  EXPECT_EQ(EncodeChangeset(*cs), Unhex(kExampleHex));
  ASSERT_EQ(cs->tables[0].rows.size(), 2u);
  EXPECT_EQ(cs->tables[0].rows[0].versions[1].prev.hlc, 0x10000u);
  EXPECT_TRUE(cs->tables[0].rows[1].tombstone);
  EXPECT_EQ(cs->tables[0].rows[1].tombstone_unit, "unit-0001");
}

// The eviction example from store/FORMAT.md: central tells a unit to drop
// row r3, which now belongs to another unit.
constexpr const char* kEvictionHex =
    "83a17601a66f726967696ea763656e7472616ca67461626c657391"
    "93a8666f6c6c6f77757092a7756e69745f6964a56e6f746573"
    "91"
    "94a27233c090c0";

Changeset EvictionExample() {
  Changeset cs;
  cs.origin = "central";
  ChangeRow evict;
  evict.pk = "r3";
  evict.evict = true;
  cs.tables.push_back({"followup", {"unit_id", "notes"}, {evict}});
  return cs;
}

TEST(ChangesetFormat, EvictionGoldenBytes) {
  EXPECT_EQ(Hex(EncodeChangeset(EvictionExample())), kEvictionHex);
  auto cs = DecodeChangeset(Unhex(kEvictionHex));
  ASSERT_TRUE(cs) << cs.error().ToString();
  ASSERT_EQ(cs->tables[0].rows.size(), 1u);
  const ChangeRow& row = cs->tables[0].rows[0];
  EXPECT_TRUE(row.evict);
  EXPECT_FALSE(row.tombstone);
  EXPECT_TRUE(row.values.empty());
  EXPECT_TRUE(row.versions.empty());
  EXPECT_EQ(EncodeChangeset(*cs), Unhex(kEvictionHex));
}

// The purge example from store/FORMAT.md: central purged row r4 of unit-0001.
constexpr const char* kPurgeHex =
    "83a17601a66f726967696ea763656e7472616ca67461626c657391"
    "93a8666f6c6c6f77757092a7756e69745f6964a56e6f746573"
    "91"
    "94a27234c0c0"
    "93ce00040000a763656e7472616ca9756e69742d30303031";

TEST(ChangesetFormat, PurgeGoldenBytes) {
  Changeset example;
  example.origin = "central";
  ChangeRow purge;
  purge.pk = "r4";
  purge.purge = true;
  purge.tombstone_version = {0x40000, "central"};
  purge.tombstone_unit = "unit-0001";
  example.tables.push_back({"followup", {"unit_id", "notes"}, {purge}});
  EXPECT_EQ(Hex(EncodeChangeset(example)), kPurgeHex);
  auto cs = DecodeChangeset(Unhex(kPurgeHex));
  ASSERT_TRUE(cs) << cs.error().ToString();
  ASSERT_EQ(cs->tables[0].rows.size(), 1u);
  const ChangeRow& row = cs->tables[0].rows[0];
  EXPECT_TRUE(row.purge);
  EXPECT_FALSE(row.tombstone);
  EXPECT_FALSE(row.evict);
  EXPECT_EQ(row.tombstone_version, purge.tombstone_version);
  EXPECT_EQ(row.tombstone_unit, "unit-0001");
  EXPECT_TRUE(row.values.empty());
  EXPECT_TRUE(row.versions.empty());
  EXPECT_EQ(EncodeChangeset(*cs), Unhex(kPurgeHex));
}

TEST(ChangesetFormat, PurgeWithABadVersionIsMalformed) {
  const std::string head =
      "83a17601a66f726967696ea763656e7472616ca67461626c657391"
      "93a8666f6c6c6f77757092a7756e69745f6964a56e6f74657391"
      "94a27234c0c0";
  for (const std::string& tail : {std::string("c3"),                            // not an array
                                  std::string("9300a763656e7472616cc0"),        // hlc 0
                                  std::string("92ce00040000a763656e7472616c"),  // 2 elements
                                  std::string("93ce00040000a0c0")}) {           // empty origin
    auto r = DecodeChangeset(Unhex(head + tail));
    ASSERT_FALSE(r) << tail;
    EXPECT_EQ(r.error().code, Errc::kMalformed) << tail;
    EXPECT_NE(r.error().message.find("purge"), std::string::npos) << r.error().message;
  }
}

TEST(ChangesetFormat, EvictionWithAnythingButEmptyVersionsIsMalformed) {
  auto expect_malformed = [](const std::string& hex, const char* what) {
    auto r = DecodeChangeset(Unhex(hex));
    ASSERT_FALSE(r) << what;
    EXPECT_EQ(r.error().code, Errc::kMalformed) << what;
  };
  const std::string head =
      "83a17601a66f726967696ea763656e7472616ca67461626c657391"
      "93a8666f6c6c6f77757092a7756e69745f6964a56e6f74657391";
  // [r3, nil, [[1, "c", 0, "", nil]], nil]: versions on an eviction.
  expect_malformed(head + "94a27233c0919501a16300a0c0c0", "eviction with versions");
  // [r3, nil, nil, nil]: versions not an array.
  expect_malformed(head + "94a27233c0c0c0", "eviction with nil versions");
  // [r3, [..], [], [..]]: values and tombstone both set.
  expect_malformed(head + "94a2723392c0c0909301a163c0", "values and tombstone");
}

TEST(ChangesetFormat, RoundTripsRandomValues) {
  const uint64_t seed = std::random_device{}();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  for (int iter = 0; iter < 200; ++iter) {
    Changeset cs;
    cs.origin = "n" + std::to_string(rng() % 100);
    TableChanges t;
    t.table = "t";
    const size_t ncols = 1 + rng() % 6;
    for (size_t c = 0; c < ncols; ++c) t.columns.push_back("c" + std::to_string(c));
    for (int r = 0; r < 5; ++r) {
      ChangeRow row;
      row.pk = "id" + std::to_string(r);
      row.tombstone = rng() % 4 == 0;
      for (size_t c = 0; c < ncols; ++c) {
        row.versions.push_back({{1 + rng() % 5, "o" + std::to_string(rng() % 2)},
                                rng() % 2 ? Version{} : Version{1 + rng() % 5, "p"}});
        if (row.tombstone) continue;
        row.values.push_back(RandomValue(rng));
      }
      if (row.tombstone) row.tombstone_version = {1 + rng() % 9, "x"};
      t.rows.push_back(row);
    }
    cs.tables.push_back(t);
    const Blob bytes = EncodeChangeset(cs);
    auto back = DecodeChangeset(bytes);
    ASSERT_TRUE(back) << back.error().ToString();
    EXPECT_EQ(EncodeChangeset(*back), bytes);
    for (size_t r = 0; r < t.rows.size(); ++r) {
      EXPECT_EQ(back->tables[0].rows[r].values, t.rows[r].values);
      EXPECT_EQ(back->tables[0].rows[r].versions, t.rows[r].versions);
    }
  }
}

TEST(ChangesetFormat, StrictDecodingRejectsEverythingOffSpec) {
  const Blob good = EncodeChangeset(Example());
  auto expect_malformed = [](const Blob& b, const char* what) {
    auto r = DecodeChangeset(b);
    ASSERT_FALSE(r) << what;
    EXPECT_EQ(r.error().code, Errc::kMalformed) << what;
  };
  Blob trailing = good;
  trailing.push_back(0xc0);
  expect_malformed(trailing, "trailing byte");
  for (size_t n = 0; n < good.size(); ++n) {
    expect_malformed(Blob(good.begin(), good.begin() + n), "truncated");
  }
  // {"v":1,"v":1,...}: duplicate key (fixmap of 3 with "v" twice).
  expect_malformed(Unhex("83a17601a17601a67461626c657390"), "duplicate key");
  expect_malformed(Unhex("84a17601a66f726967696ea178a67461626c657390a3657874c0"), "unknown key");
  expect_malformed(Unhex("83a17602a66f726967696ea178a67461626c657390"), "version 2");
  expect_malformed(Unhex("82a17601a66f726967696ea178"), "missing tables");
  expect_malformed(Unhex("83a17601a66f726967696e01a67461626c657390"), "origin not a string");
  expect_malformed(Unhex("c1"), "reserved byte");
  // Nesting beyond the limit: 20 nested arrays.
  Blob deep(20, 0x91);
  deep.push_back(0xc0);
  expect_malformed(deep, "too deep");
  // An array header claiming 2^32-1 elements must fail fast, not allocate.
  expect_malformed(Unhex("dd ffffffff"), "huge array");

  Changeset no_version = Example();
  no_version.tables[0].rows[0].versions[1] = {};
  expect_malformed(EncodeChangeset(no_version), "upsert column without a version");
  Changeset short_values = Example();
  short_values.tables[0].rows[0].values.pop_back();
  expect_malformed(EncodeChangeset(short_values), "values shorter than columns");
}

// Each structural rule of FORMAT.md "Changeset", broken on its own: kMalformed, and the
// message says which rule (ids and table names only, never a value).
TEST(ChangesetFormat, EachBrokenStructureIsMalformedWithItsReason) {
  // {"v": 1, "origin": "central", "tables": [<block>]}
  const std::string head = "83a17601a66f726967696ea763656e7472616ca67461626c657391";
  // ["t", ["a"], [<row>]]
  const std::string table = "93a17491a16191";
  // [1, "c", 0, "", nil]: one version group for column 0
  const std::string versions = "919501a16300a0c0";
  const struct {
    std::string hex;
    const char* says;
  } cases[] = {
      {"90", "not a map"},
      {"8101a174", "a key is not a string"},
      {"83a17601a66f726967696ea763656e7472616ca67461626c6573c0", "tables must be an array"},
      {"82a17601a67461626c657390", "missing one of v, origin, tables"},
      {"83a176a131a66f726967696ea763656e7472616ca67461626c657390", "unsupported format version"},
      {"83a17601a66f726967696ea763656e7472616ca67461626c657392"
       "93a1749090"
       "93a1749090",
       "table 't' appears twice"},
      {head + "92a17490", "a table block is not a 3-element array"},
      {head + "93019090", "a table name is not a string"},
      {head + "93a09090", "a table name is not a string"},
      {head + "93a174c090", "columns must be an array"},
      {head + "93a17492a161a16190", "a column name is invalid or repeated"},
      {head + "93a174910190", "a column name is invalid or repeated"},
      {head + "93a17491a161c0", "rows not an array"},
      {head + table + "93a172c0c0", "a row is not a 4-element array"},
      {head + table + "9401c090c0", "row id must be a string of 1-128 bytes"},
      {head + table + "94a172c3" + versions + "c0", "values must be an array with one value"},
      {head + table + "94a1729180" + versions + "c0", "column 0 has a bad type"},
      {head + table + "94a17291cfffffffffffffffff" + versions + "c0", "column 0 has a bad type"},
      {head + table + "94a172c090c3", "tombstone must be [hlc, origin, unit|nil]"},
      {head + table + "94a172c09093ce00030000a16301", "tombstone must be [hlc, origin, unit|nil]"},
      {head + table + "94a172c090930101c0", "tombstone must be [hlc, origin, unit|nil]"},
      {head + table + "94a17291c0c3c0", "versions: not an array"},
      {head + table + "94a17291c0919401a16300a0c0", "a group is not a 5-element array"},
      {head + table + "94a17291c0919500a16300a0c0c0", "hlc must be a positive integer"},
      {head + table + "94a17291c0919501a000a0c0c0", "bad origin"},
      {head + table + "94a17291c0919501a163a0a0c0c0", "prev hlc must be an unsigned integer"},
      {head + table + "94a17291c0919501a1630001c0c0", "bad prev origin"},
      {head + table + "94a17291c0919501a16305a0c0c0", "prev hlc and origin disagree"},
      {head + table + "94a17291c0929501a16300a0c09501a16300a0c0c0", "more than one catch-all"},
      {head + table + "94a17291c0919501a16300a0c3c0", "group columns must be nil or an array"},
      {head + table + "94a17291c0919501a16300a09105c0", "unknown column"},
      {head + table + "94a17291c0929501a16300a091009502a16300a09100c0",
       "a column is in two groups"},
  };
  for (const auto& c : cases) {
    auto r = DecodeChangeset(Unhex(c.hex));
    ASSERT_FALSE(r) << c.hex;
    EXPECT_EQ(r.error().code, Errc::kMalformed) << c.hex;
    EXPECT_NE(r.error().message.find(c.says), std::string::npos)
        << c.hex << ": " << r.error().message;
  }
  // The same row with a good value of each other type decodes.
  const std::pair<std::string, Value> values[] = {{"c0", Value{}},
                                                  {"d0ff", Value{int64_t{-1}}},
                                                  {"ca3f800000", Value{1.0}},
                                                  {"c40101", Value{Blob{1}}}};
  for (const auto& [hex, value] : values) {
    auto r = DecodeChangeset(Unhex(head + table + "94a17291" + hex + versions + "c0"));
    ASSERT_TRUE(r) << hex << ": " << r.error().ToString();
    ASSERT_EQ(r->tables.at(0).rows.size(), 1u);
    EXPECT_EQ(r->tables[0].rows[0].values, std::vector<Value>{value}) << hex;
  }
}

}  // namespace
}  // namespace unitsync::store
