// SPDX-License-Identifier: Apache-2.0
#include "report/period.h"

#include <fmt/format.h>

#include <chrono>
#include <ctime>
#include <optional>

#include "base/duration.h"

namespace sanwatch {
namespace {

constexpr std::int64_t kDayMs = 86'400'000;

std::int64_t floor_div(std::int64_t a, std::int64_t b) {
  return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

// Reads exactly `n` digits at `pos`.
std::optional<int> digits(std::string_view s, std::size_t& pos, std::size_t n) {
  if (pos + n > s.size()) return std::nullopt;
  int v = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const char c = s[pos + i];
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + (c - '0');
  }
  pos += n;
  return v;
}

bool eat(std::string_view s, std::size_t& pos, char c) {
  if (pos < s.size() && s[pos] == c) {
    ++pos;
    return true;
  }
  return false;
}

// Days since 1970-01-01 of a valid civil date.
std::optional<std::int64_t> civil_days(int y, int m, int d) {
  const std::chrono::year_month_day ymd{std::chrono::year(y), std::chrono::month(unsigned(m)),
                                        std::chrono::day(unsigned(d))};
  if (!ymd.ok()) return std::nullopt;
  return std::chrono::sys_days(ymd).time_since_epoch().count();
}

// The UTC instant of a local wall time given as ms "as if it were UTC".
std::int64_t local_to_utc(std::int64_t naive_ms) {
  // A zone changes its offset at most once a day: the offsets a day before
  // and after are the only candidates.
  const long before = local_offset_s(naive_ms - kDayMs), after = local_offset_s(naive_ms + kDayMs);
  std::optional<std::int64_t> best;
  for (long off : {before, after}) {
    const std::int64_t t = naive_ms - off * 1000;
    if (local_offset_s(t) == off && (!best || t < *best)) best = t;
  }
  return best ? *best : naive_ms - before * 1000;
}

Error bad_time(std::string_view s) {
  return Error{0, fmt::format("bad time \"{}\": use 2026-11-01, 2026-11-01T10:00, "
                              "2026-11-01 10:00:00 or 2026-11-01T10:00:00+01:00",
                              s)};
}

// HH:MM[:SS[.fff]] at pos, as ms of the day.
std::optional<std::int64_t> time_of_day(std::string_view s, std::size_t& pos) {
  auto h = digits(s, pos, 2);
  if (!h || !eat(s, pos, ':')) return std::nullopt;
  auto mi = digits(s, pos, 2);
  if (!mi || *h > 23 || *mi > 59) return std::nullopt;
  std::int64_t ms = (*h * 3600LL + *mi * 60LL) * 1000;
  if (!eat(s, pos, ':')) return ms;
  auto sec = digits(s, pos, 2);
  if (!sec || *sec > 59) return std::nullopt;
  ms += *sec * 1000LL;
  if (!eat(s, pos, '.')) return ms;
  int scale = 100, n = 0;
  for (; pos < s.size() && s[pos] >= '0' && s[pos] <= '9'; ++pos, ++n) {
    ms += (s[pos] - '0') * scale;
    scale /= 10;
  }
  return n ? std::optional(ms) : std::nullopt;
}

// "Z" or "+HH:MM" / "-HH:MM" at pos, as seconds east of UTC.
std::optional<long> utc_offset(std::string_view s, std::size_t& pos) {
  if (eat(s, pos, 'Z') || eat(s, pos, 'z')) return 0L;
  const int sign = eat(s, pos, '+') ? 1 : eat(s, pos, '-') ? -1 : 0;
  if (!sign) return std::nullopt;
  auto h = digits(s, pos, 2);
  if (!h || !eat(s, pos, ':')) return std::nullopt;
  auto m = digits(s, pos, 2);
  if (!m || *h > 23 || *m > 59) return std::nullopt;
  return sign * (*h * 3600L + *m * 60L);
}

}  // namespace

long local_offset_s(std::int64_t ms) {
  const std::time_t t = static_cast<std::time_t>(floor_div(ms, 1000));
  std::tm tm{};
  if (!localtime_r(&t, &tm)) return 0;
  return tm.tm_gmtoff;
}

Result<std::int64_t> parse_time(std::string_view s) {
  std::size_t pos = 0;
  auto y = digits(s, pos, 4);
  std::optional<int> mo, d;
  if (y && eat(s, pos, '-')) mo = digits(s, pos, 2);
  if (mo && eat(s, pos, '-')) d = digits(s, pos, 2);
  const auto days = d ? civil_days(*y, *mo, *d) : std::nullopt;
  if (!days) return bad_time(s);
  std::int64_t naive = *days * kDayMs;
  if (pos < s.size() && (s[pos] == 'T' || s[pos] == 't' || s[pos] == ' ')) {
    ++pos;
    auto tod = time_of_day(s, pos);
    if (!tod) return bad_time(s);
    naive += *tod;
  }
  if (pos == s.size()) return local_to_utc(naive);
  auto off = utc_offset(s, pos);
  if (!off || pos != s.size()) return bad_time(s);
  return naive - *off * 1000;
}

Result<Period> month_period(std::string_view s) {
  std::size_t pos = 0;
  auto y = digits(s, pos, 4);
  const bool dash = y && eat(s, pos, '-');
  auto m = dash ? digits(s, pos, 2) : std::nullopt;
  if (!m || pos != s.size() || *m < 1 || *m > 12)
    return Error{0, fmt::format("bad month \"{}\": use YYYY-MM, e.g. 2026-11", s)};
  const int ny = *m == 12 ? *y + 1 : *y, nm = *m == 12 ? 1 : *m + 1;
  return Period{local_to_utc(*civil_days(*y, *m, 1) * kDayMs),
                local_to_utc(*civil_days(ny, nm, 1) * kDayMs)};
}

Result<Period> last_period(std::string_view duration, std::int64_t now_ms) {
  const auto d = parse_duration(duration);
  const std::int64_t ms = d ? std::chrono::duration_cast<std::chrono::milliseconds>(*d).count() : 0;
  if (ms <= 0)
    return Error{0, fmt::format("bad duration \"{}\": use e.g. 30d, 12h, 90m", duration)};
  return Period{now_ms - ms, now_ms};
}

// "2026-10-25T02:30:00[.250]" of ms counted from 1970 in some zone.
std::string wall_clock(std::int64_t ms) {
  const std::int64_t day = floor_div(ms, kDayMs), in_day = ms - day * kDayMs;
  const std::chrono::year_month_day ymd{std::chrono::sys_days(std::chrono::days(day))};
  std::string out = fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}", int(ymd.year()),
                                unsigned(ymd.month()), unsigned(ymd.day()), in_day / 3'600'000,
                                in_day / 60'000 % 60, in_day / 1000 % 60);
  if (in_day % 1000) out += fmt::format(".{:03}", in_day % 1000);
  return out;
}

std::string format_local(std::int64_t ms) {
  const long off = local_offset_s(ms);
  const long a = off < 0 ? -off : off;
  return wall_clock(ms + off * 1000) +
         fmt::format("{}{:02}:{:02}", off < 0 ? '-' : '+', a / 3600, a / 60 % 60);
}

std::string format_utc(std::int64_t ms) { return wall_clock(ms) + "Z"; }

}  // namespace sanwatch
