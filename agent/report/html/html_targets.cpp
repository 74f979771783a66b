// SPDX-License-Identifier: Apache-2.0
// Per-target parts of the page: the overview table and, per array and LUN,
// the timeline band, the availability bar against the claim and the latency
// compliance rows.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <vector>

#include "report/html/html_sections.h"
#include "report/html/layout.h"

namespace sanwatch::html {
namespace {

constexpr std::string_view kUnknownArray = "unknown array";

struct Availability {
  std::optional<double> percent;
  std::optional<double> nines;  // nullopt with infinite == false: unknown
  bool infinite = false;        // no downtime at all
  std::optional<double> down_ms;
  std::optional<double> measured_ms;
  std::optional<bool> meets;
};

// Figures as the report gives them; derived from measured/down only where
// the report left them out.
Availability availability_of(const Json& t, const std::optional<Claim>& claim) {
  Availability a;
  a.down_ms = number(t, "down_ms");
  a.measured_ms = number(t, "measured_ms");
  a.percent = number(t, "availability_percent");
  if (!a.percent && a.measured_ms && a.down_ms && *a.measured_ms > 0)
    a.percent = 100.0 * (*a.measured_ms - *a.down_ms) / *a.measured_ms;
  a.nines = number(t, "nines");
  const Json* n = field(t, "nines");
  a.infinite = (n != nullptr && n->is_string()) || (!n && a.down_ms && *a.down_ms == 0);
  if (!a.nines && !a.infinite && a.percent && *a.percent < 100.0)
    a.nines = -std::log10(1.0 - *a.percent / 100.0);
  if (!a.nines && !a.infinite && a.percent && *a.percent >= 100.0) a.infinite = true;
  a.meets = boolean(t, "meets_claim");
  if (!a.meets && claim && a.percent) a.meets = *a.percent >= claim->percent;
  return a;
}

std::string nines_text(const Availability& a) {
  if (a.infinite) return "\u221e";
  return a.nines ? format_nines(*a.nines) : "?";
}

std::string percent_text(const Availability& a) {
  return a.percent ? format_percent(*a.percent) + " %" : "?";
}

double nines_of_percent(double p) { return -std::log10(std::max(1e-12, 1.0 - p / 100.0)); }

// Targets grouped by array (sorted, the unknown array last), each group
// sorted by target name then host.
std::vector<std::pair<std::string, std::vector<const Json*>>> by_array(const Json& report) {
  std::map<std::pair<bool, std::string>, std::vector<const Json*>> groups;
  for (const Json* t : elements(report, "targets")) {
    if (!t->is_object()) continue;
    const std::string a = array_of(*t);
    groups[{a.empty(), a.empty() ? std::string(kUnknownArray) : a}].push_back(t);
  }
  std::vector<std::pair<std::string, std::vector<const Json*>>> out;
  for (auto& [key, ts] : groups) {
    std::stable_sort(ts.begin(), ts.end(), [](const Json* x, const Json* y) {
      return std::pair(text(*x, "target"), text(*x, "host")) <
             std::pair(text(*y, "target"), text(*y, "host"));
    });
    out.emplace_back(key.second, std::move(ts));
  }
  return out;
}

// Nines scale 0 .. N with the measured availability as a bar and the claim
// as a black marker: 99.99 % and 99.9999 % differ by two steps here, not by
// an invisible sliver as on a linear scale.
std::string availability_bar(const Availability& a, const std::optional<Claim>& claim) {
  int scale = kNinesScaleMin;
  if (claim)
    scale = std::clamp(static_cast<int>(std::ceil(nines_of_percent(claim->percent))) + 1, scale,
                       10);  // more steps would not fit their labels
  const double w = kAvailWidthPx;
  const double filled = a.infinite ? w : std::clamp(a.nines.value_or(0) / scale, 0.0, 1.0) * w;
  const std::string_view fill = !claim                    ? kNoClaimColour
                                : a.meets.value_or(false) ? kMeetsColour
                                                          : kMissesColour;
  std::string out = fmt::format(
      "<svg class=\"avail\" width=\"{0}\" height=\"38\" viewBox=\"-24 0 {1} 38\" role=\"img\" "
      "aria-label=\"availability on a nines scale\"><rect x=\"0\" y=\"6\" width=\"{2}\" "
      "height=\"14\" fill=\"#EEEEEE\"/><rect x=\"0\" y=\"6\" width=\"{3:.2f}\" height=\"14\" "
      "fill=\"{4}\"/>\n",
      kAvailWidthPx + 56, kAvailWidthPx + 56, kAvailWidthPx, filled, fill);
  for (int k = 0; k <= scale; ++k) {
    const double x = w * k / scale;
    // 0 %, 90 %, 99 %, 99.9 %, ...
    const std::string label = k == 0   ? "0"
                              : k == 1 ? "90"
                                       : "99" + (k > 2 ? "." + std::string(k - 2, '9') : "");
    out += fmt::format(
        "<line x1=\"{0:.1f}\" y1=\"20\" x2=\"{0:.1f}\" y2=\"24\" stroke=\"#555\"/><text "
        "x=\"{0:.1f}\" y=\"34\" text-anchor=\"middle\">{1} %</text>\n",
        x, label);
  }
  if (claim) {
    const double x = w * std::min(1.0, nines_of_percent(claim->percent) / scale);
    out += fmt::format(
        "<line x1=\"{0:.1f}\" y1=\"1\" x2=\"{0:.1f}\" y2=\"24\" stroke=\"#000\" stroke-width=\"2\">"
        "<title>claim {1} %</title></line>\n",
        x, fmt::format("{}", claim->percent));
  }
  return out + "</svg>\n";
}

std::string claim_verdict(const Availability& a, const std::optional<Claim>& claim) {
  if (!claim) return "no availability claim given";
  std::string s = fmt::format("claim {} % allows {} of downtime in the period: ", claim->percent,
                              format_duration(claim->allowed_down_ms));
  const double down = a.down_ms.value_or(0);
  if (!a.meets.value_or(false)) {
    s += "<span class=\"miss\">missed</span>";
    if (claim->allowed_down_ms > 0 && down > claim->allowed_down_ms)
      s += fmt::format(", down {}\u00d7 the allowance",
                       group_thousands(std::llround(down / claim->allowed_down_ms)));
    return s;
  }
  s += "<span class=\"met\">met</span>";
  if (claim->allowed_down_ms > 0)
    s += fmt::format(", {:.0f} % of the allowance used", 100.0 * down / claim->allowed_down_ms);
  return s;
}

std::string availability_block(const Json& t, const Period& p, const std::optional<Claim>& claim) {
  const Availability a = availability_of(t, claim);
  std::string measured = a.measured_ms ? format_duration(*a.measured_ms) : "?";
  if (a.measured_ms && p.valid())
    measured += fmt::format(" ({:.1f} % of the period)", 100.0 * *a.measured_ms / p.length());
  return fmt::format(
      "<div class=\"availability\">{}<div class=\"figures\"><b>{}</b> available \u00b7 <b>{}</b> "
      "nines<br>down <b>{}</b> of {} measured<br>{}<br>{} incident(s)</div></div>\n",
      availability_bar(a, claim), percent_text(a), nines_text(a),
      a.down_ms ? format_duration(*a.down_ms) : "?", measured, claim_verdict(a, claim),
      escape(text(t, "incidents", "?")));
}

std::string latency_rows(const Json& t) {
  const auto rows = elements(t, "latency");
  if (rows.empty()) return {};
  std::string out =
      "<table class=\"latency\"><thead><tr><th>latency under</th><th>objective</th><th>I/Os</th>"
      "<th>over</th><th>share under</th><th>minutes met</th><th>verdict</th></tr></thead><tbody>\n";
  for (const Json* r : rows) {
    const auto thr = number(*r, "threshold_ns");
    const auto met = boolean(*r, "met");
    out += fmt::format(
        "<tr><td>{}</td><td>{} %</td><td class=\"num\">{}</td><td class=\"num\">{}</td>"
        "<td class=\"num\">{} %</td><td class=\"num\">{} of {} ({} %)</td><td>{}</td></tr>\n",
        thr ? format_duration(*thr / 1e6) : "?", escape(text(*r, "target_percent", "?")),
        group_thousands(integer(*r, "ios").value_or(0)),
        group_thousands(integer(*r, "ios_over").value_or(0)),
        escape(text(*r, "share_under_percent", "?")),
        group_thousands(integer(*r, "minutes_met").value_or(0)),
        group_thousands(integer(*r, "minutes").value_or(0)),
        escape(text(*r, "minutes_met_percent", "?")),
        !met   ? "?"
        : *met ? "<span class=\"met\">met</span>"
               : "<span class=\"miss\">missed</span>");
  }
  return out + "</tbody></table>\n";
}

std::string lun_block(const Json& t, const Period& p, const std::optional<Claim>& claim,
                      IdSource& ids) {
  std::string meta = escape(text(t, "target_type", "target"));
  for (auto [key, label] : {std::pair{"host", "host"}, {"wwid", "WWID"}})
    if (const std::string v = text(t, key); !v.empty())
      meta += fmt::format(" \u00b7 {} <span class=\"mono\">{}</span>", label, escape(v));
  return fmt::format(
      "<section class=\"lun\"><h3>{}</h3><div class=\"meta\">{}</div>\n{}{}{}</section>\n",
      escape(text(t, "target", "?")), meta,
      p.valid() ? timeline_band(t, p, ids) : "<p>no period: no timeline</p>\n",
      availability_block(t, p, claim), latency_rows(t));
}

// The fleet line `report merge` adds per array, when present.
std::string fleet_line(const Json& report, const std::string& array) {
  for (const Json* a : elements(report, "arrays")) {
    const std::string name = array_of(*a);
    if ((name.empty() ? std::string(kUnknownArray) : name) != array) continue;
    const auto hosts = strings(*a, "hosts");
    std::string names;
    for (const auto& h : hosts) names += (names.empty() ? "" : ", ") + escape(h);
    const auto pct = number(*a, "availability_percent");
    const auto down = number(*a, "down_ms");
    return fmt::format("<p class=\"fleet\">fleet ({}): {} available, down {}</p>\n", names,
                       pct ? format_percent(*pct) + " %" : "?",
                       down ? format_duration(*down) : "?");
  }
  return {};
}

}  // namespace

std::string array_of(const Json& j) {
  std::string a = text(j, "array");
  if (a.empty())
    if (const Json* id = field(j, "identity")) a = text(*id, "array");
  // Reports from Prometheus key arrays on the name and the array's own id.
  if (const std::string id = text(j, "array_id"); !id.empty()) a += (a.empty() ? "" : " ") + id;
  return a;
}

std::optional<Claim> claim_of(const Json& report, const Period& period) {
  const Json* c = field(report, "claim");
  if (c == nullptr) return std::nullopt;
  const auto pct = number(*c, "percent");
  if (!pct) return std::nullopt;
  Claim claim{*pct, number(*c, "allowed_down_ms").value_or((1.0 - *pct / 100.0) * period.length())};
  return claim;
}

std::string overview_table(const Json& report, const Period& p) {
  const auto claim = claim_of(report, p);
  std::string rows;
  for (const auto& [array, targets] : by_array(report))
    for (const Json* t : targets) {
      const Availability a = availability_of(*t, claim);
      rows += fmt::format(
          "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>"
          "<td class=\"num\">{}</td><td>{}</td><td class=\"num\">{}</td></tr>\n",
          escape(array), escape(text(*t, "target", "?")), escape(text(*t, "host")), percent_text(a),
          nines_text(a), a.down_ms ? format_duration(*a.down_ms) : "?",
          !claim || !a.meets ? "\u2013"
          : *a.meets         ? "<span class=\"met\">met</span>"
                             : "<span class=\"miss\">missed</span>",
          escape(text(*t, "incidents", "?")));
    }
  if (rows.empty()) return "<p class=\"empty\">No targets in this report.</p>\n";
  return "<table class=\"overview\"><thead><tr><th>array</th><th>LUN</th><th>host</th>"
         "<th>availability</th><th>nines</th><th>down</th><th>claim</th><th>incidents</th></tr>"
         "</thead><tbody>\n" +
         rows + "</tbody></table>\n";
}

std::string arrays_section(const Json& report, const Period& p, IdSource& ids) {
  const auto claim = claim_of(report, p);
  std::string out;
  for (const auto& [array, targets] : by_array(report)) {
    out += fmt::format("<section class=\"array\"><h2>{}</h2>\n{}", escape(array),
                       fleet_line(report, array));
    for (const Json* t : targets) out += lun_block(*t, p, claim, ids);
    out += "</section>\n";
  }
  return out;
}

}  // namespace sanwatch::html
