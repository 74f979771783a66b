// SPDX-License-Identifier: Apache-2.0
// `sanwatch hist`: the incident latency histogram.
#pragma once

#include <string>
#include <vector>

namespace sanwatch {

struct HistOptions {
  std::vector<std::string> devices;  // empty: every watchable disk
  std::string op;                    // empty: each op with I/O; "all" merges
  double interval_s = 0;             // 0: one report at Ctrl-C
  int count = 0;                     // 0: unlimited
  bool device_time = false;
  bool json = false;
  bool verbose = false;
  bool force_raw_tp = false;  // testing: load the raw_tp fallback programs
  bool no_seed = false;       // testing: as if the kernel gave no tag-table walk
  std::string root = "/";     // sysfs root (tests)
};

// Returns the process exit code: 0 done, 1 runtime failure, 2 bad input.
int run_hist(const HistOptions& opts);

}  // namespace sanwatch
