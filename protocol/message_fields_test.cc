// The codec carries every field of every message: a message that differs from another in
// exactly one field decodes to itself, not to the other. (A field the encoder forgot or
// the decoder left at its default would decode equal to the unchanged message.) Random
// round trips (message_codec_test.cc) only ever compare equal messages.
#include <gtest/gtest.h>

#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "protocol/limits.h"
#include "protocol/message_codec.h"

namespace unitsync::protocol {
namespace {

std::optional<Message> RoundTrip(const Message& m) {
  auto body = EncodeMessage(m);
  EXPECT_TRUE(body) << body.error().message;
  if (!body) return std::nullopt;
  auto decoded = DecodeMessage(*body);
  EXPECT_TRUE(decoded) << decoded.error().message;
  if (!decoded) return std::nullopt;
  return std::move(*decoded);
}

template <typename T>
using Change = std::pair<std::string, std::function<void(T&)>>;

// `base` round-trips; each change of one field round-trips to the changed message, which
// is not `base`.
template <typename T>
void ExpectEveryFieldCarried(const T& base, const std::vector<Change<T>>& changes) {
  const auto back = RoundTrip(base);
  ASSERT_TRUE(back.has_value());
  ASSERT_TRUE(std::holds_alternative<T>(*back));
  EXPECT_TRUE(std::get<T>(*back) == base);
  for (const auto& [field, change] : changes) {
    SCOPED_TRACE(std::string(MessageTypeName(TypeOf(base))) + "." + field);
    T changed = base;
    change(changed);
    const auto decoded = RoundTrip(changed);
    ASSERT_TRUE(decoded.has_value());
    ASSERT_TRUE(std::holds_alternative<T>(*decoded));
    const T& got = std::get<T>(*decoded);
    EXPECT_TRUE(got == changed) << "the changed field decodes as sent";
    EXPECT_FALSE(got == base) << "the change is not lost on the way";
  }
}

Bytes Envelope(uint8_t fill) { return Bytes(kEnvelopeOverhead + 3, fill); }

TEST(MessageFields, Hello) {
  const Hello base{1, 2, "unit-0001", 5, 7, "g-1", SeedRequest{"snap-1", 3, "student", "k-1"}};
  ExpectEveryFieldCarried<Hello>(
      base, {
                {"min_version", [](Hello& m) { m.min_version = 2; }},
                {"max_version", [](Hello& m) { m.max_version = 3; }},
                {"node_id", [](Hello& m) { m.node_id = "unit-0002"; }},
                {"push_seq", [](Hello& m) { m.push_seq = 6; }},
                {"pull_seq", [](Hello& m) { m.pull_seq = 8; }},
                {"central_generation", [](Hello& m) { m.central_generation = "g-2"; }},
                {"seed", [](Hello& m) { m.seed.reset(); }},
                {"seed.snapshot_id", [](Hello& m) { m.seed->snapshot_id = "snap-2"; }},
                {"seed.next_chunk", [](Hello& m) { m.seed->next_chunk = 4; }},
                {"seed.after_table", [](Hello& m) { m.seed->after_table = "grade"; }},
                {"seed.after_pk", [](Hello& m) { m.seed->after_pk = "k-2"; }},
            });
}

TEST(MessageFields, Welcome) {
  ExpectEveryFieldCarried<Welcome>(Welcome{1, "central", "g-1", 4, 9},
                                   {
                                       {"version", [](Welcome& m) { m.version = 2; }},
                                       {"node_id", [](Welcome& m) { m.node_id = "central-b"; }},
                                       {"generation", [](Welcome& m) { m.generation = "g-2"; }},
                                       {"applied_seq", [](Welcome& m) { m.applied_seq = 5; }},
                                       {"log_head", [](Welcome& m) { m.log_head = 10; }},
                                   });
}

TEST(MessageFields, PushAckAndChanges) {
  ExpectEveryFieldCarried<Push>(Push{3, Envelope(1)},
                                {
                                    {"seq", [](Push& m) { m.seq = 4; }},
                                    {"envelope", [](Push& m) { m.envelope = Envelope(2); }},
                                });
  ExpectEveryFieldCarried<Ack>(Ack{AckOf::kPush, 3},
                               {
                                   {"of", [](Ack& m) { m.of = AckOf::kChanges; }},
                                   {"seq", [](Ack& m) { m.seq = 4; }},
                               });
  ExpectEveryFieldCarried<Changes>(Changes{3, 5, Envelope(1)},
                                   {
                                       {"from_seq", [](Changes& m) { m.from_seq = 4; }},
                                       {"to_seq", [](Changes& m) { m.to_seq = 6; }},
                                       {"envelope", [](Changes& m) { m.envelope = Envelope(2); }},
                                   });
}

TEST(MessageFields, Nack) {
  const Nack base{AckOf::kPush, 3, NackCode::kPartial, "1 row refused", {{"student", "r-1", 2}}};
  ExpectEveryFieldCarried<Nack>(base,
                                {
                                    {"of", [](Nack& m) { m.of = AckOf::kChanges; }},
                                    {"seq", [](Nack& m) { m.seq = 4; }},
                                    {"code",
                                     [](Nack& m) {
                                       m.code = NackCode::kBusy;
                                       m.rows.clear();  // rows go only with partial
                                     }},
                                    {"reason", [](Nack& m) { m.reason = "2 rows refused"; }},
                                    {"rows",
                                     [](Nack& m) {
                                       m.rows.push_back({"grade", "r-2", 1});
                                     }},
                                    {"rows.table", [](Nack& m) { m.rows[0].table = "grade"; }},
                                    {"rows.id", [](Nack& m) { m.rows[0].id = "r-9"; }},
                                    {"rows.reason", [](Nack& m) { m.rows[0].reason = 3; }},
                                });
}

TEST(MessageFields, Snapshot) {
  ExpectEveryFieldCarried<SnapshotBegin>(
      SnapshotBegin{"snap-1", 50, 10},
      {
          {"snapshot_id", [](SnapshotBegin& m) { m.snapshot_id = "snap-2"; }},
          {"log_head", [](SnapshotBegin& m) { m.log_head = 51; }},
          {"rows", [](SnapshotBegin& m) { m.rows = 11; }},
      });
  ExpectEveryFieldCarried<SnapshotChunk>(
      SnapshotChunk{"snap-1", 2, Envelope(1)},
      {
          {"snapshot_id", [](SnapshotChunk& m) { m.snapshot_id = "snap-2"; }},
          {"index", [](SnapshotChunk& m) { m.index = 3; }},
          {"envelope", [](SnapshotChunk& m) { m.envelope = Envelope(2); }},
      });
  ExpectEveryFieldCarried<SnapshotEnd>(
      SnapshotEnd{"snap-1", 2, 10},
      {
          {"snapshot_id", [](SnapshotEnd& m) { m.snapshot_id = "snap-2"; }},
          {"chunk_count", [](SnapshotEnd& m) { m.chunk_count = 3; }},
          {"rows", [](SnapshotEnd& m) { m.rows = 11; }},
      });
}

TEST(MessageFields, LivenessErrorAndVerify) {
  ExpectEveryFieldCarried<Ping>(Ping{7}, {{"nonce", [](Ping& m) { m.nonce = 8; }}});
  ExpectEveryFieldCarried<Pong>(Pong{7}, {{"nonce", [](Pong& m) { m.nonce = 8; }}});
  ExpectEveryFieldCarried<ErrorMessage>(
      ErrorMessage{ErrorCode::kInternal, "failed"},
      {
          {"code", [](ErrorMessage& m) { m.code = ErrorCode::kOverloaded; }},
          {"message", [](ErrorMessage& m) { m.message = "overloaded"; }},
      });
  ExpectEveryFieldCarried<Verify>(Verify{7}, {{"id", [](Verify& m) { m.id = 8; }}});
}

TEST(MessageFields, Digests) {
  const Digests base{7, VerifyPosition{4, 30, 12, 1}, "", {{"student", 3, 1, Bytes(32, 0x11)}}};
  ExpectEveryFieldCarried<Digests>(
      base, {
                {"id", [](Digests& m) { m.id = 8; }},
                {"position.push", [](Digests& m) { m.position.push = 5; }},
                {"position.pull", [](Digests& m) { m.position.pull = 31; }},
                {"position.head", [](Digests& m) { m.position.head = 13; }},
                {"position.waiting", [](Digests& m) { m.position.waiting = 2; }},
                {"error",
                 [](Digests& m) {
                   m.error = "busy";
                   m.tables.clear();  // an answer without digests carries none
                 }},
                {"tables",
                 [](Digests& m) {
                   m.tables.push_back({"t2", 0, 0, Bytes(32, 0x22)});
                 }},
                {"tables.table", [](Digests& m) { m.tables[0].table = "grade"; }},
                {"tables.rows", [](Digests& m) { m.tables[0].rows = 4; }},
                {"tables.tombstones", [](Digests& m) { m.tables[0].tombstones = 2; }},
                {"tables.sha256", [](Digests& m) { m.tables[0].sha256 = Bytes(32, 0x12); }},
            });
}

}  // namespace
}  // namespace unitsync::protocol
