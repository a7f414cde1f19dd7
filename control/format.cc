#include "control/format.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>

namespace unitsync::control {

int64_t WallNowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string FormatTimeMs(int64_t unix_ms) {
  unix_ms = std::max<int64_t>(unix_ms, 0);
  const std::time_t secs = static_cast<std::time_t>(unix_ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(unix_ms % 1000));
  return buf;
}

nlohmann::json VersionJson(const store::Version& v) {
  return {{"hlc", v.hlc},
          {"wall_ms", store::HlcWallMs(v.hlc)},
          {"wall_time", FormatTimeMs(store::HlcWallMs(v.hlc))},
          {"counter", store::HlcCounter(v.hlc)},
          {"origin", v.origin}};
}

nlohmann::json ValueJson(const store::Value& v) {
  if (store::IsNull(v)) return nullptr;
  if (auto* i = std::get_if<int64_t>(&v)) return *i;
  if (auto* d = std::get_if<double>(&v)) return *d;
  if (auto* s = std::get_if<std::string>(&v)) return *s;
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  for (uint8_t b : std::get<store::Blob>(v)) {
    hex += kHex[b >> 4];
    hex += kHex[b & 0xf];
  }
  return {{"blob_hex", hex}};
}

}  // namespace unitsync::control
