// Writes the merge fuzzer's seed corpus: small programs (fuzz_input.h) that reach
// the states worth starting from — rows synced both ways, concurrent updates
// (conflicts), deletes, purges, a row moved to the other unit (an eviction) — and
// one of each changeset operation at central and at a unit.
//
//   build/bin/merge_fuzz_seeds store/fuzz/corpus
//
// Operand layouts are those merge_fuzz.cc, world.cc and changeset_gen.cc read; value
// byte 0 picks each column's first pool value (unit-0001 for unit_id), 1 the second
// (unit-0002), so these programs write valid rows.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <vector>

#include "store/fuzz/changeset_gen.h"

namespace unitsync::store::fuzz {
namespace {

// Manifest order (store/schema/manifest.toml).
enum Table : uint8_t { kStaff = 2, kStudent = 3, kCase = 4, kAction = 5 };
constexpr uint8_t kCentral = 0, kUnit1 = 1, kUnit2 = 2;
constexpr uint8_t kA = 0, kB = 1;  // row ids "a", "b"

class Program {
 public:
  explicit Program(const Manifest& m) : m_(m) {}

  // An insert with every column from the first pool value; `unit` 1 puts
  // unit-0002 in the routing column (the first column of every table).
  Program& Insert(uint8_t node, uint8_t table, uint8_t pk, uint8_t unit = 0) {
    Put({static_cast<uint8_t>(Op::kWrite), node, table, pk, 0, 0, 0});
    for (size_t c = 0; c < Columns(table); ++c) bytes_.push_back(c == 0 ? unit : 0);
    return *this;
  }
  Program& Update(uint8_t node, uint8_t table, uint8_t pk, uint8_t column, uint8_t value) {
    return Put({static_cast<uint8_t>(Op::kWrite), node, table, pk, 2, 0, column, value});
  }
  Program& Delete(uint8_t node, uint8_t table, uint8_t pk) {
    return Put({static_cast<uint8_t>(Op::kWrite), node, table, pk, 3});
  }
  Program& Advance(uint8_t node, uint8_t steps) {
    return Put({static_cast<uint8_t>(Op::kAdvance), node, steps, 0});
  }
  Program& Push(uint8_t unit) { return Put({static_cast<uint8_t>(Op::kPush), uint8_t(unit - 1)}); }
  Program& Pull(uint8_t unit) {
    return Put({static_cast<uint8_t>(Op::kPull), uint8_t(unit - 1), 7});
  }
  Program& Purge(uint8_t node, uint8_t table, uint8_t pk) {
    return Put({static_cast<uint8_t>(Op::kPurge), node, table, pk});
  }
  // A generated changeset for `target` (0-1 central as unit 1-2, 2-3 unit 1-2) with
  // one upsert of row `pk` in `table` (routing value = target's unit) at hlc byte `hlc`.
  Program& Incoming(uint8_t target, uint8_t table, uint8_t pk, uint8_t hlc) {
    Put({static_cast<uint8_t>(Op::kIncoming), target, 0});
    Changeset(target, table, pk, hlc);
    return Put({0});  // no damage
  }
  Program& Pair(uint8_t target, uint8_t table, uint8_t pk, uint8_t hlc_a, uint8_t hlc_b) {
    Put({static_cast<uint8_t>(Op::kPair), target, 0});
    Changeset(target, table, pk, hlc_a);
    Changeset(target, table, pk, hlc_b);
    return *this;
  }
  // A real changeset from `source` (central: its fan-out to the target's unit), with
  // `mutations` mutations of zeros (a version moved down in the first row's first column).
  Program& Derived(uint8_t source, uint8_t target, uint8_t mutations, uint8_t damage) {
    Put({static_cast<uint8_t>(Op::kDerived), source, target, 0, 15});
    if (source == kCentral && target < 2) bytes_.push_back(target);
    bytes_.push_back(mutations);
    for (uint8_t i = 0; i < mutations; ++i) Put({0, 0, 0, 0, 0});
    bytes_.push_back(damage);
    if (damage >= 192) Put({0, 7, 1});
    return *this;
  }

  void Write(const std::filesystem::path& file) const {
    std::ofstream out(file, std::ios::binary);
    out.write(reinterpret_cast<const char*>(bytes_.data()), static_cast<long>(bytes_.size()));
  }

 private:
  Program& Put(std::initializer_list<uint8_t> b) {
    bytes_.insert(bytes_.end(), b);
    return *this;
  }
  size_t Columns(uint8_t table) const { return m_.tables()[table].columns.size(); }
  void Changeset(uint8_t target, uint8_t table, uint8_t pk, uint8_t hlc) {
    const uint8_t unit = target % 2;  // pool index of the target's unit id
    Put({0, 0, table, 0, 1, pk, 0});  // origin, 1 table, columns in order, 1 upsert
    for (size_t c = 0; c < Columns(table); ++c) bytes_.push_back(c == 0 ? unit : 0);
    Put({0, hlc, static_cast<uint8_t>(target < 2 ? 1 + target : 0), 0});  // one version
  }

  const Manifest& m_;
  std::vector<uint8_t> bytes_;
};

}  // namespace
}  // namespace unitsync::store::fuzz

int main(int argc, char** argv) {
  using namespace unitsync::store::fuzz;
  using unitsync::store::Replica;
  namespace fs = std::filesystem;
  if (argc != 2) {
    std::fprintf(stderr, "usage: merge_fuzz_seeds DIR\n");
    return 2;
  }
  const fs::path dir = argv[1];
  fs::create_directories(dir);
  const fs::path scratch = fs::temp_directory_path() / "merge_fuzz_seeds.db";
  fs::remove(scratch);
  auto replica = Replica::Create(scratch.string(), unitsync::store::Role::kCentral, "central");
  if (!replica) return 1;
  const unitsync::store::Manifest& m = replica->manifest();
  auto p = [&] { return Program(m); };

  p().Insert(kUnit1, kStudent, kA).Push(kUnit1).Pull(kUnit1).Pull(kUnit2).Write(dir / "sync");
  p().Insert(kUnit1, kStudent, kA)
      .Insert(kUnit1, kCase, kB)
      .Push(kUnit1)
      .Pull(kUnit1)
      .Advance(kCentral, 20)
      .Update(kCentral, kCase, kB, 3, 1)
      .Update(kUnit1, kCase, kB, 3, 0)
      .Push(kUnit1)
      .Pull(kUnit1)
      .Write(dir / "conflict");
  p().Insert(kUnit1, kStudent, kA)
      .Push(kUnit1)
      .Delete(kUnit1, kStudent, kA)
      .Update(kCentral, kStudent, kA, 1, 1)
      .Push(kUnit1)
      .Pull(kUnit1)
      .Write(dir / "delete");
  p().Insert(kUnit1, kStudent, kA)
      .Push(kUnit1)
      .Pull(kUnit1)
      .Purge(kCentral, kStudent, kA)
      .Push(kUnit1)
      .Pull(kUnit1)
      .Write(dir / "purge");
  p().Insert(kCentral, kStudent, kA)
      .Pull(kUnit1)
      .Update(kCentral, kStudent, kA, 0, 1)
      .Update(kUnit1, kStudent, kA, 1, 1)
      .Pull(kUnit1)
      .Pull(kUnit2)
      .Push(kUnit1)
      .Write(dir / "move");
  p().Insert(kCentral, kStaff, kA)
      .Pull(kUnit1)
      .Purge(kCentral, kStaff, kA)
      .Pull(kUnit1)
      .Write(dir / "central-scope");
  for (uint8_t target = 0; target < 4; ++target) {
    const std::string t = std::to_string(target);
    p().Insert(target < 2 ? kUnit1 : kCentral, kStudent, kA)
        .Push(kUnit1)
        .Pull(kUnit1)
        .Incoming(target, kStudent, kA, 40)
        .Write(dir / ("incoming-" + t));
    p().Insert(kUnit1, kStudent, kA)
        .Push(kUnit1)
        .Pull(kUnit1)
        .Pair(target, kStudent, kA, 30, 50)
        .Write(dir / ("pair-" + t));
    p().Insert(kUnit1, kStudent, kA)
        .Insert(kUnit1, kCase, kB)
        .Push(kUnit1)
        .Derived(target < 2 ? kUnit1 : kCentral, target, 2, 0)
        .Derived(kUnit1, target, 1, 200)
        .Write(dir / ("derived-" + t));
  }
  fs::remove(scratch);
  return 0;
}
