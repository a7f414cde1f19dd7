#include "store/backup.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <atomic>
#include <fstream>
#include <thread>

#include "store/change_log.h"
#include "store/test_util.h"

namespace unitsync::store {
namespace {

using testing::TempDir;

void AddStudents(Replica& r, int from, int to) {
  for (int i = from; i < to; ++i) {
    testing::Exec(r, "INSERT INTO student(id, unit_id, pseudo_id) VALUES ('s" + std::to_string(i) +
                         "', 'unit-1', 'p" + std::to_string(i) + "')");
  }
}

TEST(CopyDatabase, CopiesTheReplicaIntoAPrivateStandaloneFile) {
  TempDir dir;
  Replica r = testing::MakeReplica(dir, "unit-1", Role::kUnit);
  AddStudents(r, 0, 50);
  const auto digests = testing::Digests(r);  // stamps the captured changes first
  const std::string copy = dir.File("copy.db");
  int64_t last_done = -1, total = 0;
  CopyOptions options;
  options.pages_per_step = 1;
  options.on_progress = [&](const CopyProgress& p) {
    EXPECT_GE(p.pages_done, last_done);
    last_done = p.pages_done;
    total = p.pages_total;
  };
  US_ASSERT_OK(CopyDatabase(r.path(), copy, options));
  EXPECT_GT(total, 1);
  EXPECT_EQ(last_done, total);

  struct stat st {};
  ASSERT_EQ(::stat(copy.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_NE(::stat((copy + "-wal").c_str(), &st), 0) << "the copy stands alone";
  US_ASSERT_OK(CheckIntegrity(copy));
  {
    std::ifstream f(copy, std::ios::binary);
    char header[20];
    f.read(header, sizeof header);
    EXPECT_EQ(header[18], 1) << "rollback journal, not WAL: the file stands alone";
    EXPECT_EQ(header[19], 1);
  }

  Replica restored = testing::ValueOrDie(Replica::Open(copy), "open copy");
  EXPECT_EQ(restored.node_id(), "unit-1");
  EXPECT_EQ(testing::Digests(restored), digests);
}

TEST(CopyDatabase, NeverOverwritesAFile) {
  TempDir dir;
  Replica r = testing::MakeReplica(dir, "unit-1", Role::kUnit);
  const std::string copy = dir.File("copy.db");
  std::ofstream(copy) << "keep me";
  auto st = CopyDatabase(r.path(), copy);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, Errc::kAlreadyExists);
  std::ifstream in(copy);
  std::string text;
  std::getline(in, text);
  EXPECT_EQ(text, "keep me");
}

TEST(CopyDatabase, MissingSourceLeavesNoCopyBehind) {
  TempDir dir;
  const std::string copy = dir.File("copy.db");
  auto st = CopyDatabase(dir.File("nothing.db"), copy);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, Errc::kNotFound);
  struct stat sb {};
  EXPECT_NE(::stat(copy.c_str(), &sb), 0);
}

TEST(CopyDatabase, ADestinationThatCannotBeCreatedIsKIoNamingThePath) {
  TempDir dir;
  Replica r = testing::MakeReplica(dir, "unit-1", Role::kUnit);
  const std::string copy = dir.File("no-such-dir/copy.db");
  auto st = CopyDatabase(r.path(), copy);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, Errc::kIo) << st.error().ToString();
  EXPECT_NE(st.error().message.find("create " + copy), std::string::npos) << st.error().message;
  struct stat sb {};
  EXPECT_NE(::stat(copy.c_str(), &sb), 0);
}

// Rows are written one transaction each, in order, by another connection while the
// copy runs one page per step: a consistent copy holds exactly a prefix of them.
TEST(CopyDatabase, IsOneInstantWhileAnotherConnectionWrites) {
  TempDir dir;
  const std::string path = dir.File("unit-1.db");
  {
    Replica r = testing::MakeReplica(dir, "unit-1", Role::kUnit);
    AddStudents(r, 0, 400);  // enough pages for a copy that takes many steps
  }
  std::atomic<bool> stop{false};
  std::atomic<int> written{400};
  std::thread writer([&] {
    Replica w = testing::ValueOrDie(Replica::Open(path), "open writer");
    for (int i = 400; !stop && i < 100'000; ++i) {
      AddStudents(w, i, i + 1);
      written = i + 1;
    }
  });
  while (written < 420) std::this_thread::yield();
  CopyOptions options;
  options.pages_per_step = 1;
  const std::string copy = dir.File("copy.db");
  const Status copied = CopyDatabase(path, copy, options);
  stop = true;
  writer.join();
  US_ASSERT_OK(copied);
  US_ASSERT_OK(CheckIntegrity(copy));

  Replica c = testing::ValueOrDie(Replica::Open(copy), "open copy");
  const int rows = std::stoi(testing::Query(c, "SELECT count(*) FROM student"));
  EXPECT_GE(rows, 420);
  for (int i = 0; i < rows; ++i) {
    ASSERT_EQ(
        testing::Query(c, "SELECT count(*) FROM student WHERE id = 's" + std::to_string(i) + "'"),
        "1")
        << "row " << i << " of " << rows << " missing: the copy mixes two instants";
  }
  EXPECT_EQ(testing::Query(c, "SELECT count(*) FROM _us_changes"), std::to_string(rows))
      << "the change log and the rows are from the same instant";
}

// Writes captured by another connection and not yet stamped when the backup starts are
// stamped by the pin, so the copy carries the very versions the live replica syncs. A
// copy holding them unstamped would stamp them again, differently, once restored.
TEST(PinStampedSnapshot, LeavesNothingUnstampedInTheCopy) {
  TempDir dir;
  Replica r = testing::MakeReplica(dir, "unit-1", Role::kUnit);
  AddStudents(r, 0, 50);
  US_ASSERT_OK(StampPendingChangesNow(r));
  {
    Replica app = testing::ValueOrDie(Replica::Open(r.path()), "open app");
    AddStudents(app, 50, 60);
    testing::Exec(app, "UPDATE student SET grade = '9' WHERE id = 's3'");
    testing::Exec(app, "DELETE FROM student WHERE id = 's4'");
  }
  ASSERT_TRUE(testing::ValueOrDie(HasUnstampedChanges(r.db()), "pending"));

  auto pin = PinStampedSnapshot(r);
  ASSERT_TRUE(pin) << pin.error().ToString();
  EXPECT_FALSE(testing::ValueOrDie(HasUnstampedChanges(r.db()), "pending"));
  const std::string copy = dir.File("copy.db");
  US_ASSERT_OK(CopySnapshot(std::move(*pin), copy));

  Replica c = testing::ValueOrDie(Replica::Open(copy), "open copy");
  EXPECT_FALSE(testing::ValueOrDie(HasUnstampedChanges(c.db()), "pending in copy"));
  EXPECT_EQ(testing::Digests(c), testing::Digests(r)) << "same rows, same versions";
}

// An application writing without pause: the pin lands between two of its commits with
// every capture before it stamped, and the copy is that instant.
TEST(PinStampedSnapshot, PinsAnInstantWhileAnApplicationKeepsWriting) {
  TempDir dir;
  Replica r = testing::MakeReplica(dir, "unit-1", Role::kUnit);
  AddStudents(r, 0, 10);
  std::atomic<bool> stop{false};
  std::atomic<int> written{10};
  std::thread app([&] {
    Replica w = testing::ValueOrDie(Replica::Open(r.path()), "open app");
    for (int i = 10; !stop && i < 100'000; ++i) {
      AddStudents(w, i, i + 1);
      written = i + 1;
    }
  });
  while (written < 100) std::this_thread::yield();
  auto pin = PinStampedSnapshot(r);
  const std::string copy = dir.File("copy.db");
  const Status copied =
      pin ? CopySnapshot(std::move(*pin), copy) : Status(tl::unexpected(pin.error()));
  stop = true;
  app.join();
  US_ASSERT_OK(copied);
  Replica c = testing::ValueOrDie(Replica::Open(copy), "open copy");
  EXPECT_FALSE(testing::ValueOrDie(HasUnstampedChanges(c.db()), "pending in copy"));
  EXPECT_GE(std::stoi(testing::Query(c, "SELECT count(*) FROM student")), 100);
}

TEST(PinStampedSnapshot, GivesUpWhenStampingNeverCatchesUp) {
  TempDir dir;
  Replica r = testing::MakeReplica(dir, "unit-1", Role::kUnit);
  AddStudents(r, 0, 1);
  int rounds = 0;
  auto pin = PinStampedSnapshot(r.db(), r.path(), [&] {
    ++rounds;
    return Status{};  // a stamper that never stamps: captures stay pending
  });
  ASSERT_FALSE(pin);
  EXPECT_EQ(pin.error().code, Errc::kBusy);
  EXPECT_EQ(rounds, 16);
}

TEST(CheckIntegrity, NamesADamagedFile) {
  TempDir dir;
  std::string path;
  {
    Replica r = testing::MakeReplica(dir, "unit-1", Role::kUnit);
    AddStudents(r, 0, 300);
    testing::Exec(r, "PRAGMA wal_checkpoint(TRUNCATE)");
    path = r.path();
  }
  US_ASSERT_OK(CheckIntegrity(path));
  // Scribble over the middle of the file: b-tree pages, not the header.
  {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(0, std::ios::end);
    const auto size = static_cast<long>(f.tellg());
    ASSERT_GT(size, 8 * 4096);
    for (long off = 2 * 4096; off < size - 4096; off += 4096) {
      f.seekp(off + 100);
      f.write("\xff\xfe\xfd\xfc\xfb\xfa\xf9\xf8", 8);
    }
  }
  auto st = CheckIntegrity(path);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, Errc::kCorrupt);
  EXPECT_NE(st.error().message.find("integrity"), std::string::npos);
}

TEST(CheckIntegrity, RefusesWhatIsNotADatabase) {
  TempDir dir;
  const std::string path = dir.File("notes.txt");
  std::ofstream(path) << std::string(8192, 'x');
  auto st = CheckIntegrity(path);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, Errc::kNotAReplica);
  auto missing = CheckIntegrity(dir.File("nothing.db"));
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, Errc::kNotFound);
}

}  // namespace
}  // namespace unitsync::store
