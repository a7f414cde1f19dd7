#include "store/fuzz/world.h"

#include <unistd.h>

#include <filesystem>

#include "store/change_log.h"
#include "store/changeset_builder.h"
#include "store/cursors.h"
#include "store/purge.h"
#include "store/sync_state.h"

namespace unitsync::store::fuzz {
namespace {

namespace fs = std::filesystem;

// The replicas every input starts from, made once per process (libFuzzer runs one
// input after another in the same process), and the directory they live in.
class Templates {
 public:
  Templates() {
    std::error_code ec;
    const fs::path base =
        fs::is_directory("/dev/shm", ec) ? fs::path("/dev/shm") : fs::temp_directory_path();
    dir_ = (base / ("unitsync-merge-fuzz-" + std::to_string(getpid()))).string();
    fs::remove_all(dir_, ec);
    fs::create_directories(dir_);
    ManualWallClock clock(kT0);
    for (int n = 0; n < kNodes; ++n) {
      ReplicaOptions options;
      options.clock = &clock;
      Replica r = Must(
          Replica::Create(Template(n), n == 0 ? Role::kCentral : Role::kUnit, NodeId(n), options),
          "create template replica");
      if (n == 0) pools_ = ValuePools::FromSchema(r);
    }
  }
  ~Templates() {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  std::string Template(int n) const { return dir_ + "/" + NodeId(n) + ".template"; }
  const std::string& dir() const { return dir_; }
  const ValuePools& pools() const { return pools_; }

 private:
  std::string dir_;
  ValuePools pools_;
};

const Templates& GetTemplates() {
  static const Templates templates;  // lives until exit; its destructor removes the files
  return templates;
}

void RemoveDb(const std::string& path) {
  std::error_code ec;
  for (const char* suffix : {"", "-wal", "-shm", "-journal"}) fs::remove(path + suffix, ec);
}

bool Contains(const Value& v, const char* needle) {
  const auto* s = std::get_if<std::string>(&v);
  return s != nullptr && s->find(needle) != std::string::npos;
}

}  // namespace

void StampNow(Replica& replica) { Must(StampPendingChangesNow(replica), "stamp"); }

World::World() : dir_(GetTemplates().dir()) {
  for (int n = 0; n < kNodes; ++n) {
    const std::string path = dir_ + "/" + NodeId(n) + ".db";
    RemoveDb(path);
    std::error_code ec;
    fs::copy_file(GetTemplates().Template(n), path, ec);
    if (ec) Violation("copy template: " + ec.message());
    clocks_[n] = std::make_unique<ManualWallClock>(kT0);
    ReplicaOptions options;
    options.clock = clocks_[n].get();
    replicas_[n] = std::make_unique<Replica>(Must(Replica::Open(path, options), "open replica"));
  }
}

World::~World() {
  for (int n = 0; n < kNodes; ++n) {
    const std::string path = replicas_[n] ? replicas_[n]->path() : std::string();
    replicas_[n].reset();
    if (!path.empty()) RemoveDb(path);
  }
  for (int c = 0; c < copies_; ++c) RemoveDb(dir_ + "/copy-" + std::to_string(c) + ".db");
}

const ValuePools& World::pools() const { return GetTemplates().pools(); }

void World::LocalWrite(FuzzInput& in, int n) {
  Replica& r = node(n);
  const auto& tables = r.manifest().tables();
  const TableSpec& spec = tables[in.Pick(tables.size())];
  const std::string& pk = RowIds()[in.Pick(RowIds().size())];
  // Local-only columns hold a value that names the node that wrote it, so a copy
  // found anywhere else is a leak (CheckReplica).
  const Value local(std::string("LOCAL-") + r.node_id());
  std::vector<std::string> columns;
  std::vector<Value> values;
  auto add = [&](const std::string& c, bool local_only) {
    columns.push_back(c);
    values.push_back(local_only ? local : pools().Pick(in, spec.name, c));
  };
  std::string sql;
  switch (in.Pick(4)) {
    case 0:
    case 1: {  // insert: every column but those the mask leaves to their default
      const uint16_t skip = in.U16();
      for (size_t c = 0; c < spec.columns.size(); ++c) {
        if (!(skip >> (c % 16) & 1)) add(spec.columns[c], false);
      }
      for (const std::string& c : spec.local_only) add(c, true);
      sql = "INSERT INTO \"" + spec.name + "\"(id";
      for (const std::string& c : columns) sql += ", \"" + c + "\"";
      sql += ") VALUES (?1";
      for (size_t i = 0; i < columns.size(); ++i) sql += ", ?" + std::to_string(i + 2);
      sql += ")";
      break;
    }
    case 2: {  // update one or two columns (a local-only one now and then)
      const size_t count = 1 + in.Pick(2);
      for (size_t i = 0; i < count; ++i) {
        const size_t c = in.Pick(spec.columns.size() + spec.local_only.size());
        if (c < spec.columns.size()) {
          add(spec.columns[c], false);
        } else {
          add(spec.local_only[c - spec.columns.size()], true);
        }
      }
      if (count == 2 && columns[0] == columns[1]) columns.pop_back(), values.pop_back();
      sql = "UPDATE \"" + spec.name + "\" SET ";
      for (size_t i = 0; i < columns.size(); ++i) {
        sql += (i ? ", \"" : "\"") + columns[i] + "\" = ?" + std::to_string(i + 2);
      }
      sql += " WHERE id = ?1";
      break;
    }
    default:
      sql = "DELETE FROM \"" + spec.name + "\" WHERE id = ?1";
      break;
  }
  auto stmt = r.db().Prepare(sql);
  if (!stmt) Violation("prepare a local write: " + stmt.error().message);
  stmt->BindText(1, pk);
  for (size_t i = 0; i < values.size(); ++i) stmt->BindValue(static_cast<int>(i) + 2, values[i]);
  (void)stmt->Run();  // refused by a constraint or a guard trigger: the writer's business
}

MergeReport World::Push(int u) {
  Replica& unit = node(u);
  const OutboxState state = Must(GetOutboxState(unit), "outbox state");
  BuildRequest req;
  req.after_seq = state.built_log_seq;
  req.max_rows = SIZE_MAX;
  req.max_bytes = SIZE_MAX;
  const BuiltChangeset built = Must(BuildChangeset(unit, req), "build a push");
  MergeReport report;
  if (built.rows > 0) {
    const Changeset cs = Must(DecodeChangeset(built.bytes), "decode a built push");
    Require(cs.origin == unit.node_id(), "a push names another origin");
    for (const TableChanges& block : cs.tables) {
      const TableSpec* spec = unit.manifest().Find(block.table);
      for (const std::string& c : block.columns) {
        Require(!spec->IsLocalOnly(c), "a push carries local-only column " + block.table + "." + c);
      }
      for (const ChangeRow& row : block.rows) {
        for (const Value& v : row.values) {
          Require(!Contains(v, "LOCAL-"), "a push carries a local-only value: " + block.table);
        }
        if (spec->private_row_flag.empty() || row.values.empty()) continue;
        auto flag = Must(unit.db().Prepare("SELECT \"" + spec->private_row_flag + "\" FROM \"" +
                                           spec->name + "\" WHERE id = ?1"),
                         "private flag");
        flag.BindText(1, row.pk);
        Require(!Must(flag.Step(), "private flag") || flag.ColumnInt(0) != 1,
                "a push carries private row " + block.table + "/" + row.pk);
      }
    }
    ApplyOptions options;
    options.authorize_unit = unit.node_id();
    options.advance_received = ApplyOptions::Cursor{unit.node_id(), state.built_seq + 1};
    auto applied = CheckedApply(0, built.bytes, options, "push");
    Require(applied.has_value(), "central refused a unit's real push");
    report = *applied;
  }
  Must(AppendOutbox(unit, {state.built_seq + 1, built.last_seq, static_cast<int64_t>(built.rows),
                           built.bytes}),
       "append outbox");
  Must(AckOutbox(unit, state.built_seq + 1), "ack outbox");
  return report;
}

MergeReport World::Pull(int u, size_t max_rows) {
  Replica& unit = node(u);
  BuildRequest req;
  req.after_seq = Must(GetCursor(unit, "central"), "cursor").received_seq;
  req.max_rows = max_rows;
  req.destination_unit = unit.node_id();
  const BuiltChangeset built = Must(BuildChangeset(node(0), req), "build a fan-out");
  ApplyOptions options;
  options.advance_received = ApplyOptions::Cursor{"central", built.last_seq};
  if (built.rows == 0) {
    Must(AdvanceReceived(unit, "central", built.last_seq), "advance cursor");
    return {};
  }
  const Changeset cs = Must(DecodeChangeset(built.bytes), "decode a built fan-out");
  for (const TableChanges& block : cs.tables) {
    const TableSpec* spec = unit.manifest().Find(block.table);
    for (const ChangeRow& row : block.rows) {
      for (const Value& v : row.values) {
        Require(!Contains(v, "LOCAL-"), "a fan-out carries a local-only value: " + block.table);
      }
      if (spec->scope == Scope::kCentral || row.evict || row.purge) continue;
      std::string routing = row.tombstone_unit;
      for (size_t c = 0; !row.tombstone && c < block.columns.size(); ++c) {
        if (block.columns[c] != spec->routing) continue;
        const auto* s = std::get_if<std::string>(&row.values[c]);
        routing = s ? *s : std::string();
      }
      Require(routing == unit.node_id(), "a fan-out to " + unit.node_id() + " carries row " +
                                             block.table + "/" + row.pk + " of another unit");
    }
  }
  auto applied = CheckedApply(u, built.bytes, options, "pull");
  Require(applied.has_value(), "a unit refused central's real fan-out");
  return *applied;
}

void World::Purge(int n, const std::string& table, const std::string& pk) {
  auto out = PurgeRow(node(n), table, pk);
  if (out) return;
  const Errc code = out.error().code;
  Require(code == Errc::kNotFound || code == Errc::kInvalidArgument || code == Errc::kRejected,
          "purge failed: " + out.error().message);
}

World::Copy World::CopyOf(int n) {
  Replica& r = node(n);
  const std::string path = dir_ + "/copy-" + std::to_string(copies_++) + ".db";
  RemoveDb(path);
  Must(r.db().Exec("VACUUM INTO '" + path + "'"), "copy replica");
  Copy copy;
  copy.clock = std::make_unique<ManualWallClock>(clock(n).NowMs());
  ReplicaOptions options;
  options.clock = copy.clock.get();
  copy.replica = std::make_unique<Replica>(Must(Replica::Open(path, options), "open copy"));
  Require(copy.replica->clock().last() == r.clock().last(), "a copy's clock differs");
  return copy;
}

void World::Track() {
  for (int n = 0; n < kNodes; ++n) {
    // A local write is only in the clock once stamped (the daemon stamps before it
    // builds or merges, and when it notices a write).
    StampNow(node(n));
    for (const auto& [key, e] : LoadClocks(node(n))) {
      if (e.deleted == 2) markers(n).insert(key);
    }
  }
}

void World::CheckAll() {
  Track();
  for (int n = 0; n < kNodes; ++n) CheckReplica(node(n), markers(n), /*scan_values=*/true);
}

}  // namespace unitsync::store::fuzz
