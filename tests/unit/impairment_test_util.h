// SPDX-License-Identifier: Apache-2.0
// Shared by the impairment clock and availability meter tests: times in ms
// on an arbitrary origin, and the thresholds both drive a Detector with.
#pragma once

#include <cstdint>

#include "detect/detector.h"

namespace sanwatch::test {

constexpr std::uint64_t ms(double v) {
  return static_cast<std::uint64_t>(v * 1e6) + 1'000'000'000ull;
}

inline Thresholds impairment_thresholds() {
  using namespace std::chrono_literals;
  Thresholds t;
  t.slow_io = 100ms;
  t.slow_window = 1s;
  t.stall = 500ms;
  t.fail_errors = 1;
  t.recovery = 2s;
  return t;
}

}  // namespace sanwatch::test
