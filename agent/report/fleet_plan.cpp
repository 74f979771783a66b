// SPDX-License-Identifier: Apache-2.0
#include "report/fleet_plan.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

namespace sanwatch {
namespace {

// Unix ms as the API's decimal seconds.
std::string api_time(std::int64_t ms) { return fmt::format("{}.{:03}", ms / 1000, ms % 1000); }

// `metric{selector, extra}`
std::string select(std::string_view metric, std::string_view selector, std::string_view extra) {
  std::string inner(selector);
  if (!extra.empty()) inner += (inner.empty() ? "" : ",") + std::string(extra);
  return fmt::format("{}{{{}}}", metric, inner);
}

std::string promql(FleetWhat w, const FleetParams& p, std::int64_t range_ms, std::string_view thr) {
  switch (w) {
    case FleetWhat::kInfo:
      return select("sanwatch_device_info", p.selector, "");
    case FleetWhat::kMeasured:
      return "sum without (state) (" +
             select("sanwatch_target_state_seconds_total", p.selector, "") + ")";
    case FleetWhat::kDown:
      return select("sanwatch_target_down_seconds_total", p.selector, "");
    case FleetWhat::kStates:
      // The states other than ok each target was in at any scrape of the
      // step (the range ends 1 ms short so a scrape on a grid point
      // belongs to one step only).
      return fmt::format("max_over_time({}[{}ms]) > 0",
                         select("sanwatch_state", p.selector, "state!=\"ok\""), range_ms - 1);
    case FleetWhat::kIos:
      return "sum by (instance, device) (" + select("sanwatch_io_completed_total", p.selector, "") +
             ")";
    case FleetWhat::kOver:
      return "sum by (instance, device) (" +
             select("sanwatch_io_latency_over_threshold_total", p.selector,
                    fmt::format("threshold_seconds=\"{}\"", thr)) +
             ")";
  }
  return {};
}

std::vector<std::pair<FleetWhat, std::size_t>> counters(const std::vector<LatencySlo>& slos) {
  std::vector<std::pair<FleetWhat, std::size_t>> out = {
      {FleetWhat::kMeasured, 0}, {FleetWhat::kDown, 0}, {FleetWhat::kStates, 0}};
  if (!slos.empty()) out.push_back({FleetWhat::kIos, 0});
  for (std::size_t i = 0; i < slos.size(); ++i) out.push_back({FleetWhat::kOver, i});
  return out;
}

// name op "value" | 'value' | `value`; returns the position after it.
std::optional<std::size_t> matcher_end(std::string_view s, std::size_t i) {
  const auto name_char = [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
  };
  if (i >= s.size() || !(std::isalpha(static_cast<unsigned char>(s[i])) || s[i] == '_'))
    return std::nullopt;
  while (i < s.size() && name_char(s[i])) ++i;
  while (i < s.size() && s[i] == ' ') ++i;
  if (s.substr(i, 2) == "!=" || s.substr(i, 2) == "=~" || s.substr(i, 2) == "!~")
    i += 2;
  else if (i < s.size() && s[i] == '=')
    i += 1;
  else
    return std::nullopt;
  while (i < s.size() && s[i] == ' ') ++i;
  if (i >= s.size() || (s[i] != '"' && s[i] != '\'' && s[i] != '`')) return std::nullopt;
  const char q = s[i++];
  for (; i < s.size(); ++i) {
    if (s[i] == '\\' && q != '`') {
      ++i;
      continue;
    }
    if (s[i] == '\n') return std::nullopt;
    if (s[i] == q) return i + 1;
  }
  return std::nullopt;
}

}  // namespace

std::size_t StepGrid::steps() const {
  const std::int64_t len = to_ms - from_ms;
  return len <= 0 ? 0 : static_cast<std::size_t>((len + step_ms - 1) / step_ms);
}

std::int64_t StepGrid::at(std::size_t k) const {
  return k >= steps() ? to_ms : from_ms + static_cast<std::int64_t>(k) * step_ms;
}

std::optional<std::size_t> StepGrid::index_of(std::int64_t ts) const {
  if (ts == to_ms) return steps();
  if (ts < from_ms || ts > to_ms || (ts - from_ms) % step_ms != 0) return std::nullopt;
  return static_cast<std::size_t>((ts - from_ms) / step_ms);
}

Result<std::string> check_selector(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  if (s.size() >= 2 && s.front() == '{' && s.back() == '}') s = s.substr(1, s.size() - 2);
  std::size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && s[i] == ' ') ++i;
    const auto end = matcher_end(s, i);
    if (!end)
      return Error{0, fmt::format("--selector \"{}\": use PromQL label matchers, e.g. "
                                  "job=\"sanwatch\",instance=~\"db.*\"",
                                  s)};
    i = *end;
    while (i < s.size() && s[i] == ' ') ++i;
    if (i < s.size() && s[i] != ',')
      return Error{0, fmt::format("--selector \"{}\": matchers are separated by commas", s)};
    if (i < s.size()) ++i;
  }
  return std::string(s);
}

StepGrid make_grid(const Period& p, std::int64_t step_ms) {
  return StepGrid{p.from_ms, p.to_ms, std::max<std::int64_t>(step_ms, 1)};
}

std::vector<PromRequest> fleet_requests(const StepGrid& g, const FleetParams& p,
                                        const std::vector<LatencySlo>& slos) {
  std::vector<PromRequest> out;
  const std::pair<std::string, std::string> strict{"partial_response", "false"};
  const std::string info = promql(FleetWhat::kInfo, p, 0, "");
  out.push_back(
      {FleetWhat::kInfo,
       0,
       "/api/v1/series",
       {{"match[]", info}, {"start", api_time(g.from_ms)}, {"end", api_time(g.to_ms)}, strict},
       info});
  const std::size_t last = g.whole() ? g.steps() : g.steps() - 1;  // on the regular grid
  const auto thr = [&](std::size_t slo) {
    return slo < slos.size() ? threshold_label(slos[slo].threshold_ns) : std::string();
  };
  for (std::size_t a = 0; a <= last; a += kWindowPoints) {
    const std::size_t b = std::min(last, a + kWindowPoints - 1);
    for (const auto& [what, slo] : counters(slos)) {
      const std::string q = promql(what, p, g.step_ms, thr(slo));
      out.push_back({what,
                     slo,
                     "/api/v1/query_range",
                     {{"query", q},
                      {"start", api_time(g.at(a))},
                      {"end", api_time(g.at(b))},
                      {"step", api_time(g.step_ms)},
                      strict},
                     q});
    }
  }
  if (!g.whole())  // t_N = to, off the grid: one instant query
    for (const auto& [what, slo] : counters(slos)) {
      const std::string q = promql(what, p, g.length(g.steps()), thr(slo));
      out.push_back(
          {what, slo, "/api/v1/query", {{"query", q}, {"time", api_time(g.to_ms)}, strict}, q});
    }
  return out;
}

std::vector<std::string> fleet_queries(const FleetParams& p, const std::vector<LatencySlo>& slos) {
  std::vector<std::string> out = {promql(FleetWhat::kInfo, p, 0, "")};
  for (const auto& [what, slo] : counters(slos))
    out.push_back(promql(what, p, p.step_ms,
                         slo < slos.size() ? threshold_label(slos[slo].threshold_ns) : ""));
  return out;
}

std::string threshold_label(std::uint64_t ns) {
  std::string out = std::to_string(ns / 1'000'000'000);
  std::string frac = std::to_string(1'000'000'000 + ns % 1'000'000'000).substr(1);
  while (!frac.empty() && frac.back() == '0') frac.pop_back();
  if (!frac.empty()) out += "." + frac;
  return out;
}

}  // namespace sanwatch
