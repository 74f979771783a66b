// SPDX-License-Identifier: Apache-2.0
// The fault-matrix tests (tests/faults/) print what they measured as one
// JSON line each on stdout, prefixed with kFaultRowPrefix, so that
// bench/faults.sh can pick the rows out of Catch2's output. A row says what
// was injected, what sanwatch reported, what was lost, and the numbers.
#pragma once

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace sanwatch::test {

inline constexpr const char* kFaultRowPrefix = "sanwatch-fault-row ";

// CI runs each fault at a scale that keeps the suite short (seconds per
// fault); bench/faults.sh sets SANWATCH_FAULTS_FULL=1 for the full
// figures (30 s of slowloris, 60 s of loop device churn, ...). A test picks
// its durations and counts with full_fault_run() ? full : ci.
inline bool full_fault_run() {
  const char* v = std::getenv("SANWATCH_FAULTS_FULL");
  return v && *v && std::string(v) != "0";
}

struct Spread {
  double min = 0, median = 0, max = 0;
};

inline Spread spread(std::vector<double> v) {
  if (v.empty()) return {};
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  const double median = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
  return {v.front(), median, v.back()};
}

inline nlohmann::json to_json(const Spread& s) {
  return {{"min", s.min}, {"median", s.median}, {"max", s.max}};
}

// Printed with stdio and flushed at once: a later timeout of the test must
// not lose the rows measured before it.
inline void print_fault_row(const std::string& fault, const std::string& injected,
                            const std::string& reported, const std::string& lost,
                            const nlohmann::json& measured) {
  const nlohmann::json row{{"fault", fault},
                           {"injected", injected},
                           {"reported", reported},
                           {"lost", lost},
                           {"measured", measured}};
  std::printf("%s%s\n", kFaultRowPrefix, row.dump().c_str());
  std::fflush(stdout);
}

}  // namespace sanwatch::test
