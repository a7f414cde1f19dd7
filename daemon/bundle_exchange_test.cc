// Sync by bundles on real replicas: a unit's bundle applied at central and central's reply
// applied at the unit converge them exactly as a session would; repeats, old files,
// tampered files and files for another node apply nothing.
#include "daemon/bundle_exchange.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <array>
#include <fstream>
#include <iterator>

#include "store/backup.h"
#include "store/cursors.h"
#include "store/sync_state.h"
#include "store/test_util.h"

namespace unitsync::daemon {
namespace {

using store::testing::Digests;
using store::testing::Exec;
using store::testing::MakeReplica;
using store::testing::Query;
using store::testing::TempDir;
using store::testing::ValueOrDie;

constexpr int64_t kNow = 1'763'900'000'000;

bool Exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

class BundleExchange : public ::testing::Test {
 protected:
  BundleExchange() {
    for (const char* u : {"unit-0001", "unit-0002"}) {
      std::array<uint8_t, protocol::kUnitSecretSize> secret{};
      secret.fill(u[8] == '1' ? 0x11 : 0x22);  // TEST secrets
      EXPECT_TRUE(central_keys_.Add(u, secret, 1));
      EXPECT_TRUE((u[8] == '1' ? unit_keys_ : other_keys_).Add(u, secret, 1));
    }
    options_.max_rows = 10;  // several changesets per bundle
  }

  void AddStudents(store::Replica& r, const std::string& unit, int from, int to) {
    Exec(r, "BEGIN");
    for (int n = from; n < to; ++n) {
      Exec(r, "INSERT INTO student(id, unit_id, pseudo_id, grade) VALUES ('s-" + r.node_id() + "-" +
                  std::to_string(n) + "', '" + unit + "', 'p', '1')");
    }
    Exec(r, "COMMIT");
  }

  std::string File(const std::string& name) { return dir_.File(name); }

  Result<ExportedPushes> Export(const std::string& name) {
    return ExportPushes(unit_, unit_keys_, "central", File(name), kNow, options_);
  }
  Result<ImportedPushes> Import(const std::string& name, const std::string& reply) {
    return ImportPushes(*central_, central_keys_, File(name), File(reply), kNow, options_);
  }
  Result<ImportedReply> ImportAtUnit(const std::string& reply) {
    return ImportReply(unit_, unit_keys_, "central", File(reply), options_);
  }
  // One whole exchange: export, import at central, import the reply at the unit.
  void RoundTrip(const std::string& tag) {
    ASSERT_TRUE(Export(tag + ".usbn"));
    auto imported = Import(tag + ".usbn", tag + "-reply.usbn");
    ASSERT_TRUE(imported) << imported.error().ToString();
    auto replied = ImportAtUnit(tag + "-reply.usbn");
    ASSERT_TRUE(replied || replied.error().code == Errc::kAlreadyExists)
        << replied.error().ToString();
  }

  bool Converged() { return Digests(unit_, "unit-0001") == Digests(*central_, "unit-0001"); }
  store::OutboxState Outbox() { return ValueOrDie(store::GetOutboxState(unit_)); }
  store::PeerCursor CentralCursor() { return ValueOrDie(store::GetCursor(*central_, "unit-0001")); }

  TempDir dir_;
  std::optional<store::Replica> central_{MakeReplica(dir_, "central", store::Role::kCentral)};
  store::Replica unit_ = MakeReplica(dir_, "unit-0001", store::Role::kUnit);
  KeyRing central_keys_;
  KeyRing unit_keys_;
  KeyRing other_keys_;
  ExecutorOptions options_;
};

TEST_F(BundleExchange, ARoundTripConvergesAndAdvancesEveryCursor) {
  AddStudents(unit_, "unit-0001", 0, 25);
  AddStudents(*central_, "unit-0001", 0, 2);  // central writes into the unit's scope ...
  AddStudents(*central_, "unit-0002", 2, 3);  // ... and another unit's, never sent here

  auto exported = Export("f.usbn");
  ASSERT_TRUE(exported) << exported.error().ToString();
  EXPECT_EQ(exported->bundle.manifest.records.size(), 3u) << "25 rows, 10 per push";
  EXPECT_EQ(exported->bundle.header.origin, "unit-0001");
  EXPECT_EQ(exported->bundle.header.destination, "central");

  auto imported = Import("f.usbn", "r.usbn");
  ASSERT_TRUE(imported) << imported.error().ToString();
  EXPECT_EQ(imported->unit, "unit-0001");
  EXPECT_EQ(imported->applied, 3u);
  EXPECT_EQ(imported->already, 0u);
  EXPECT_EQ(imported->applied_seq, 3u);
  EXPECT_EQ(imported->reply.rows, 2u) << "central's two rows for this unit, nothing else";
  EXPECT_EQ(Query(*central_, "SELECT count(*) FROM student WHERE unit_id = 'unit-0001'"), "27");

  auto replied = ImportAtUnit("r.usbn");
  ASSERT_TRUE(replied) << replied.error().ToString();
  EXPECT_EQ(replied->acked_after, 3u);
  EXPECT_FALSE(replied->resynced);
  EXPECT_GT(replied->pull_after, 0u);
  EXPECT_EQ(Query(unit_, "SELECT count(*) FROM student"), "27");
  EXPECT_TRUE(Converged());
  EXPECT_EQ(Outbox().pending, 0);
  EXPECT_EQ(Outbox().acked_seq, 3);
  EXPECT_EQ(ValueOrDie(store::GetSeenGeneration(unit_)),
            ValueOrDie(store::GetGeneration(*central_)));

  // The next bundle starts after what central acknowledged and tells central where the
  // unit's pull cursor is.
  AddStudents(unit_, "unit-0001", 25, 26);
  auto next = Export("f2.usbn");
  ASSERT_TRUE(next);
  ASSERT_EQ(next->bundle.manifest.records.size(), 1u);
  EXPECT_EQ(next->bundle.manifest.records[0].seq_from, 4u);
  EXPECT_EQ(next->pull_seq, replied->pull_after);
  ASSERT_TRUE(Import("f2.usbn", "r2.usbn"));
  EXPECT_EQ(CentralCursor().acked_seq, static_cast<int64_t>(replied->pull_after));
  ASSERT_TRUE(ImportAtUnit("r2.usbn"));
  EXPECT_TRUE(Converged());
}

TEST_F(BundleExchange, ImportingTwiceAppliesNothingAndSaysSo) {
  AddStudents(unit_, "unit-0001", 0, 5);
  ASSERT_TRUE(Export("f.usbn"));
  ASSERT_TRUE(Import("f.usbn", "r.usbn"));
  const auto digests = Digests(*central_);
  const auto cursor = CentralCursor();

  auto twice = Import("f.usbn", "r-again.usbn");
  ASSERT_FALSE(twice);
  EXPECT_EQ(twice.error().code, Errc::kAlreadyExists);
  EXPECT_NE(twice.error().message.find("already imported"), std::string::npos);
  EXPECT_NE(twice.error().hint.find("export-bundle --unit unit-0001"), std::string::npos);
  EXPECT_FALSE(Exists(File("r-again.usbn"))) << "no reply for a repeat";
  EXPECT_EQ(Digests(*central_), digests);
  EXPECT_EQ(CentralCursor().received_seq, cursor.received_seq);

  ASSERT_TRUE(ImportAtUnit("r.usbn"));
  const auto outbox = Outbox();
  const auto unit_digests = Digests(unit_);
  auto reply_twice = ImportAtUnit("r.usbn");
  ASSERT_FALSE(reply_twice);
  EXPECT_EQ(reply_twice.error().code, Errc::kAlreadyExists);
  EXPECT_NE(reply_twice.error().message.find("nothing new"), std::string::npos);
  EXPECT_EQ(Outbox().acked_seq, outbox.acked_seq);
  EXPECT_EQ(Digests(unit_), unit_digests);
  EXPECT_TRUE(Converged());
}

// The reply got lost on the way back; the unit exports again (its pushes are still not
// acknowledged, plus a new one). Central applies only the new one. A reply can also be
// written at central without any bundle.
TEST_F(BundleExchange, AReExportAfterALostReplyAppliesOnlyWhatIsNew) {
  AddStudents(unit_, "unit-0001", 0, 15);
  ASSERT_TRUE(Export("f1.usbn"));
  ASSERT_TRUE(Import("f1.usbn", "lost.usbn"));
  AddStudents(unit_, "unit-0001", 15, 16);
  auto again = Export("f2.usbn");
  ASSERT_TRUE(again);
  EXPECT_EQ(again->bundle.manifest.records.size(), 3u) << "the two unacknowledged and a new one";
  auto imported = Import("f2.usbn", "r2.usbn");
  ASSERT_TRUE(imported) << imported.error().ToString();
  EXPECT_EQ(imported->already, 2u);
  EXPECT_EQ(imported->applied, 1u);

  auto reply = ExportReply(*central_, central_keys_, "unit-0001", std::nullopt,
                           File("by-hand.usbn"), kNow, options_);
  ASSERT_TRUE(reply) << reply.error().ToString();
  EXPECT_EQ(reply->bundle.manifest.applied, 3u);
  ASSERT_TRUE(ImportAtUnit("by-hand.usbn"));
  EXPECT_EQ(Outbox().pending, 0);
  EXPECT_TRUE(Converged());
}

TEST_F(BundleExchange, ATamperedBundleAppliesNothing) {
  AddStudents(unit_, "unit-0001", 0, 25);
  ASSERT_TRUE(Export("f.usbn"));
  std::string bytes;
  {
    std::ifstream in(File("f.usbn"), std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  bytes[bytes.size() - 5] ^= 0x01;  // inside the last push's tag
  std::ofstream(File("bad.usbn"), std::ios::binary) << bytes;

  auto r = Import("bad.usbn", "r.usbn");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kCorrupt);
  EXPECT_EQ(CentralCursor().received_seq, 0) << "not even the pushes before it";
  EXPECT_EQ(Query(*central_, "SELECT count(*) FROM student"), "0");
  EXPECT_FALSE(Exists(File("r.usbn")));
}

TEST_F(BundleExchange, BundlesForAnotherNodeAreRefused) {
  store::Replica other = MakeReplica(dir_, "unit-0002", store::Role::kUnit);
  AddStudents(unit_, "unit-0001", 0, 3);
  ASSERT_TRUE(Export("f.usbn"));
  ASSERT_TRUE(Import("f.usbn", "r.usbn"));

  // unit-0001's reply at unit-0002.
  auto reply = ImportReply(other, other_keys_, "central", File("r.usbn"));
  ASSERT_FALSE(reply);
  EXPECT_EQ(reply.error().code, Errc::kWrongNode);
  // unit-0001's pushes at unit-0002 (they are for central).
  auto pushes = ImportReply(other, other_keys_, "central", File("f.usbn"));
  ASSERT_FALSE(pushes);
  EXPECT_EQ(pushes.error().code, Errc::kWrongNode);
  // A central with another node id.
  store::Replica central_b = MakeReplica(dir_, "central-b", store::Role::kCentral);
  auto at_b = ImportPushes(central_b, central_keys_, File("f.usbn"), File("rb.usbn"), kNow);
  ASSERT_FALSE(at_b);
  EXPECT_EQ(at_b.error().code, Errc::kWrongNode);
  EXPECT_EQ(Query(other, "SELECT count(*) FROM student"), "0");
  EXPECT_EQ(Query(central_b, "SELECT count(*) FROM student"), "0");
}

// An old reply imported after a newer one would take central for restored and renumber
// the unit's pushes under seqs central already holds: refused, nothing changes.
TEST_F(BundleExchange, AnOlderReplyIsRefused) {
  AddStudents(unit_, "unit-0001", 0, 5);
  RoundTrip("a");
  AddStudents(unit_, "unit-0001", 5, 10);
  RoundTrip("b");
  const auto outbox = Outbox();
  auto old = ImportAtUnit("a-reply.usbn");
  ASSERT_FALSE(old);
  EXPECT_EQ(old.error().code, Errc::kAlreadyExists);
  EXPECT_NE(old.error().message.find("older reply"), std::string::npos) << old.error().message;
  EXPECT_EQ(Outbox().acked_seq, outbox.acked_seq);
  EXPECT_EQ(Outbox().built_seq, outbox.built_seq);
}

TEST_F(BundleExchange, AnEmptyExportStillBringsCentralsChanges) {
  AddStudents(*central_, "unit-0001", 0, 3);
  auto exported = Export("f.usbn");
  ASSERT_TRUE(exported);
  EXPECT_TRUE(exported->bundle.manifest.records.empty());
  auto imported = Import("f.usbn", "r.usbn");
  ASSERT_TRUE(imported) << imported.error().ToString();
  EXPECT_EQ(imported->pushes, 0u);
  EXPECT_EQ(imported->reply.rows, 3u);
  auto replied = ImportAtUnit("r.usbn");
  ASSERT_TRUE(replied) << replied.error().ToString();
  EXPECT_EQ(Query(unit_, "SELECT count(*) FROM student"), "3");
  EXPECT_TRUE(Converged());
}

// Central restored from a copy taken before it imported the unit's first bundle: the
// unit's next bundle does not follow what central has. Nothing is applied; the reply
// (new generation, applied 0) makes the unit re-queue its state, and the bundle after
// that fills central in.
TEST_F(BundleExchange, ACentralRestoredFromAnOlderCopyIsFilledIn) {
  AddStudents(unit_, "unit-0001", 0, 10);
  ASSERT_TRUE(store::CopyDatabase(File("central.db"), File("central-old.db")));
  RoundTrip("a");
  central_.reset();
  central_ = ValueOrDie(store::Replica::Open(File("central-old.db")));
  ASSERT_TRUE(store::NewGeneration(*central_));

  AddStudents(unit_, "unit-0001", 10, 15);
  ASSERT_TRUE(Export("b.usbn"));
  auto gap = Import("b.usbn", "b-reply.usbn");
  ASSERT_FALSE(gap);
  EXPECT_EQ(gap.error().code, Errc::kRejected);
  EXPECT_EQ(Query(*central_, "SELECT count(*) FROM student"), "0") << "nothing applied";
  ASSERT_TRUE(Exists(File("b-reply.usbn"))) << "the reply that makes the unit resend";

  auto resync = ImportAtUnit("b-reply.usbn");
  ASSERT_TRUE(resync) << resync.error().ToString();
  EXPECT_TRUE(resync->resynced);
  EXPECT_EQ(resync->acked_after, 0u);

  RoundTrip("c");
  EXPECT_EQ(Query(*central_, "SELECT count(*) FROM student"), "15");
  EXPECT_TRUE(Converged());
  EXPECT_EQ(Outbox().pending, 0);
}

TEST_F(BundleExchange, AReplyFileThatExistsStopsTheImportBeforeItApplies) {
  AddStudents(unit_, "unit-0001", 0, 3);
  ASSERT_TRUE(Export("f.usbn"));
  std::ofstream(File("r.usbn")) << "someone else's";
  auto r = Import("f.usbn", "r.usbn");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kAlreadyExists);
  EXPECT_EQ(CentralCursor().received_seq, 0);
}

}  // namespace
}  // namespace unitsync::daemon
