// The keys of each message after "t" and "v", in encoding order (FORMAT.md section 2).
// Internal to protocol/: shared by the encoder and the strict decoder so they cannot
// disagree on a message's key set.
#pragma once

#include <array>
#include <string_view>

#include "protocol/message.h"

namespace unitsync::protocol {

template <typename T>
struct Schema;
template <>
struct Schema<Hello> {
  static constexpr std::array<std::string_view, 7> kKeys{"min",  "max", "node", "push",
                                                         "pull", "gen", "seed"};
};
template <>
struct Schema<Welcome> {
  static constexpr std::array<std::string_view, 5> kKeys{"ver", "node", "gen", "applied", "head"};
};
template <>
struct Schema<Push> {
  static constexpr std::array<std::string_view, 2> kKeys{"seq", "env"};
};
template <>
struct Schema<Ack> {
  static constexpr std::array<std::string_view, 2> kKeys{"of", "seq"};
};
template <>
struct Schema<Nack> {
  static constexpr std::array<std::string_view, 5> kKeys{"of", "seq", "code", "reason", "rows"};
};
template <>
struct Schema<Changes> {
  static constexpr std::array<std::string_view, 3> kKeys{"from", "to", "env"};
};
template <>
struct Schema<SnapshotBegin> {
  static constexpr std::array<std::string_view, 3> kKeys{"snap", "head", "rows"};
};
template <>
struct Schema<SnapshotChunk> {
  static constexpr std::array<std::string_view, 3> kKeys{"snap", "i", "env"};
};
template <>
struct Schema<SnapshotEnd> {
  static constexpr std::array<std::string_view, 3> kKeys{"snap", "chunks", "rows"};
};
template <>
struct Schema<Ping> {
  static constexpr std::array<std::string_view, 1> kKeys{"nonce"};
};
template <>
struct Schema<Pong> {
  static constexpr std::array<std::string_view, 1> kKeys{"nonce"};
};
template <>
struct Schema<ErrorMessage> {
  static constexpr std::array<std::string_view, 2> kKeys{"code", "msg"};
};
template <>
struct Schema<Verify> {
  static constexpr std::array<std::string_view, 1> kKeys{"id"};
};
template <>
struct Schema<Digests> {
  static constexpr std::array<std::string_view, 7> kKeys{"id",      "push",  "pull",  "head",
                                                         "waiting", "error", "tables"};
};

}  // namespace unitsync::protocol
