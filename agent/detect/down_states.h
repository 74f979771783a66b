// SPDX-License-Identifier: Apache-2.0
// The states whose episodes count as down (docs/ledger.md "Down"): one list
// for the availability counters, the ledger's recorder and reports. Kept
// apart from the detector's headers so reports see only this.
#pragma once

#include <algorithm>
#include <array>
#include <string_view>

namespace sanwatch {

inline constexpr std::array<std::string_view, 5> kDownStates = {"stalled", "failed", "down", "gone",
                                                                "flapping"};
inline bool is_down_state(std::string_view s) {
  return std::find(kDownStates.begin(), kDownStates.end(), s) != kDownStates.end();
}

}  // namespace sanwatch
