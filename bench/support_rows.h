// Deterministic support_action rows for the benchmarks: realistic Swedish
// free text (about 300 bytes of description, with å ä ö), UUIDv7 ids, and
// the students and cases they hang off. The same seed always gives the same
// rows, so every run and every baseline works on identical data.
#pragma once

#include <cstdint>
#include <cstdio>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "common/uuid.h"

namespace unitsync::bench {

struct SupportActionRow {
  std::string id;
  std::string unit_id;
  std::string case_id;
  std::string action_type;
  std::string description;
  std::string responsible;
  std::string provider;
  std::string start_on;
  std::string end_on;  // Empty: NULL.
  std::string status;
};

// Parents (student -> support_case) plus the actions that reference them.
struct SupportData {
  std::string unit_id;
  std::vector<std::string> student_ids;
  std::vector<std::string> case_ids;  // case_ids[i] belongs to student_ids[i].
  std::vector<SupportActionRow> actions;
};

namespace detail {

template <size_t N>
const char* Pick(std::mt19937_64& rng, const char* const (&list)[N]) {
  return list[rng() % N];
}

inline constexpr const char* kOpenings[] = {
    "Extra anpassning:",         "Särskilt stöd:",
    "Elevhälsoteamet föreslår:", "Efter samtal med vårdnadshavare:",
    "Mentor noterar:",           "Enligt åtgärdsprogrammet:",
};
inline constexpr const char* kMeasures[] = {
    "eleven får förlängd skrivtid vid prov",
    "eleven får sitta i ett mindre grupprum",
    "eleven får tillgång till inläsningstjänst",
    "eleven får stöd av speciallärare två gånger i veckan",
    "eleven får tydliga instruktioner i förväg",
    "eleven får använda talsyntes och rättstavningsprogram",
    "eleven får anpassade läxor i matematik",
    "eleven får bildstöd och ett strukturerat schema",
};
inline constexpr const char* kSupports[] = {
    "stöd i läsförståelse",
    "hjälp att komma igång med uppgifter",
    "regelbundna avstämningar med mentor",
    "möjlighet till pauser under lektionerna",
    "förberedelse inför övergångar och förändringar",
    "en anpassad uppföljning av frånvaron",
};
inline constexpr const char* kFollowups[] = {
    "Åtgärden utvärderas vid nästa elevhälsomöte.",
    "Vårdnadshavare är informerade och delaktiga.",
    "Ansvarig lärare följer upp efter tre veckor.",
    "Målet är att eleven ska nå kunskapskraven i svenska.",
    "Närvaron har förbättrats sedan förra uppföljningen.",
    "Specialpedagogen gör en pedagogisk kartläggning under hösten.",
    "Eleven upplever att det fungerar bättre i mindre grupp.",
    "Skolsköterskan har träffat eleven angående sömn och ork.",
};
inline constexpr const char* kTitles[] = {"Mentor",  "Specialpedagog", "Speciallärare",
                                          "Kurator", "Skolsköterska",  "Klasslärare"};
inline constexpr const char* kFirstNames[] = {"Åsa",  "Björn", "Märta", "Göran",
                                              "Lena", "Östen", "Sofia", "Håkan"};
inline constexpr const char* kLastNames[] = {"Lindqvist", "Öberg",   "Åkesson",  "Nyström",
                                             "Bäckström", "Sjögren", "Karlsson", "Håkansson"};
inline constexpr const char* kActionTypes[] = {"EA-SKRIVTID",   "EA-LASHJALP", "EA-GRUPPRUM",
                                               "SS-SPECLARARE", "EHT-KURATOR", "MENTOR-SAMTAL",
                                               "FRANVARO-UPPF"};
inline constexpr const char* kProviders[] = {"unit", "unit", "unit", "central_resurs"};
inline constexpr const char* kStatuses[] = {"planerad", "pagaende", "avslutad", "avbruten"};

// About `target` bytes (UTF-8) of note text, cut at a sentence end.
inline std::string Description(std::mt19937_64& rng, size_t target) {
  std::string s = std::string(Pick(rng, kOpenings)) + " " + Pick(rng, kMeasures) + " och " +
                  Pick(rng, kSupports) + ".";
  while (s.size() < target) s += std::string(" ") + Pick(rng, kFollowups);
  return s;
}

inline std::string Date(std::mt19937_64& rng, int year) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02d", year, static_cast<int>(1 + rng() % 12),
                static_cast<int>(1 + rng() % 28));
  return buf;
}

}  // namespace detail

// `n` actions spread over `cases` cases of unit `unit_id`. Ids are UUIDv7
// minted from `first_ms` on, a few per millisecond, like a busy unit.
inline SupportData MakeSupportData(size_t n, size_t cases, const std::string& unit_id,
                                   int64_t first_ms, uint64_t seed) {
  SupportData d;
  d.unit_id = unit_id;
  UuidV7Generator ids(seed);
  for (size_t i = 0; i < cases; ++i) {
    d.student_ids.push_back(ids.Next(first_ms));
    d.case_ids.push_back(ids.Next(first_ms));
  }
  std::mt19937_64 rng(seed);
  d.actions.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    SupportActionRow r;
    r.id = ids.Next(first_ms + static_cast<int64_t>(i / 4));
    r.unit_id = unit_id;
    r.case_id = d.case_ids[rng() % cases];
    r.action_type = detail::Pick(rng, detail::kActionTypes);
    r.description = detail::Description(rng, 260 + rng() % 80);
    r.responsible = std::string(detail::Pick(rng, detail::kTitles)) + " " +
                    detail::Pick(rng, detail::kFirstNames) + " " +
                    detail::Pick(rng, detail::kLastNames);
    r.provider = detail::Pick(rng, detail::kProviders);
    r.start_on = detail::Date(rng, 2026);
    if (rng() % 2 == 0) r.end_on = detail::Date(rng, 2027);
    r.status = detail::Pick(rng, detail::kStatuses);
    d.actions.push_back(std::move(r));
  }
  return d;
}

// A concurrent edit of every row in `d`: same ids, owner and case, every
// other column rewritten with values drawn from `seed`.
inline SupportData ConcurrentEdit(const SupportData& d, uint64_t seed) {
  SupportData out = d;
  std::mt19937_64 rng(seed);
  for (SupportActionRow& r : out.actions) {
    r.action_type = detail::Pick(rng, detail::kActionTypes);
    r.description = "Ändrat centralt. " + detail::Description(rng, 240 + rng() % 80);
    r.responsible = std::string("Centrala resursteamet, ") + detail::Pick(rng, detail::kFirstNames);
    r.provider = r.provider == "unit" ? "central_resurs" : "unit";
    r.start_on = detail::Date(rng, 2025);
    r.end_on = detail::Date(rng, 2028);
    r.status = r.status == "pagaende" ? "avslutad" : "pagaende";
  }
  return out;
}

}  // namespace unitsync::bench
