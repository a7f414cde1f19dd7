#include "protocol/verify.h"

#include <map>

namespace unitsync::protocol {
namespace {

DigestSide SideOf(const TableDigest& t) { return {t.rows, t.tombstones, HexOf(t.sha256)}; }

std::string Plural(uint64_t n, const char* one, const char* many) {
  return std::to_string(n) + " " + (n == 1 ? one : many);
}

// Why the two positions do not describe a settled sync; empty when they do.
std::string InFlight(const VerifyPosition& unit, const VerifyPosition& central,
                     uint64_t pushes_in_flight) {
  std::vector<std::string> why;
  if (unit.waiting > 0) {
    why.push_back(Plural(unit.waiting, "row", "rows") + " written at the unit not yet pushed");
  }
  if (pushes_in_flight > 0) {
    why.push_back(Plural(pushes_in_flight, "push", "pushes") +
                  " built at the unit not yet applied at central");
  } else if (central.push > unit.push) {
    why.push_back("central has applied push " + std::to_string(central.push) +
                  " but the unit has built only " + std::to_string(unit.push) +
                  " (the unit was restored or re-seeded; it resyncs on its next connection)");
  }
  if (central.waiting > 0) {
    why.push_back(Plural(central.waiting, "row", "rows") +
                  " at central not yet acknowledged by the unit");
  }
  if (unit.pull < central.pull) {
    why.push_back("the unit has applied central's log up to " + std::to_string(unit.pull) +
                  " but central recorded an acknowledgement up to " + std::to_string(central.pull));
  } else if (unit.pull > central.head) {
    why.push_back("the unit has applied central's log up to " + std::to_string(unit.pull) +
                  ", beyond central's head " + std::to_string(central.head) +
                  " (central changed after computing its digests, or was restored)");
  }
  std::string out;
  for (const std::string& w : why) out += (out.empty() ? "" : "; ") + w;
  return out;
}

}  // namespace

size_t VerifyReport::differing() const {
  size_t n = 0;
  for (const TableVerdict& t : tables) n += t.equal ? 0 : 1;
  return n;
}

std::string VerifyReport::Summary() const {
  std::string out;
  const size_t differ = differing();
  if (differ == 0) {
    out = "all " + std::to_string(tables.size()) + " tables equal";
  } else {
    out = std::to_string(differ) + " of " + std::to_string(tables.size()) + " tables differ (";
    bool first = true;
    for (const TableVerdict& t : tables) {
      if (t.equal) continue;
      out += (first ? "" : ", ") + t.table;
      first = false;
    }
    out += ")";
  }
  if (settled) return out + ", sync settled";
  return out + " while sync was in flight: " + in_flight;
}

VerifyReport CompareDigests(const std::string& unit, const VerifyPosition& unit_position,
                            const std::vector<TableDigest>& unit_tables,
                            const VerifyPosition& central_position,
                            const std::vector<TableDigest>& central_tables) {
  VerifyReport report;
  report.unit = unit;
  report.unit_position = unit_position;
  report.central_position = central_position;

  std::map<std::string, const TableDigest*> at_unit;
  for (const TableDigest& t : unit_tables) at_unit.emplace(t.table, &t);
  for (const TableDigest& c : central_tables) {
    TableVerdict v;
    v.table = c.table;
    v.central = SideOf(c);
    if (auto it = at_unit.find(c.table); it != at_unit.end()) {
      v.unit = SideOf(*it->second);
      v.equal = *v.unit == *v.central;
      at_unit.erase(it);
    }
    report.tables.push_back(std::move(v));
  }
  for (const TableDigest& u : unit_tables) {
    if (!at_unit.count(u.table)) continue;  // compared above
    TableVerdict v;
    v.table = u.table;
    v.unit = SideOf(u);
    report.tables.push_back(std::move(v));
  }

  report.pushes_in_flight =
      unit_position.push > central_position.push ? unit_position.push - central_position.push : 0;
  report.in_flight = InFlight(unit_position, central_position, report.pushes_in_flight);
  report.settled = report.in_flight.empty();
  return report;
}

std::string HexOf(ByteView bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (uint8_t b : bytes) {
    out.push_back(kDigits[b >> 4]);
    out.push_back(kDigits[b & 15]);
  }
  return out;
}

std::optional<Bytes> BytesOfHex(std::string_view hex) {
  if (hex.size() % 2 != 0) return std::nullopt;
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  Bytes out(hex.size() / 2);
  for (size_t i = 0; i < out.size(); ++i) {
    const int hi = nibble(hex[2 * i]);
    const int lo = nibble(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return out;
}

}  // namespace unitsync::protocol
