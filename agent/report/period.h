// SPDX-License-Identifier: Apache-2.0
// The report's period and its times: parsed from what people type (RFC 3339,
// ISO dates, local time when no offset is given), kept as UTC Unix ms, and
// printed in the local zone with its offset. The local zone is the
// process's (TZ), read through localtime_r: C++20's tzdb is not in GCC 12.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "base/result.h"

namespace sanwatch {

// [from_ms, to_ms) in UTC Unix ms.
struct Period {
  std::int64_t from_ms = 0, to_ms = 0;
  std::int64_t length_ms() const { return to_ms - from_ms; }
};

// "2026-11-01", "2026-11-01T10:00", "2026-11-01 10:00:00",
// "2026-11-01T10:00:00.250+01:00", "...Z". Without an offset the time is
// local; a local time that occurs twice (DST ends) is the first, one that
// does not exist (DST begins) is read with the offset before the change.
Result<std::int64_t> parse_time(std::string_view s);
// "YYYY-MM": that calendar month in the local zone.
Result<Period> month_period(std::string_view s);
// `DURATION` (base/duration.h, e.g. "30d", "12h") up to now.
Result<Period> last_period(std::string_view duration, std::int64_t now_ms);

// Local wall time with its offset: "2026-10-25T02:30:00+02:00" (".250"
// added when the ms are not zero).
std::string format_local(std::int64_t ms);
// RFC 3339 UTC: "2026-12-04T10:00:00Z" (".123" added when the ms are not
// zero). Written here rather than with fmt's chrono support: fmt 9 (Debian
// 12) formats a system_clock time_point in the local zone.
std::string format_utc(std::int64_t ms);
// The local zone's UTC offset at that instant, in seconds.
long local_offset_s(std::int64_t ms);

}  // namespace sanwatch
