// SPDX-License-Identifier: Apache-2.0
#include "report/timeline.h"

#include <algorithm>
#include <array>

namespace sanwatch {
namespace {

constexpr std::array<std::string_view, 8> kSeverity = {"ok",      "slow",   "degraded", "down",
                                                       "stalled", "failed", "flapping", "gone"};

// The state of `target` at `t` within `run`: its last change at or before
// t, else ok (a run starts every target at ok).
std::string_view state_at(const StateIndex& states, const RunRecord& run, const std::string& target,
                          std::int64_t t) {
  const auto it = states.find({run.run_id, target});
  if (it == states.end()) return "ok";
  const auto& v = it->second;
  const auto after = std::upper_bound(v.begin(), v.end(), t,
                                      [](std::int64_t x, const auto& e) { return x < e.first; });
  return after == v.begin() ? std::string_view("ok") : std::string_view(std::prev(after)->second);
}

// The run covering t (the latest started, should runs overlap), or null.
const RunRecord* run_at(const std::vector<RunRecord>& runs, std::int64_t t) {
  const RunRecord* found = nullptr;
  for (const RunRecord& r : runs)
    if (r.start_ms <= t && t < r.end_ms) found = &r;
  return found;
}

std::vector<std::int64_t> boundaries(const std::vector<std::string>& members,
                                     const std::vector<RunRecord>& runs, const StateIndex& states,
                                     const Period& p) {
  std::vector<std::int64_t> b{p.from_ms, p.to_ms};
  const auto add = [&](std::int64_t t) {
    if (t > p.from_ms && t < p.to_ms) b.push_back(t);
  };
  for (const RunRecord& r : runs) {
    add(r.start_ms);
    add(r.end_ms);
    for (const std::string& m : members)
      if (const auto it = states.find({r.run_id, m}); it != states.end())
        for (const auto& e : it->second) add(e.first);
  }
  std::sort(b.begin(), b.end());
  b.erase(std::unique(b.begin(), b.end()), b.end());
  return b;
}

}  // namespace

int severity(std::string_view state) {
  const auto it = std::find(kSeverity.begin(), kSeverity.end(), state);
  return it == kSeverity.end() ? 0 : static_cast<int>(it - kSeverity.begin());
}

std::string_view state_of_severity(int s) {
  return s > 0 && s < static_cast<int>(kSeverity.size()) ? kSeverity[s] : kSeverity[0];
}

StateIndex index_states(const std::vector<StateRecord>& states) {
  StateIndex idx;
  for (const StateRecord& s : states) idx[{s.run_id, s.target}].emplace_back(s.ts_ms, s.to);
  for (auto& [k, v] : idx)
    std::stable_sort(v.begin(), v.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
  return idx;
}

nlohmann::json timeline_json(const std::vector<std::string>& members,
                             const std::vector<RunRecord>& runs, const StateIndex& states,
                             const Period& p) {
  const std::vector<std::int64_t> b = boundaries(members, runs, states, p);
  nlohmann::json out = nlohmann::json::array();
  for (std::size_t i = 0; i + 1 < b.size(); ++i) {
    std::string_view state = "unmeasured";
    if (const RunRecord* run = run_at(runs, b[i])) {
      state = "ok";
      for (const std::string& m : members) {
        const std::string_view s = state_at(states, *run, m, b[i]);
        if (severity(s) > severity(state)) state = s;
      }
    }
    if (!out.empty() && out.back()["state"] == state) {
      out.back()["end_ms"] = b[i + 1];
      continue;
    }
    out.push_back({{"start_ms", b[i]}, {"end_ms", b[i + 1]}, {"state", state}});
  }
  return out;
}

}  // namespace sanwatch
