// SPDX-License-Identifier: Apache-2.0
#include "base/duration.h"

#include <fmt/format.h>

#include <cmath>
#include <cstdlib>
#include <string>

namespace sanwatch {

std::optional<Duration> parse_duration(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == '.')) ++i;
  if (i == 0 || i == s.size()) return std::nullopt;
  const std::string num(s.substr(0, i));
  char* end = nullptr;
  const double v = std::strtod(num.c_str(), &end);
  if (end != num.c_str() + num.size() || !std::isfinite(v)) return std::nullopt;
  const std::string_view unit = s.substr(i);
  double scale;
  if (unit == "ns")
    scale = 1;
  else if (unit == "us")
    scale = 1e3;
  else if (unit == "ms")
    scale = 1e6;
  else if (unit == "s")
    scale = 1e9;
  else if (unit == "m")
    scale = 60e9;
  else if (unit == "h")
    scale = 3600e9;
  else if (unit == "d")
    scale = 86400e9;
  else
    return std::nullopt;
  const double ns = v * scale;
  if (ns > 1e18) return std::nullopt;
  return Duration(static_cast<long long>(std::llround(ns)));
}

std::string format_duration(Duration d) {
  const long long ns = d.count();
  if (ns == 0) return "0s";  // as a config file would say it
  struct Unit {
    long long per;
    const char* name;
  };
  for (Unit u :
       {Unit{86400'000'000'000LL, "d"}, Unit{3600'000'000'000LL, "h"}, Unit{60'000'000'000LL, "m"},
        Unit{1'000'000'000LL, "s"}, Unit{1'000'000LL, "ms"}, Unit{1'000LL, "us"}})
    if (ns % u.per == 0) return std::to_string(ns / u.per) + u.name;
  return std::to_string(ns) + "ns";
}

std::string human_duration(double s) {
  if (s <= 0) return "0";
  if (s < 1e-6) return fmt::format("{:.3g}ns", s * 1e9);
  if (s < 1e-3) return fmt::format("{:.3g}us", s * 1e6);
  if (s < 1) return fmt::format("{:.3g}ms", s * 1e3);
  return fmt::format("{:.3g}s", s);
}

}  // namespace sanwatch
