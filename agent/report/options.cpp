// SPDX-License-Identifier: Apache-2.0
#include "report/options.h"

#include <fmt/format.h>

#include <chrono>

#include "base/duration.h"

namespace sanwatch {
namespace {

std::int64_t pow10(int n) {
  std::int64_t v = 1;
  while (n-- > 0) v *= 10;
  return v;
}

Result<Period> period_of(const ReportArgs& a, std::int64_t now_ms) {
  const int ways = !a.from.empty() + !a.month.empty() + !a.last.empty();
  if (ways > 1 || (!a.to.empty() && a.from.empty()))
    return Error{0, "give one period: --from TIME [--to TIME], --month YYYY-MM or --last DURATION"};
  if (!a.month.empty()) return month_period(a.month);
  if (a.from.empty()) return last_period(a.last.empty() ? "30d" : a.last, now_ms);
  auto from = parse_time(a.from);
  if (!from) return Error{0, "--from: " + from.error().context};
  auto to = a.to.empty() ? Result<std::int64_t>(now_ms) : parse_time(a.to);
  if (!to) return Error{0, "--to: " + to.error().context};
  if (*to <= *from) return Error{0, "--to must be after --from"};
  return Period{*from, *to};
}

}  // namespace

double Percent::value() const {
  return static_cast<double>(num) / static_cast<double>(pow10(decimals));
}

bool Percent::at_most(std::int64_t n, std::int64_t d) const {
  // num / (100 · 10^decimals) ≤ n / d  ⇔  num · d ≤ n · 100 · 10^decimals
  return static_cast<__int128>(num) * d <= static_cast<__int128>(n) * 100 * pow10(decimals);
}

std::int64_t Percent::complement_of(std::int64_t length) const {
  const __int128 whole = static_cast<__int128>(100) * pow10(decimals);
  return static_cast<std::int64_t>((whole - num) * length / whole);
}

Result<Percent> parse_percent(std::string_view s) {
  Percent p;
  bool dot = false, any = false;
  for (char c : s) {
    if (c == '.' && !dot) {
      dot = true;
    } else if (c >= '0' && c <= '9' && p.num < 1'000'000'000'000LL) {
      p.num = p.num * 10 + (c - '0');
      p.decimals += dot;
      any = true;
    } else {
      any = false;
      break;
    }
  }
  if (!any || p.decimals > 9 || p.num > 100 * pow10(p.decimals))
    return Error{0,
                 fmt::format("bad percentage \"{}\": use a number from 0 to 100, e.g. 99.99", s)};
  return p;
}

Result<LatencySlo> parse_latency_slo(std::string_view s) {
  const auto colon = s.rfind(':');
  const auto d =
      colon == std::string_view::npos ? std::nullopt : parse_duration(s.substr(0, colon));
  auto p = colon == std::string_view::npos ? Result<Percent>(Error{})
                                           : parse_percent(s.substr(colon + 1));
  if (!d || d->count() <= 0 || !p)
    return Error{0, fmt::format("--latency-slo \"{}\": use DURATION:PERCENT, e.g. 10ms:99.9", s)};
  return LatencySlo{static_cast<std::uint64_t>(d->count()), *p, std::string(s)};
}

Result<ReportOptions> make_options(const ReportArgs& a, std::int64_t now_ms) {
  ReportOptions o;
  auto period = period_of(a, now_ms);
  if (!period) return period.error();
  o.period = *period;
  if (a.by != "map" && a.by != "path" && a.by != "device" && a.by != "array")
    return Error{0, fmt::format("--by {}: use map, path, device or array", a.by)};
  o.by = a.by;
  o.targets = a.targets;
  if (!a.claim.empty()) {
    auto c = parse_percent(a.claim);
    if (!c) return Error{0, "--claim: " + c.error().context};
    o.claim = *c;
  }
  for (const auto& s : a.latency_slos) {
    auto slo = parse_latency_slo(s);
    if (!slo) return slo.error();
    o.slos.push_back(std::move(slo).value());
  }
  o.count_slow = a.count_slow;
  o.generated_ms = now_ms;
  return o;
}

}  // namespace sanwatch
