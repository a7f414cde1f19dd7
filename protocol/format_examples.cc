#include "protocol/format_examples.h"

#include <openssl/evp.h>

#include <utility>

namespace unitsync::protocol::testing {
namespace {

// SHA-256 of `text`: stands in for a table digest in the DIGESTS example.
Bytes ExampleSha256(std::string_view text) {
  Bytes md(EVP_MAX_MD_SIZE);
  unsigned int n = 0;
  EVP_Digest(text.data(), text.size(), md.data(), &n, EVP_sha256(), nullptr);
  md.resize(n);
  return md;
}

}  // namespace

Bytes ExampleUnitSecret() {
  Bytes secret(kUnitSecretSize);
  for (size_t i = 0; i < secret.size(); ++i) secret[i] = static_cast<uint8_t>(i);
  return secret;
}

Status CountingNonces::Fill(std::span<uint8_t, kNonceSize> nonce) {
  for (size_t i = 0; i < nonce.size(); ++i) nonce[i] = static_cast<uint8_t>(next_ + i);
  next_ = static_cast<uint8_t>(next_ + 0x10);
  return {};
}

EnvelopeHeader ExampleEnvelopeHeader() {
  return EnvelopeHeader{1, EnvelopeKind::kPush, "unit-0042", "central", 16, 16, ""};
}

Bytes ExampleEnvelopePlaintext() {
  const std::string_view text = "TEST changeset bytes";
  return Bytes(text.begin(), text.end());
}

std::vector<FrameExample> FrameExamples() {
  const ChangesetKey key = *DeriveChangesetKey(ExampleUnitSecret(), kExampleKeyId);
  CountingNonces nonces;
  const auto seal = [&](const EnvelopeHeader& header, std::string_view plaintext) {
    return *SealChangeset(key, header, Bytes(plaintext.begin(), plaintext.end()), nonces);
  };
  const Bytes push_env = seal(ExampleEnvelopeHeader(), "TEST changeset bytes");
  const Bytes changes_env = seal(
      EnvelopeHeader{1, EnvelopeKind::kChanges, "central", "unit-0042", 1094, 1100, "g-20260301"},
      "TEST fan-out");
  const Bytes chunk_env =
      seal(EnvelopeHeader{1, EnvelopeKind::kSnapshot, "central", "unit-0042", 0, 0, "snap-7"},
           "TEST chunk 0");

  std::vector<FrameExample> examples;
  const auto add = [&](std::string label, std::string notation, Message m) {
    examples.push_back(FrameExample{std::move(label), std::move(notation), std::move(m)});
  };
  add("HELLO",
      R"({"t":1,"v":1,"min":1,"max":1,"node":"unit-0042","push":17,"pull":1093,"gen":"g-20260301","seed":[]})",
      Hello{1, 1, "unit-0042", 17, 1093, "g-20260301", std::nullopt});
  add("HELLO-seed",
      R"({"t":1,"v":1,"min":1,"max":1,"node":"unit-0042","push":0,"pull":0,"gen":"","seed":["snap-7",3,"student","0190f5c2"]})",
      Hello{1, 1, "unit-0042", 0, 0, "", SeedRequest{"snap-7", 3, "student", "0190f5c2"}});
  add("WELCOME",
      R"({"t":2,"v":1,"ver":1,"node":"central","gen":"g-20260301","applied":15,"head":1100})",
      Welcome{1, "central", "g-20260301", 15, 1100});
  add("PUSH", R"({"t":3,"v":1,"seq":16,"env":<53-byte envelope from the envelope example>})",
      Push{16, push_env});
  add("ACK", R"({"t":4,"v":1,"of":1,"seq":16})", Ack{AckOf::kPush, 16});
  add("ACK-changes", R"({"t":4,"v":1,"of":2,"seq":1100})", Ack{AckOf::kChanges, 1100});
  add("NACK",
      R"({"t":5,"v":1,"of":1,"seq":17,"code":3,"reason":"1 row rejected","rows":[["support_action","0190f5c2-7b1e-7c3d-8a4f-2b6c1d9e0f11",1]]})",
      Nack{AckOf::kPush,
           17,
           NackCode::kPartial,
           "1 row rejected",
           {{"support_action", "0190f5c2-7b1e-7c3d-8a4f-2b6c1d9e0f11", 1}}});
  add("CHANGES",
      R"({"t":6,"v":1,"from":1094,"to":1100,"env":<envelope: kind 2, central -> unit-0042, seq 1094..1100, stream "g-20260301", nonce 101112..1b, plaintext "TEST fan-out">})",
      Changes{1094, 1100, changes_env});
  add("SNAPSHOT_BEGIN", R"({"t":7,"v":1,"snap":"snap-7","head":1100,"rows":1500})",
      SnapshotBegin{"snap-7", 1100, 1500});
  add("SNAPSHOT_CHUNK",
      R"({"t":8,"v":1,"snap":"snap-7","i":0,"env":<envelope: kind 3, central -> unit-0042, seq 0..0, stream "snap-7", nonce 202122..2b, plaintext "TEST chunk 0">})",
      SnapshotChunk{"snap-7", 0, chunk_env});
  add("ACK-snapshot", R"({"t":4,"v":1,"of":3,"seq":0})", Ack{AckOf::kSnapshot, 0});
  add("SNAPSHOT_END", R"({"t":9,"v":1,"snap":"snap-7","chunks":2,"rows":1500})",
      SnapshotEnd{"snap-7", 2, 1500});
  add("PING", R"({"t":10,"v":1,"nonce":1234605616436508552})", Ping{0x1122334455667788});
  add("PONG", R"({"t":11,"v":1,"nonce":1234605616436508552})", Pong{0x1122334455667788});
  add("ERROR", R"({"t":12,"v":1,"code":2,"msg":"no common protocol version"})",
      ErrorMessage{ErrorCode::kUnsupportedVersion, "no common protocol version"});
  add("VERIFY", R"({"t":13,"v":1,"id":7})", Verify{7});
  // Central's answer for unit-0042; the hashes are SHA-256 of the ASCII bytes "student",
  // "decision" and "unit" (real ones cover the table's rows, store/FORMAT.md).
  add("DIGESTS",
      R"({"t":14,"v":1,"id":7,"push":17,"pull":1093,"head":1100,"waiting":0,"error":"","tables":[["unit",3,0,<32 bytes>],["student",250,2,<32 bytes>],["decision",41,0,<32 bytes>]]})",
      Digests{7,
              {17, 1093, 1100, 0},
              "",
              {{"unit", 3, 0, ExampleSha256("unit")},
               {"student", 250, 2, ExampleSha256("student")},
               {"decision", 41, 0, ExampleSha256("decision")}}});
  add("DIGESTS-error",
      R"({"t":14,"v":1,"id":8,"push":0,"pull":0,"head":0,"waiting":0,"error":"could not compute digests: database is locked","tables":[]})",
      Digests{8, {}, "could not compute digests: database is locked", {}});
  return examples;
}

}  // namespace unitsync::protocol::testing
