// SPDX-License-Identifier: Apache-2.0
// Escaping, tolerant JSON access and number/time formatting for the HTML
// report. Every accessor accepts any JSON (wrong types, nulls, missing
// keys): a report from another version or a hand-edited file still renders.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sanwatch::html {

using Json = nlohmann::json;

// Text and attribute values: & < > " ' escaped, control characters dropped.
std::string escape(std::string_view s);

// j[key] when j is an object holding a non-null key, else nullptr.
const Json* field(const Json& j, std::string_view key);
// A string as is, a number or bool in JSON form, else fallback.
std::string text(const Json& j, std::string_view key, std::string_view fallback = "");
std::optional<double> number(const Json& j, std::string_view key);
std::optional<std::int64_t> integer(const Json& j, std::string_view key);
std::optional<bool> boolean(const Json& j, std::string_view key);
// The elements of j[key] when it is an array (else none).
std::vector<const Json*> elements(const Json& j, std::string_view key);
// The string elements of j[key] (numbers in JSON form).
std::vector<std::string> strings(const Json& j, std::string_view key);

// "14 h 02 min 17 s", "3 min 12 s", "8.2 s", "412 ms", "1 d 12 h 00 min 00 s".
std::string format_duration(double ms);
// 1234567 -> "1,234,567".
std::string group_thousands(std::int64_t v);
// A percentage with enough decimals to show how far it is from 100.
std::string format_percent(double percent);
std::string format_nines(double nines);

// The UTC offset (minutes) at the end of an ISO 8601 time ("+01:00", "Z").
std::optional<int> utc_offset_minutes(std::string_view iso);
// Unix ms as "2026-11-19 00:00:00 +01:00" at the given offset.
std::string format_instant(std::int64_t ms, int offset_min);
// "2026-11-04T09:36:00.123+01:00" -> "2026-11-04 09:36:00.123 +01:00".
std::string readable_iso(std::string_view iso);
// Unix ms as "Nov 08" at the given offset (axis labels).
std::string format_day(std::int64_t ms, int offset_min);

// The report period: what the timelines and availability are drawn against.
struct Period {
  std::int64_t from_ms = 0;
  std::int64_t to_ms = 0;
  int offset_min = 0;  // of `period.from`, used for times given only as ms
  bool valid() const { return to_ms > from_ms; }
  double length() const { return static_cast<double>(to_ms - from_ms); }
};
// From `period`; when absent, spanned by the targets' timelines.
Period period_of(const Json& report);

}  // namespace sanwatch::html
