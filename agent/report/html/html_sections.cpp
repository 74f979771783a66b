// SPDX-License-Identifier: Apache-2.0
// The page's header (period, claim, coverage, overview, legend), the
// incident table and the evidence footer (rules, coverage, chain heads).
#include "report/html/html_sections.h"

#include <fmt/format.h>

#include <algorithm>
#include <vector>

#include "report/html/layout.h"

namespace sanwatch::html {
namespace {

std::string join(const std::vector<std::string>& items, std::string_view sep) {
  std::string out;
  for (const auto& s : items) out += (out.empty() ? "" : std::string(sep)) + escape(s);
  return out;
}

// A time the JSON gives as an ISO string (shown as given, with its offset)
// and/or as Unix ms (shown at the period's offset).
std::string when(const Json& j, std::string_view iso_key, std::string_view ms_key,
                 const Period& p) {
  if (const std::string iso = text(j, iso_key); !iso.empty()) return escape(readable_iso(iso));
  if (const auto ms = integer(j, ms_key)) return format_instant(*ms, p.offset_min);
  return "?";
}

std::string swatch(std::string_view state) {
  return fmt::format(
      "<svg class=\"swatch\" width=\"10\" height=\"10\" viewBox=\"0 0 10 10\"><rect width=\"10\" "
      "height=\"10\" fill=\"{}\"/></svg>",
      state_colour(state));
}

std::string coverage_line(const Json& report, const Period& p) {
  const Json* cov = field(report, "coverage");
  if (cov == nullptr) return "not given";
  const auto measured = number(*cov, "measured_ms");
  const auto unmeasured = number(*cov, "unmeasured_ms");
  auto share = [&](std::optional<double> v) {
    return v && p.valid() ? fmt::format(" ({:.1f} %)", 100.0 * *v / p.length()) : "";
  };
  return fmt::format("measured {}{}; unmeasured {}{}, never counted as up",
                     measured ? format_duration(*measured) : "?", share(measured),
                     unmeasured ? format_duration(*unmeasured) : "?", share(unmeasured));
}

std::int64_t incident_start(const Json& i) {
  for (auto key : {"impairment", "detection"})
    if (const Json* span = field(i, key))
      if (const auto ms = integer(*span, "start_ms")) return *ms;
  return 0;
}

std::string incident_when(const Json& i, const Period& p) {
  const Json* imp = field(i, "impairment");
  if (imp == nullptr) return "?";
  std::string out = when(*imp, "start", "start_ms", p);
  // (-1 sentinels rather than optionals: gcc 12 warns falsely on the latter.)
  const Json* det = field(i, "detection");
  const std::int64_t detected = det ? integer(*det, "start_ms").value_or(-1) : -1;
  const std::int64_t start = integer(*imp, "start_ms").value_or(-1);
  if (detected >= 0 && start >= 0 && detected >= start)
    out += "<br><small>detected after " + format_duration(static_cast<double>(detected - start)) +
           "</small>";
  return out;
}

std::string incident_duration(const Json& i) {
  const Json* imp = field(i, "impairment");
  if (imp == nullptr) return "?";
  double d = number(*imp, "duration_ms").value_or(-1);
  if (d < 0 && number(*imp, "start_ms") && number(*imp, "end_ms"))
    d = number(*imp, "end_ms").value_or(0) - number(*imp, "start_ms").value_or(0);
  std::string out = d >= 0 ? format_duration(d) : "?";
  const double in_period = number(i, "down_ms_in_period").value_or(-1);
  if (in_period >= 0 && d >= 0 && in_period != d && boolean(i, "counted").value_or(true))
    out += "<br><small>" + format_duration(in_period) + " in period</small>";
  return out;
}

std::string incident_notes(const Json& i) {
  std::vector<std::string> notes;
  if (boolean(i, "array_wide").value_or(false)) notes.push_back("<b>array-wide</b>");
  if (boolean(i, "ongoing").value_or(false)) notes.push_back("<b>ongoing</b>");
  if (!boolean(i, "counted").value_or(true)) notes.push_back("not counted as down");
  if (const std::string b = text(i, "basis"); !b.empty()) notes.push_back("basis: " + escape(b));
  if (const std::string c = text(i, "closed_by"); !c.empty() && c != "recovered")
    notes.push_back("closed by " + escape(c));
  std::string out;
  for (const auto& n : notes) out += (out.empty() ? "" : "<br>") + n;
  return out;
}

std::string incident_row(const Json& i, int n, const Period& p) {
  const std::string worst = text(i, "worst_state", "?");
  const std::string first = text(i, "first_state");
  std::string state = swatch(worst) + " " + escape(worst);
  if (!first.empty() && first != worst) state += "<br><small>first " + escape(first) + "</small>";
  std::string errors = group_thousands(integer(i, "io_errors").value_or(0));
  if (const auto c = integer(i, "canary_failures"); c && *c > 0)
    errors += fmt::format("<br><small>{} canary</small>", group_thousands(*c));
  const auto peak = number(i, "peak_oldest_ms");
  const auto maxlat = number(i, "max_latency_ms");
  const std::string array = array_of(i);
  return fmt::format(
      "<tr class=\"incident{}\"><td class=\"num\">{}</td><td class=\"when\">{}</td>"
      "<td class=\"dur\">{}</td><td>{}<br>"
      "<small>{}</small></td><td>{}</td><td class=\"state\">{}</td><td class=\"num\">{}</td>"
      "<td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td><td class=\"mono "
      "ports\">{}</td>"
      "<td>{}</td></tr>\n",
      boolean(i, "counted").value_or(true) ? "" : " not-counted", n, incident_when(i, p),
      incident_duration(i), escape(incident_target(i)), escape(text(i, "host")),
      array.empty() ? "unknown array" : escape(array), state, peak ? format_duration(*peak) : "",
      maxlat ? format_duration(*maxlat) : "", errors, join(strings(i, "paths"), ", "),
      join(strings(i, "target_ports"), "<br>"), incident_notes(i));
}

std::string runs_table(const Json& cov, const Period& p) {
  const auto runs = elements(cov, "runs");
  if (runs.empty()) return "<p>No agent runs listed.</p>\n";
  std::string out =
      "<table class=\"runs\"><thead><tr><th>run</th><th>host</th><th>start</th><th>end</th>"
      "<th>ended by</th></tr></thead><tbody>\n";
  for (const Json* r : runs)
    out += fmt::format(
        "<tr><td class=\"mono\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
        escape(text(*r, "run_id")), escape(text(*r, "host")), when(*r, "start", "start_ms", p),
        when(*r, "end_iso", "end_ms", p), escape(text(*r, "end")));
  return out + "</tbody></table>\n";
}

std::string gaps_list(const Json& cov, const Period& p) {
  const auto gaps = elements(cov, "gaps");
  if (gaps.empty()) return "<p>No unmeasured gaps.</p>\n";
  std::string out = "<ul class=\"gaps\">\n";
  for (const Json* g : gaps) {
    const auto a = integer(*g, "start_ms"), b = integer(*g, "end_ms");
    out += fmt::format("<li>{} \u2013 {} ({})</li>\n", when(*g, "start", "start_ms", p),
                       when(*g, "end", "end_ms", p),
                       a && b ? format_duration(static_cast<double>(*b - *a)) : "?");
  }
  return out + "</ul>\n";
}

std::string rules_list(const Json& report) {
  const Json* r = field(report, "rules");
  std::string out = "<ul class=\"rules\">\n";
  if (r != nullptr) {
    if (const auto d = text(*r, "down"); !d.empty()) out += "<li>" + escape(d) + "</li>\n";
    if (const auto u = text(*r, "unmeasured"); !u.empty()) out += "<li>" + escape(u) + "</li>\n";
    out += fmt::format("<li>Down states: {}; slow counted as down: {}.</li>\n",
                       join(strings(*r, "down_states"), ", "),
                       boolean(*r, "count_slow").value_or(false) ? "yes" : "no");
  }
  return out +
         "<li>Availability = (measured \u2212 down) / measured; nines = \u2212log10(1 \u2212 "
         "availability). A claim of P % allows (1 \u2212 P/100) \u00d7 the period's length of "
         "downtime.</li>\n</ul>\n";
}

// A report computed from Prometheus (report --prometheus) says so: what it
// asked, and that it is a cross-check of the ledgers.
std::string source_line(const Json& report) {
  const Json* src = field(report, "source");
  if (src == nullptr) return {};
  std::string out = escape(text(*src, "kind", "?")) + " <span class=\"mono\">" +
                    escape(text(*src, "url")) + "</span>";
  if (const std::string sel = text(*src, "selector"); !sel.empty())
    out += " {<span class=\"mono\">" + escape(sel) + "</span>}";
  if (const auto step = number(*src, "step_ms")) out += ", step " + format_duration(*step);
  if (const std::string note = text(*src, "note"); !note.empty())
    out += ": <b>" + escape(note) + "</b>";
  return out;
}

std::string source_evidence(const Json& src) {
  std::string out = "<h2>Evidence</h2>\n<dl class=\"facts\">";
  out += fmt::format("<dt>source</dt><dd class=\"mono\">{} {}</dd>", escape(text(src, "kind")),
                     escape(text(src, "url")));
  for (const std::string& q : strings(src, "queries"))
    out += "<dt>query</dt><dd class=\"mono\">" + escape(q) + "</dd>";
  return out + "</dl>\n";
}

}  // namespace

std::string incident_target(const Json& i) {
  if (std::string t = text(i, "target"); !t.empty()) return t;
  if (const Json* id = field(i, "identity"))
    for (auto key : {"dm_name", "kernel_name", "device"})
      if (std::string v = text(*id, key); !v.empty()) return v;
  return "?";
}

std::string header_section(const Json& report, const Period& p, IdSource& ids) {
  const Json* per = field(report, "period");
  const auto claim = claim_of(report, p);
  std::string period = "not given";
  if (p.valid())
    period = fmt::format("{} \u2013 {} ({})",
                         per ? when(*per, "from", "from_ms", p) : format_instant(p.from_ms, 0),
                         per ? when(*per, "to", "to_ms", p) : format_instant(p.to_ms, 0),
                         format_duration(p.length()));
  const std::string claim_text =
      claim ? fmt::format("{} % (allows {} of downtime in the period)", claim->percent,
                          format_duration(claim->allowed_down_ms))
            : "none";
  const std::string source = source_line(report);
  return fmt::format(
      "<header><h1>sanwatch availability report</h1>\n<dl class=\"facts\">"
      "<dt>period</dt><dd>{}</dd><dt>hosts</dt><dd>{}</dd><dt>claim</dt><dd>{}</dd>"
      "<dt>coverage</dt><dd>{}</dd><dt>grouped by</dt><dd>{}</dd><dt>generated</dt><dd>{}</dd>{}"
      "</dl></header>\n<section class=\"overview\"><h2>Overview</h2>\n{}{}</section>\n",
      period, join(strings(report, "hosts"), ", "), escape(claim_text), coverage_line(report, p),
      escape(text(report, "by", "map")), escape(readable_iso(text(report, "generated", "?"))),
      source.empty() ? "" : "<dt>source</dt><dd>" + source + "</dd>", overview_table(report, p),
      state_legend(ids));
}

std::string incidents_section(const Json& report, const Period& p) {
  std::vector<const Json*> incidents;
  for (const Json* i : elements(report, "incidents"))
    if (i->is_object()) incidents.push_back(i);
  std::stable_sort(incidents.begin(), incidents.end(), [](const Json* a, const Json* b) {
    return incident_start(*a) < incident_start(*b);
  });
  std::string out = "<section class=\"incidents\"><h2>Incidents</h2>\n";
  if (incidents.empty())
    return out + "<p class=\"empty\">No incidents in the period.</p></section>\n";
  out +=
      "<table class=\"incidents\"><thead><tr><th>#</th><th>start</th><th>duration</th>"
      "<th>target</th><th>array</th><th>worst state</th><th>peak outstanding age</th>"
      "<th>max latency</th><th>I/O errors</th><th>paths</th><th>target ports</th><th>notes</th>"
      "</tr></thead><tbody>\n";
  int n = 0;
  for (const Json* i : incidents) out += incident_row(*i, ++n, p);
  return out + "</tbody></table></section>\n";
}

std::string baseline_section(const Json& report, const Period& p) {
  const Json* drift = field(report, "baseline");
  std::string rows;
  for (const Json* t : drift ? elements(*drift, "targets") : std::vector<const Json*>{})
    for (const Json* w : elements(*t, "weeks")) {
      const auto start = integer(*w, "start_ms");
      rows += fmt::format(
          "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"num\">{}</td>"
          "<td class=\"num\">{}</td><td class=\"num\">{}</td></tr>\n",
          escape(text(*t, "target")), escape(text(*t, "host")), escape(text(*w, "week")),
          start ? format_instant(*start, p.offset_min) : "?",
          format_duration(number(*w, "degraded_ms").value_or(0)),
          fmt::format("{:.1f}&times;", number(*w, "peak_ratio").value_or(0)),
          escape(text(*w, "episodes")));
    }
  if (rows.empty()) return {};
  return "<section class=\"baseline\"><h2>Weeks above baseline</h2>\n<p>" +
         escape(text(*drift, "rule")) +
         " Latency drift is not counted as down.</p>\n<table class=\"baseline\"><thead><tr>"
         "<th>target</th><th>host</th><th>week</th><th>from</th><th>degraded</th>"
         "<th>peak ratio</th><th>episodes</th></tr></thead><tbody>\n" +
         rows + "</tbody></table></section>\n";
}

std::string evidence_section(const Json& report, const Period& p) {
  std::string out = "<footer class=\"evidence\"><h2>Accounting rules</h2>\n" + rules_list(report);
  out += "<h2>Coverage</h2>\n<p>" + coverage_line(report, p) + "</p>\n";
  if (const Json* cov = field(report, "coverage")) out += runs_table(*cov, p) + gaps_list(*cov, p);
  if (const Json* src = field(report, "source"))
    return out + source_evidence(*src) +
           "<p>Computed from the agents' counters as Prometheus stored them: a cross-check of "
           "the per-host ledgers, which remain the evidence.</p></footer>\n";
  out += "<h2>Evidence</h2>\n<dl class=\"facts\">";
  const Json* ledger = field(report, "ledger");
  out += fmt::format("<dt>ledger</dt><dd class=\"mono\">{}</dd>",
                     escape(ledger ? text(*ledger, "path", "?") : "?"));
  if (const Json* heads = ledger ? field(*ledger, "heads") : nullptr; heads && heads->is_object())
    for (const auto& [chain, hash] : heads->items())
      out += fmt::format(
          "<dt>{} chain head</dt><dd class=\"mono\">{}</dd>", escape(chain),
          escape(hash.is_string() ? hash.get<std::string>()
                                  : hash.dump(-1, ' ', false, Json::error_handler_t::replace)));
  out += fmt::format("<dt>schema</dt><dd class=\"mono\">{}</dd></dl>\n",
                     escape(text(report, "schema", "?")));
  return out +
         "<p>The chain heads identify the ledger rows this report was computed from; "
         "<code>sanwatch report verify</code> re-checks the hash chains.</p></footer>\n";
}

}  // namespace sanwatch::html
