// `make demo` for the store alone: central and two units as real replica
// files, writes on all three, changesets exchanged by hand (no network yet),
// a concurrent edit that conflicts, and digests that prove convergence.
// Prints what happens in words an admin understands; never prints record text.
#include <cstdio>
#include <filesystem>
#include <string>

#include "store/change_log.h"
#include "store/changeset_builder.h"
#include "store/conflicts.h"
#include "store/cursors.h"
#include "store/digest.h"
#include "store/merge.h"
#include "store/replica.h"

namespace us = unitsync::store;

namespace {

[[noreturn]] void Die(const unitsync::Error& e) {
  std::fprintf(stderr, "demo failed: %s\n", e.ToString().c_str());
  std::exit(1);
}

template <typename T>
T Must(unitsync::Result<T> r) {
  if (!r) Die(r.error());
  return std::move(*r);
}
void Must(const unitsync::Status& s) {
  if (!s) Die(s.error());
}

void Sql(us::Replica& r, const std::string& sql) { Must(r.db().Exec(sql)); }

// Sends everything `from` has after its cursor for `to`, applies it, and
// advances the cursor as an acknowledgement would.
void Ship(us::Replica& from, us::Replica& to, std::optional<std::string> dest_unit = {}) {
  const std::string peer = to.node_id();
  us::PeerCursor cursor = Must(us::GetCursor(from, peer));
  size_t rows = 0, bytes = 0;
  for (;;) {
    us::BuildRequest req;
    req.after_seq = cursor.acked_seq;
    req.destination_unit = dest_unit;
    us::BuiltChangeset built = Must(us::BuildChangeset(from, req));
    if (built.rows > 0) Must(us::ApplyChangeset(to, built.bytes));
    rows += built.rows;
    bytes += built.bytes.size();
    Must(us::AdvanceAcked(from, peer, built.last_seq));
    cursor.acked_seq = built.last_seq;
    if (!built.more) break;
  }
  std::printf("  %-10s -> %-10s %3zu rows, %5zu bytes\n", from.node_id().c_str(), peer.c_str(),
              rows, bytes);
}

void SyncAll(us::Replica& central, us::Replica& a, us::Replica& b) {
  Ship(a, central);
  Ship(b, central);
  Ship(central, a, a.node_id());
  Ship(central, b, b.node_id());
}

bool Compare(us::Replica& unit, us::Replica& central) {
  auto u = Must(us::ComputeDigests(unit, {unit.node_id()}));
  auto c = Must(us::ComputeDigests(central, {unit.node_id()}));
  int64_t rows = 0;
  for (const auto& d : u) rows += d.rows;
  const bool same = u == c;
  std::printf("  %-10s %s central's copy (%lld rows over %zu tables)\n", unit.node_id().c_str(),
              same ? "is identical to" : "DIFFERS from", static_cast<long long>(rows), u.size());
  return same;
}

void AddAction(us::Replica& r, const std::string& unit, const std::string& student,
               const std::string& text) {
  const std::string s = r.NewId(), c = r.NewId(), a = r.NewId();
  Sql(r, "INSERT INTO student(id, unit_id, pseudo_id, personnummer, name, grade) VALUES ('" + s +
             "', '" + unit + "', '" + student +
             "', '201205051234', 'Namn Efternamn', '5');"
             "INSERT INTO support_case(id, unit_id, student_id, opened_on) VALUES ('" +
             c + "', '" + unit + "', '" + s +
             "', '2026-09-01');"
             "INSERT INTO support_action(id, unit_id, case_id, action_type, description, start_on) "
             "VALUES ('" +
             a + "', '" + unit + "', '" + c + "', 'EA-LASHJALP', '" + text + "', '2026-09-02');");
}

bool IdentityColumnsEmpty(us::Replica& central) {
  auto s = Must(central.db().Prepare(
      "SELECT count(*) FROM student WHERE personnummer IS NOT NULL OR name IS NOT NULL"));
  (void)Must(s.Step());
  return s.ColumnInt(0) == 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::filesystem::path dir = argc > 1 ? argv[1] : "work/demo";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  auto path = [&](const char* n) { return (dir / n).string(); };

  std::printf("1. Creating three replicas in %s: central, unit-0001, unit-0002\n",
              dir.string().c_str());
  us::Replica central =
      Must(us::Replica::Create(path("central.db"), us::Role::kCentral, "central"));
  us::Replica a = Must(us::Replica::Create(path("unit-0001.db"), us::Role::kUnit, "unit-0001"));
  us::Replica b = Must(us::Replica::Create(path("unit-0002.db"), us::Role::kUnit, "unit-0002"));

  std::printf("2. Central publishes the action catalogue; each unit records support actions\n");
  Sql(central,
      "INSERT INTO action_type(id, code, name, level, valid_from) VALUES "
      "('" +
          central.NewId() +
          "', 'EA-LASHJALP', 'Extra anpassning: lässtöd', 'ea', '2026-01-01'),"
          "('" +
          central.NewId() +
          "', 'SS-SMAGRUPP', 'Särskilt stöd: liten grupp', 'sarskilt_stod', "
          "'2026-01-01')");
  for (int i = 0; i < 5; ++i) {
    AddAction(a, "unit-0001", "ps-a" + std::to_string(i), "Förlängd skrivtid och inläsningstjänst");
    AddAction(b, "unit-0002", "ps-b" + std::to_string(i), "Anpassad studiegång i matematik");
  }
  // A third writer, outside the engine: the plain sqlite3 shell.
  const std::string shell = "sqlite3 '" + path("unit-0002.db") +
                            "' \"UPDATE support_action SET status = 'pagaende' WHERE rowid = 1\"";
  if (std::system(shell.c_str()) == 0) {
    std::printf(
        "   (one edit at unit-0002 made with the sqlite3 shell: captured like any other)\n");
  }
  std::printf("   pending changes: unit-0001 %lld, unit-0002 %lld, central %lld\n",
              static_cast<long long>(Must(us::GetChangeLogStats(a, 0)).pending),
              static_cast<long long>(Must(us::GetChangeLogStats(b, 0)).pending),
              static_cast<long long>(Must(us::GetChangeLogStats(central, 0)).pending));

  std::printf("3. Exchanging changesets (units -> central -> units)\n");
  SyncAll(central, a, b);

  std::printf("4. unit-0001 and central edit the same action at the same time\n");
  Sql(a, "UPDATE support_action SET description = 'Ändrad på skolan' WHERE rowid = 1");
  Sql(central,
      "UPDATE support_action SET description = 'Ändrad centralt' WHERE rowid = "
      "(SELECT min(rowid) FROM support_action WHERE unit_id = 'unit-0001')");
  SyncAll(central, a, b);
  const auto conflicts = Must(us::ListConflicts(central));
  for (const auto& c : conflicts) {
    std::printf("   conflict #%lld on %s.%s: %s's write won, %s's is kept for review\n",
                static_cast<long long>(c.id), c.table.c_str(), c.column.c_str(),
                c.winner.origin.c_str(), c.loser.origin.c_str());
  }

  std::printf("5. Verifying: per-unit digests of each unit against central\n");
  const bool ok = Compare(a, central) & Compare(b, central);
  std::printf("   identity numbers and names at central: %s\n",
              IdentityColumnsEmpty(central) ? "none (local-only columns never leave the unit)"
                                            : "PRESENT — this is a bug");
  std::printf(ok ? "\nAll replicas converged.\n" : "\nReplicas did NOT converge.\n");
  return ok ? 0 : 1;
}
