// SPDX-License-Identifier: Apache-2.0
// The timeline band (one per LUN: its states over the period as SVG rects,
// unmeasured time hatched) and the state legend.
#pragma once

#include <string>
#include <string_view>

#include "report/html/html_text.h"

namespace sanwatch::html {

// Ids for SVG <pattern>s, unique within one page: each SVG carries its own
// defs, so a band survives being printed, copied or cut out on its own.
class IdSource {
 public:
  std::string next(std::string_view prefix) { return std::string(prefix) + std::to_string(++n_); }

 private:
  int n_ = 0;
};

std::string_view state_colour(std::string_view state);
// The fill for a state: its colour, or the hatch pattern for `unmeasured`.
std::string state_fill(std::string_view state, const std::string& hatch_id);
// <pattern id=...>: stripes of kHatchStripe on kHatchBackground.
std::string hatch_pattern(const std::string& id);

// The band of one target (geometry in layout.h), with a time axis.
std::string timeline_band(const Json& target, const Period& period, IdSource& ids);
// Swatches for every state, with what each means.
std::string state_legend(IdSource& ids);

}  // namespace sanwatch::html
