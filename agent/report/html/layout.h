// SPDX-License-Identifier: Apache-2.0
// The HTML report's fixed screen geometry and state palette.
//
// Fixed on purpose: the browser test (tests/integration/html_report_test.cpp)
// finds the timeline bands in a Chromium screenshot from these numbers, and
// a reader comparing two reports sees the same scale. In print the SVGs
// scale to the page width (their viewBox keeps the proportions).
#pragma once

#include <string_view>

namespace sanwatch::html {

// Screen layout, CSS px. A LUN's timeline band starts at x = kBandLeftPx
// (the period's start) and is kBandWidthPx wide (its end); time maps
// linearly onto x. The bar is kBandHeightPx tall; the time axis is below it.
inline constexpr int kPageLeftPx = 24;     // <body> left margin
inline constexpr int kArrayIndentPx = 16;  // array section: 4 px rule + 12 px padding
inline constexpr int kBandLeftPx = kPageLeftPx + kArrayIndentPx;
inline constexpr int kBandWidthPx = 1000;
inline constexpr int kBandHeightPx = 26;
inline constexpr int kBandAxisPx = 18;     // ticks and date labels under the bar
inline constexpr int kPageWidthPx = 1136;  // fits a 1200 px window; tables use it all
// An impairment shorter than this is still drawn this wide (a 5 s stall is
// 0.002 px of a 30-day band and would vanish).
inline constexpr double kMinSegmentPx = 2.0;
// The availability bar: a nines scale (0 .. kNinesScaleMin or more nines).
inline constexpr int kAvailWidthPx = 560;
inline constexpr int kNinesScaleMin = 7;

// Okabe-Ito colours (distinguishable with the common colour-vision
// deficiencies), ordered roughly by severity; unmeasured time is hatched.
struct StateStyle {
  std::string_view state;
  std::string_view colour;
  int severity;  // later (higher) is drawn on top where short segments overlap
  std::string_view meaning;
};
inline constexpr StateStyle kStates[] = {
    {"ok", "#009E73", 0, "serving normally"},
    {"degraded", "#56B4E9", 1, "serving, with a path lost"},
    {"slow", "#F0E442", 2, "I/O slower than the slow threshold"},
    {"flapping", "#E69F00", 3, "paths failing and returning repeatedly"},
    {"stalled", "#D55E00", 4, "I/O outstanding past the stall threshold"},
    {"failed", "#CC79A7", 5, "I/O or canaries failing"},
    {"down", "#000000", 6, "no valid path"},
    {"gone", "#0072B2", 7, "device vanished"},
};
inline constexpr std::string_view kUnknownStateColour = "#999999";
inline constexpr std::string_view kHatchStripe = "#8C8C8C";
inline constexpr std::string_view kHatchBackground = "#E6E6E6";
// Availability bar fill: meets the claim / misses it / no claim given.
inline constexpr std::string_view kMeetsColour = "#009E73";
inline constexpr std::string_view kMissesColour = "#D55E00";
inline constexpr std::string_view kNoClaimColour = "#0072B2";

}  // namespace sanwatch::html
