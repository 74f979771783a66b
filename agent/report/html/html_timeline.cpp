// SPDX-License-Identifier: Apache-2.0
#include "report/html/html_timeline.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "report/html/layout.h"

namespace sanwatch::html {
namespace {

constexpr std::int64_t kHourMs = 3'600'000;
constexpr std::int64_t kDayMs = 24 * kHourMs;

struct Segment {
  std::int64_t start_ms;
  std::int64_t end_ms;
  std::string state;
};

int severity(std::string_view state) {
  for (const auto& s : kStates)
    if (s.state == state) return s.severity;
  return 0;
}

bool is_base(std::string_view state) { return state == "ok" || state == "unmeasured"; }

// The target's segments clipped to the period, adjacent equal states merged.
std::vector<Segment> segments(const Json& target, const Period& p) {
  std::vector<Segment> out;
  for (const Json* s : elements(target, "timeline")) {
    const auto a = integer(*s, "start_ms"), b = integer(*s, "end_ms");
    if (!a || !b) continue;
    Segment seg{std::max(*a, p.from_ms), std::min(*b, p.to_ms), text(*s, "state", "unknown")};
    if (seg.end_ms <= seg.start_ms) continue;
    if (!out.empty() && out.back().state == seg.state && out.back().end_ms == seg.start_ms)
      out.back().end_ms = seg.end_ms;
    else
      out.push_back(std::move(seg));
  }
  std::stable_sort(out.begin(), out.end(),
                   [](const Segment& x, const Segment& y) { return x.start_ms < y.start_ms; });
  return out;
}

double x_of(std::int64_t ms, const Period& p) {
  return static_cast<double>(ms - p.from_ms) / p.length() * kBandWidthPx;
}

std::string segment_rect(const Segment& s, const Period& p, const std::string& hatch_id) {
  const double x = x_of(s.start_ms, p);
  double w = x_of(s.end_ms, p) - x;
  if (!is_base(s.state)) w = std::max(w, kMinSegmentPx);
  w = std::min(w, kBandWidthPx - x);
  return fmt::format(
      "<rect x=\"{:.2f}\" y=\"0\" width=\"{:.2f}\" height=\"{}\" fill=\"{}\"><title>{} "
      "\u00b7 {} \u2013 {} ({})</title></rect>\n",
      x, w, kBandHeightPx, state_fill(s.state, hatch_id), escape(s.state),
      format_instant(s.start_ms, p.offset_min), format_instant(s.end_ms, p.offset_min),
      format_duration(static_cast<double>(s.end_ms - s.start_ms)));
}

// Steady states first, then impairments by rising severity: a short stall
// widened to kMinSegmentPx stays on top of the ok time around it.
std::string segment_rects(std::vector<Segment> segs, const Period& p, const std::string& hatch) {
  std::stable_sort(segs.begin(), segs.end(), [](const Segment& x, const Segment& y) {
    const int kx = is_base(x.state) ? -1 : severity(x.state);
    const int ky = is_base(y.state) ? -1 : severity(y.state);
    return kx < ky;
  });
  std::string out;
  for (const auto& s : segs) out += segment_rect(s, p, hatch);
  return out;
}

// Local midnights (or hours, for periods under two days) as ticks; every
// `label_every`-th one labelled, at most about eight labels.
std::string axis(const Period& p) {
  const std::int64_t unit = p.length() >= 2.0 * kDayMs ? kDayMs : kHourMs;
  const std::int64_t off = static_cast<std::int64_t>(p.offset_min) * 60'000;
  const std::int64_t first = (p.from_ms + off + unit - 1) / unit * unit - off;
  const auto count = static_cast<std::int64_t>(p.length() / static_cast<double>(unit));
  std::int64_t every = 1;
  for (std::int64_t k : {1, 2, 3, 6, 7, 14, 28, 56, 91, 182, 365, 730}) {
    every = k;
    if (count / k <= 8) break;
  }
  const int y = kBandHeightPx;
  std::string out = fmt::format(
      "<line x1=\"0\" y1=\"{0}.5\" x2=\"{1}\" y2=\"{0}.5\" stroke=\"#555\" stroke-width=\"1\"/>\n",
      y, kBandWidthPx);
  std::int64_t i = 0;
  for (std::int64_t t = first; t < p.to_ms && count <= 800; t += unit, ++i) {
    const double x = x_of(t, p);
    const bool labelled = i % every == 0;
    out +=
        fmt::format("<line x1=\"{0:.2f}\" y1=\"{1}\" x2=\"{0:.2f}\" y2=\"{2}\" stroke=\"#555\"/>",
                    x, y, y + (labelled ? 5 : 3));
    if (!labelled) continue;
    const char* anchor = x < 24 ? "start" : x > kBandWidthPx - 24 ? "end" : "middle";
    const std::string label = unit == kDayMs ? format_day(t, p.offset_min)
                                             : format_instant(t, p.offset_min).substr(11, 5);
    out += fmt::format("<text x=\"{:.2f}\" y=\"{}\" text-anchor=\"{}\">{}</text>\n", x, y + 15,
                       anchor, escape(label));
  }
  return out;
}

}  // namespace

std::string_view state_colour(std::string_view state) {
  for (const auto& s : kStates)
    if (s.state == state) return s.colour;
  return kUnknownStateColour;
}

std::string state_fill(std::string_view state, const std::string& hatch_id) {
  if (state == "unmeasured") return "url(#" + hatch_id + ")";
  return std::string(state_colour(state));
}

std::string hatch_pattern(const std::string& id) {
  return fmt::format(
      "<pattern id=\"{}\" width=\"6\" height=\"6\" patternUnits=\"userSpaceOnUse\" "
      "patternTransform=\"rotate(45)\"><rect width=\"6\" height=\"6\" fill=\"{}\"/>"
      "<rect width=\"3\" height=\"6\" fill=\"{}\"/></pattern>",
      id, kHatchBackground, kHatchStripe);
}

std::string timeline_band(const Json& target, const Period& p, IdSource& ids) {
  const std::string hatch = ids.next("hatch-");
  std::vector<Segment> segs = segments(target, p);
  std::string note;
  if (segs.empty()) {
    // No timeline: nothing says the LUN was watched, so it reads as unmeasured.
    segs.push_back({p.from_ms, p.to_ms, "unmeasured"});
    note = "<title>no timeline in the report</title>";
  }
  const int height = kBandHeightPx + kBandAxisPx;
  return fmt::format(
      "<svg class=\"band\" width=\"{0}\" height=\"{1}\" viewBox=\"0 0 {0} {1}\" "
      "role=\"img\" aria-label=\"timeline of {2}\">{3}"
      "<defs>{4}</defs>\n<g shape-rendering=\"crispEdges\">\n{5}</g>\n"
      "<g class=\"axis\">{6}</g></svg>\n",
      kBandWidthPx, height, escape(text(target, "target", "?")), note, hatch_pattern(hatch),
      segment_rects(std::move(segs), p, hatch), axis(p));
}

std::string state_legend(IdSource& ids) {
  const std::string hatch = ids.next("hatch-");
  auto key = [&](std::string_view state, std::string_view meaning, const std::string& defs) {
    return fmt::format(
        "<span class=\"key\" title=\"{2}\"><svg width=\"14\" height=\"14\" viewBox=\"0 0 14 14\">"
        "{0}<rect width=\"14\" height=\"14\" fill=\"{1}\"/>"
        "</svg>{3}</span>\n",
        defs, state_fill(state, hatch), escape(meaning), escape(state));
  };
  std::string out = "<div class=\"legend\">\n";
  for (const auto& s : kStates) out += key(s.state, s.meaning, "");
  out += key("unmeasured", "no agent run covered this time: never counted as up",
             "<defs>" + hatch_pattern(hatch) + "</defs>");
  return out + "</div>\n";
}

}  // namespace sanwatch::html
