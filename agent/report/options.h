// SPDX-License-Identifier: Apache-2.0
// What `sanwatch report` was asked, as typed (ReportArgs) and as checked
// values the accounting runs on (ReportOptions). Pure: "now" comes in.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "report/period.h"

namespace sanwatch {

// A percentage kept as the decimal it was typed as (99.9999 = 999999 / 10^4)
// so that comparisons against it and the down time it allows are exact.
struct Percent {
  std::int64_t num = 0;  // value × 10^decimals
  int decimals = 0;
  double value() const;
  // value / 100 ≤ n / d, exactly.
  bool at_most(std::int64_t n, std::int64_t d) const;
  // (1 − value / 100) × length, rounded down: what a claim allows.
  std::int64_t complement_of(std::int64_t length) const;
};
// 0..100 with up to 9 decimals.
Result<Percent> parse_percent(std::string_view s);

// --latency-slo 10ms:99.9
struct LatencySlo {
  std::uint64_t threshold_ns = 0;
  Percent target;
  std::string text;  // as typed, for messages
};
Result<LatencySlo> parse_latency_slo(std::string_view s);

inline constexpr const char* kDefaultLedger = "/var/lib/sanwatch/ledger.db";

// The command line of `sanwatch report`, unchecked.
struct ReportArgs {
  std::string ledger = kDefaultLedger;
  std::string from, to, month, last;
  std::string by = "map";
  bool by_given = false;  // csv: a per-target summary instead of incidents
  std::vector<std::string> targets;
  std::string claim;
  std::vector<std::string> latency_slos;
  bool count_slow = false;
  std::string format = "text";
  std::string output;                    // -o; empty: stdout
  std::vector<std::string> merge_files;  // report merge
};

struct ReportOptions {
  Period period;
  std::string by = "map";            // map, path, device, array
  std::vector<std::string> targets;  // glob patterns; empty: all
  std::optional<Percent> claim;
  std::vector<LatencySlo> slos;
  bool count_slow = false;
  std::int64_t generated_ms = 0;
};

// Checks and converts; errors name the option and what it accepts.
Result<ReportOptions> make_options(const ReportArgs& a, std::int64_t now_ms);

}  // namespace sanwatch
