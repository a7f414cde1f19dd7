// libFuzzer target: the merge, fed with replica states and changesets together
// (store/fuzz/DESIGN.md). An input is a program (fuzz_input.h) that a World runs
// step by step: local writes, real pushes and fan-outs, purges, and changesets made
// from the input — generated, or real ones mutated, well-formed or damaged — that go
// through ApplyChangeset, the entry point the daemon's executors call once a sealed
// envelope is open (sealing is not part of what is fuzzed). After every step every
// replica is checked; a broken invariant aborts (checks.h).
#include <cstdio>
#include <cstdlib>

#include "store/changeset_builder.h"
#include "store/cursors.h"
#include "store/fuzz/world.h"

namespace unitsync::store::fuzz {
namespace {

// Steps per input: enough for a few rows to be written, synced, conflicted and
// purged; bounded so one input stays fast.
constexpr int kMaxSteps = 48;

// UNITSYNC_FUZZ_TRACE=1: which operations an input runs and what came of them (to
// read a crasher, and to see what a corpus exercises).
bool Tracing() {
  static const bool trace = std::getenv("UNITSYNC_FUZZ_TRACE") != nullptr;
  return trace;
}

int PickNode(FuzzInput& in) { return static_cast<int>(in.Pick(kNodes)); }
int PickUnit(FuzzInput& in) { return 1 + static_cast<int>(in.Pick(kNodes - 1)); }

// Where a changeset goes, as the daemon would apply it: at central as unit 1's or
// unit 2's push (authorized), or at a unit as central's fan-out.
struct Target {
  int node = 0;
  ApplyOptions options;
};

// Operands: target (0-1 central for unit 1-2, 2-3 unit 1-2), cursor flag[, seq].
Target PickTarget(FuzzInput& in, World& w) {
  Target t;
  const size_t pick = in.Pick(4);
  const bool cursor = in.Flag();
  if (pick < 2) {
    const std::string& unit = NodeId(1 + static_cast<int>(pick));
    t.options.authorize_unit = unit;
    if (cursor) t.options.advance_received = ApplyOptions::Cursor{unit, in.Byte()};
  } else {
    t.node = static_cast<int>(pick) - 1;
    // The unit's cursor where it is: a fuzzed changeset must not skip real fan-out.
    const int64_t at = Must(GetCursor(w.node(t.node), "central"), "cursor").received_seq;
    if (cursor) t.options.advance_received = ApplyOptions::Cursor{"central", at};
  }
  return t;
}

// Whether the merge rule promises that a and b commute at `r`: no evictions (an
// eviction is an instruction, applied in central-log order); at a unit, only rows
// of its own (a purge of a row that moved away erases without a marker, so a later
// copy of that row would come back — something central never sends).
bool MustCommute(const Replica& r, const Changeset& a, const Changeset& b) {
  for (const Changeset* cs : {&a, &b}) {
    for (const TableChanges& block : cs->tables) {
      const TableSpec* spec = r.manifest().Find(block.table);
      if (spec == nullptr) return false;
      for (const ChangeRow& row : block.rows) {
        if (row.evict) return false;
        if (r.role() != Role::kUnit || spec->scope != Scope::kUnit) continue;
        if (row.tombstone || row.purge) {
          if (row.tombstone_unit != r.node_id()) return false;
          continue;
        }
        for (size_t c = 0; c < block.columns.size(); ++c) {
          if (block.columns[c] != spec->routing) continue;
          const auto* s = std::get_if<std::string>(&row.values[c]);
          if (s == nullptr || *s != r.node_id()) return false;
        }
      }
    }
  }
  return true;
}

// Operands: target, changeset, damage.
void Incoming(FuzzInput& in, World& w) {
  const Target t = PickTarget(in, w);
  const Changeset cs = GenerateChangeset(in, w.node(0).manifest(), w.pools());
  const Blob bytes = Damage(in, EncodeChangeset(cs));
  w.CheckedApply(t.node, bytes, t.options, "incoming");
}

// Operands: target, changeset a, changeset b. Applies a then b at the node and b
// then a at a copy of it; where the rule says they commute, both end equal.
void Pair(FuzzInput& in, World& w) {
  Target t = PickTarget(in, w);
  t.options.advance_received.reset();  // cursors are not merged state
  const Changeset a = GenerateChangeset(in, w.node(0).manifest(), w.pools());
  const Changeset b = GenerateChangeset(in, w.node(0).manifest(), w.pools());
  const Blob ab = EncodeChangeset(a);
  const Blob bb = EncodeChangeset(b);
  Replica& r = w.node(t.node);
  StampNow(r);
  World::Copy copy = w.CopyOf(t.node);
  const auto a1 = w.CheckedApply(t.node, ab, t.options, "pair a");
  const auto b1 = w.CheckedApply(t.node, bb, t.options, "pair b");
  const auto b2 = ApplyChangeset(*copy.replica, bb, t.options);
  const auto a2 = ApplyChangeset(*copy.replica, ab, t.options);
  // A value the schema refuses fails only where the row is written, which can
  // depend on the order: compare only when all four applied.
  if (!a1 || !b1 || !a2 || !b2 || !MustCommute(r, a, b)) return;
  if (Tracing()) std::fprintf(stderr, "merge_fuzz: pair compared\n");
  Require(AllDigests(r) == AllDigests(*copy.replica),
          "digests at " + r.node_id() + " depend on the order of two changesets");
  Require(DataOnly(DumpTables(r)) == DataOnly(DumpTables(*copy.replica)),
          "rows or clocks at " + r.node_id() + " depend on the order of two changesets");
}

// Operands: source node, target, max rows, mutations, damage. A real changeset
// (a unit's log, or central's fan-out to a unit), mutated.
void Derived(FuzzInput& in, World& w) {
  const int source = PickNode(in);
  const Target t = PickTarget(in, w);
  BuildRequest req;
  req.max_rows = 1 + in.Pick(16);
  req.max_bytes = SIZE_MAX;
  if (source == 0) req.destination_unit = NodeId(t.node == 0 ? PickUnit(in) : t.node);
  const BuiltChangeset built = Must(BuildChangeset(w.node(source), req), "build");
  if (built.rows == 0) return;
  Changeset cs = Must(DecodeChangeset(built.bytes), "decode a built changeset");
  MutateChangeset(in, cs, w.pools());
  const Blob bytes = Damage(in, EncodeChangeset(cs));
  w.CheckedApply(t.node, bytes, t.options, "derived");
}

void Step(FuzzInput& in, World& w) {
  const Op op = static_cast<Op>(in.Pick(static_cast<size_t>(Op::kCount)));
  if (Tracing()) std::fprintf(stderr, "merge_fuzz: op %d\n", static_cast<int>(op));
  switch (op) {
    case Op::kWrite:  // node, table, id, kind, columns and values
      w.LocalWrite(in, PickNode(in));
      break;
    case Op::kAdvance: {  // node, step of 40 ms, direction
      const int n = PickNode(in);
      const int64_t delta = int64_t{in.Byte()} * 40;
      w.clock(n).Advance(in.Byte() >= 240 ? -delta : delta);
      break;
    }
    case Op::kPush:  // unit
      w.Push(PickUnit(in));
      break;
    case Op::kPull: {  // unit, max rows
      const int u = PickUnit(in);
      w.Pull(u, 1 + in.Pick(8));
      break;
    }
    case Op::kPurge: {  // node, table, id
      const int n = PickNode(in);
      const auto& tables = w.node(n).manifest().tables();
      const std::string& table = tables[in.Pick(tables.size())].name;
      w.Purge(n, table, RowIds()[in.Pick(RowIds().size())]);
      break;
    }
    case Op::kIncoming:
      Incoming(in, w);
      break;
    case Op::kPair:
      Pair(in, w);
      break;
    default:
      Derived(in, w);
      break;
  }
}

}  // namespace
}  // namespace unitsync::store::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace unitsync::store::fuzz;
  FuzzInput in(data, size);
  World world;
  for (int step = 0; step < kMaxSteps && !in.empty(); ++step) {
    Step(in, world);
    world.Track();
  }
  world.CheckAll();
  return 0;
}
