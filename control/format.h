// JSON and time formatting shared by the daemon's control answers and unitsyncctl, so a
// document looks the same whether the daemon or the database answered it.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "store/hlc.h"
#include "store/value.h"

namespace unitsync::control {

// Wall-clock milliseconds since the epoch (what admins' tools show and compare).
int64_t WallNowMs();
// "2026-05-28T10:13:20.000Z" (UTC, milliseconds).
std::string FormatTimeMs(int64_t unix_ms);
// {"hlc": N, "wall_ms": N, "wall_time": "...", "counter": N, "origin": "..."}.
nlohmann::json VersionJson(const store::Version& v);
// A value as JSON: null, number, string, or {"blob_hex": "..."}.
nlohmann::json ValueJson(const store::Value& v);

}  // namespace unitsync::control
