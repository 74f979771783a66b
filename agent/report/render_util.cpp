// SPDX-License-Identifier: Apache-2.0
#include "report/render_util.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "base/duration.h"
#include "report/period.h"

namespace sanwatch {
namespace {

std::size_t width(const std::string& s) {
  return static_cast<std::size_t>(
      std::count_if(s.begin(), s.end(), [](char c) { return (c & 0xC0) != 0x80; }));
}

std::string str_of(const nlohmann::json& o, const char* key) {
  const auto it = o.find(key);
  return it != o.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// Why an incident's end is not a recovery.
std::string end_note(const nlohmann::json& inc) {
  const std::string by = str_of(inc, "closed_by");
  if (by == "unclean_end") return " (agent died)";
  if (by == "open") return " (still open)";
  if (by == "agent_stop" && inc.value("ongoing", false)) return " (agent stopped)";
  return {};
}

}  // namespace

std::string human_ms(std::int64_t ms) {
  if (ms < 0) return "-" + human_ms(-ms);
  if (ms < 1000) return fmt::format("{} ms", ms);
  if (ms < 10'000) return fmt::format("{:.1f} s", static_cast<double>(ms) / 1000.0);
  const std::int64_t s = ms / 1000;
  if (s < 60) return fmt::format("{} s", s);
  const std::int64_t d = s / 86400, h = s / 3600 % 24, m = s / 60 % 60, sec = s % 60;
  if (d && !h && !m && !sec) return fmt::format("{} day{}", d, d == 1 ? "" : "s");
  std::string out;
  const auto part = [&](std::int64_t v, const char* unit, bool lead) {
    out += lead ? fmt::format("{} {}", v, unit) : fmt::format(" {:02} {}", v, unit);
  };
  if (d) part(d, "d", true);
  if (d || h) part(h, "h", !d);
  if ((!d && !h) || m || sec) part(m, "min", !d && !h);
  if (sec) part(sec, "s", false);
  return out;
}

std::string percent_text(const nlohmann::json& a, const nlohmann::json& nines) {
  if (!a.is_number()) return "-";
  const double n = nines.is_number() ? nines.get<double>() : 0;
  const int decimals = std::clamp(static_cast<int>(std::ceil(n)) - 1, 2, 9);
  const double scale = std::pow(10.0, decimals);
  // Truncate: 99.99996 must not read as 100.0000.
  const double t = std::floor(a.get<double>() * scale * (1 + 1e-15)) / scale;
  return fmt::format("{:.{}f} %", t, decimals);
}

std::string share_text(const nlohmann::json& p) {
  if (!p.is_number()) return "-";
  return fmt::format("{:.2f} %", std::floor(p.get<double>() * 100 * (1 + 1e-15)) / 100);
}

std::string nines_text(const nlohmann::json& n) {
  if (n.is_string()) return n.get<std::string>();
  if (!n.is_number()) return "-";
  return fmt::format("{:.1f}", std::floor(n.get<double>() * 10 * (1 + 1e-15)) / 10);
}

std::string local_text(const nlohmann::json& o, const char* key) {
  const auto it = o.find(key);
  return it != o.end() && it->is_number_integer() ? format_local(it->get<std::int64_t>()) : "-";
}

std::string int_text(const nlohmann::json& o, const char* key) {
  const auto it = o.find(key);
  return it != o.end() && it->is_number_integer() ? std::to_string(it->get<std::int64_t>()) : "-";
}

std::string joined(const nlohmann::json& arr, const char* sep) {
  std::string out;
  if (!arr.is_array()) return out;
  for (const auto& v : arr)
    if (v.is_string()) out += (out.empty() ? "" : sep) + v.get<std::string>();
  return out;
}

std::string table(const std::vector<std::string>& header,
                  const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::size_t> w(header.size());
  for (std::size_t i = 0; i < header.size(); ++i) w[i] = width(header[i]);
  for (const auto& r : rows)
    for (std::size_t i = 0; i < r.size() && i < w.size(); ++i) w[i] = std::max(w[i], width(r[i]));
  std::string out;
  const auto line = [&](const std::vector<std::string>& r) {
    std::string l;
    for (std::size_t i = 0; i < r.size() && i < w.size(); ++i)
      l += r[i] + (i + 1 < r.size() ? std::string(w[i] - width(r[i]) + 2, ' ') : "");
    out += l + "\n";
  };
  line(header);
  for (const auto& r : rows) line(r);
  return out;
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\r\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

std::vector<std::string> incident_header() {
  return {"START",       "END",         "DURATION", "TARGET", "ARRAY", "WORST",
          "PEAK OLDEST", "MAX LATENCY", "ERRORS",   "PATHS",  "PORTS", "DOWN IN PERIOD"};
}

std::vector<std::string> incident_cells(const nlohmann::json& inc) {
  const nlohmann::json imp =
      inc.contains("impairment") ? inc["impairment"] : nlohmann::json::object();
  const auto ms = [&](const char* key) {
    const auto it = inc.find(key);
    return it != inc.end() && it->is_number_integer() ? human_ms(it->get<std::int64_t>()) : "-";
  };
  std::string errors = int_text(inc, "io_errors");
  if (inc.contains("canary_failures") && inc["canary_failures"] != 0)
    errors += fmt::format(" (+{} canary)", int_text(inc, "canary_failures"));
  std::string down = inc.value("counted", false) ? ms("down_ms_in_period") : "not counted";
  if (inc.value("array_wide", false)) down += ", array-wide";
  const std::int64_t dur =
      imp.value("end_ms", std::int64_t{0}) - imp.value("start_ms", std::int64_t{0});
  return {local_text(imp, "start_ms"),
          local_text(imp, "end_ms") + end_note(inc),
          human_ms(dur),
          str_of(inc, "target"),
          str_of(inc, "array").empty() ? "-" : str_of(inc, "array"),
          str_of(inc, "worst_state"),
          ms("peak_oldest_ms"),
          ms("max_latency_ms"),
          errors,
          joined(inc.value("paths", nlohmann::json::array()), " "),
          joined(inc.value("target_ports", nlohmann::json::array()), " "),
          down};
}

}  // namespace sanwatch

namespace sanwatch {
namespace {

std::int64_t i64_of(const nlohmann::json& o, const char* key) {
  const auto it = o.find(key);
  return it != o.end() && it->is_number_integer() ? it->get<std::int64_t>() : 0;
}

std::string ms_text(const nlohmann::json& o, const char* key) {
  const auto it = o.find(key);
  return it != o.end() && it->is_number_integer() ? human_ms(it->get<std::int64_t>()) : "-";
}

}  // namespace

std::vector<std::string> target_header() {
  return {"TARGET", "TYPE", "ARRAY", "AVAILABILITY", "NINES", "DOWN", "UNMEASURED", "INCIDENTS"};
}

Rows target_rows(const nlohmann::json& report) {
  Rows rows;
  for (const auto& t : report.value("targets", nlohmann::json::array())) {
    const std::string array = str_of(t, "array");
    std::string name = str_of(t, "target");
    if (report.contains("arrays")) name = str_of(t, "host") + ":" + name;  // merged: per host
    rows.push_back({name, str_of(t, "target_type"), array.empty() ? "-" : array,
                    percent_text(t.value("availability_percent", nlohmann::json()),
                                 t.value("nines", nlohmann::json())),
                    nines_text(t.value("nines", nlohmann::json())), ms_text(t, "down_ms"),
                    ms_text(t, "unmeasured_ms"), int_text(t, "incidents")});
  }
  return rows;
}

std::vector<std::string> latency_header() {
  return {"TARGET", "SLO", "I/Os", "UNDER", "TARGET %", "MET", "MINUTES MET"};
}

Rows latency_rows(const nlohmann::json& report) {
  Rows rows;
  for (const auto& t : report.value("targets", nlohmann::json::array()))
    for (const auto& l : t.value("latency", nlohmann::json::array())) {
      const nlohmann::json met = l.value("met", nlohmann::json());
      rows.push_back({str_of(t, "target"),
                      "<= " + format_duration(Duration(l.value("threshold_ns", std::int64_t{0}))),
                      int_text(l, "ios"),
                      share_text(l.value("share_under_percent", nlohmann::json())),
                      fmt::format("{} %", l.value("target_percent", 0.0)),
                      met.is_boolean() ? (met.get<bool>() ? "yes" : "NO") : "-",
                      fmt::format("{}/{} ({})", int_text(l, "minutes_met"), int_text(l, "minutes"),
                                  share_text(l.value("minutes_met_percent", nlohmann::json())))});
    }
  return rows;
}

std::vector<std::string> baseline_header() {
  return {"TARGET", "HOST", "WEEK", "FROM", "DEGRADED", "PEAK RATIO", "EPISODES"};
}

Rows baseline_rows(const nlohmann::json& report) {
  Rows rows;
  const auto drift = report.value("baseline", nlohmann::json::object());
  for (const auto& t : drift.value("targets", nlohmann::json::array()))
    for (const auto& w : t.value("weeks", nlohmann::json::array()))
      rows.push_back({str_of(t, "target"), str_of(t, "host"), str_of(w, "week"),
                      local_text(w, "start_ms"), human_ms(w.value("degraded_ms", std::int64_t{0})),
                      fmt::format("{:.1f}x", w.value("peak_ratio", 0.0)), int_text(w, "episodes")});
  return rows;
}

std::vector<std::string> array_header() {
  return {"ARRAY",     "HOSTS",           "AVAILABILITY",
          "NINES",     "DOWN (ANY HOST)", "DOWN ON >= 2 HOSTS",
          "INCIDENTS", "ARRAY-WIDE"};
}

Rows array_rows(const nlohmann::json& report) {
  Rows rows;
  for (const auto& a : report.value("arrays", nlohmann::json::array()))
    rows.push_back({array_text(a), joined(a.value("hosts", nlohmann::json::array()), ", "),
                    percent_text(a.value("availability_percent", nlohmann::json()),
                                 a.value("nines", nlohmann::json())),
                    nines_text(a.value("nines", nlohmann::json())), ms_text(a, "down_ms"),
                    ms_text(a, "array_wide_down_ms"), int_text(a, "incidents"),
                    int_text(a, "array_wide_incidents")});
  return rows;
}

std::string claim_text(const nlohmann::json& report) {
  const auto c = report.value("claim", nlohmann::json());
  if (!c.is_object()) return {};
  return fmt::format(
      "{} % allows {} in {}", c.value("percent", 0.0), human_ms(i64_of(c, "allowed_down_ms")),
      human_ms(i64_of(report.value("period", nlohmann::json::object()), "length_ms")));
}

std::string claim_verdict(const nlohmann::json& t) {
  const auto meets = t.value("meets_claim", nlohmann::json());
  if (!meets.is_boolean()) return {};
  std::string out = fmt::format("measured {} down: ", human_ms(i64_of(t, "down_ms")));
  if (!meets.get<bool>()) return out + "NOT MET";
  if (t.value("claim_proven", false)) return out + "met";
  return out + fmt::format("met on measured time, not proven ({} unmeasured)",
                           human_ms(i64_of(t, "unmeasured_ms")));
}

std::string coverage_text(const nlohmann::json& report) {
  const auto c = report.value("coverage", nlohmann::json::object());
  const auto runs = c.value("runs", nlohmann::json::array());
  int unclean = 0, open = 0;
  for (const auto& r : runs) {
    unclean += r.value("end", "") == "unclean";
    open += r.value("end", "") == "open";
  }
  std::string out =
      fmt::format("measured {} of {}; unmeasured {} in {} gap{}", ms_text(c, "measured_ms"),
                  ms_text(report.value("period", nlohmann::json::object()), "length_ms"),
                  ms_text(c, "unmeasured_ms"), c.value("gaps", nlohmann::json::array()).size(),
                  c.value("gaps", nlohmann::json::array()).size() == 1 ? "" : "s");
  if (report.contains("source")) return out + " (any host)";  // no runs: from Prometheus
  out += fmt::format("; {} run{}", runs.size(), runs.size() == 1 ? "" : "s");
  if (unclean || open)
    out += fmt::format(" ({} ended uncleanly, {} without an end)", unclean, open);
  return out;
}

std::string period_text(const nlohmann::json& report) {
  const auto p = report.value("period", nlohmann::json::object());
  return fmt::format("{} .. {} ({})", local_text(p, "from_ms"), local_text(p, "to_ms"),
                     ms_text(p, "length_ms"));
}

std::string hosts_text(const nlohmann::json& report) {
  const std::string h = joined(report.value("hosts", nlohmann::json::array()), ", ");
  return h.empty() ? "(no host)" : h;
}

std::string source_text(const nlohmann::json& report) {
  const auto it = report.find("source");
  if (it == report.end() || !it->is_object()) return {};
  const nlohmann::json& s = *it;
  std::string out = str_of(s, "kind") == "prometheus" ? "Prometheus" : str_of(s, "kind");
  out += " " + str_of(s, "url");
  if (const std::string sel = str_of(s, "selector"); !sel.empty()) out += " {" + sel + "}";
  if (const auto step = s.find("step_ms"); step != s.end() && step->is_number_integer())
    out += ", step " + human_ms(step->get<std::int64_t>());
  if (const std::string note = str_of(s, "note"); !note.empty()) out += ": " + note;
  return out;
}

std::string array_text(const nlohmann::json& a) {
  const std::string name = str_of(a, "array"), id = str_of(a, "array_id");
  if (name.empty() && id.empty()) return "(unknown array)";
  return name + (name.empty() || id.empty() ? "" : " ") + id;
}

}  // namespace sanwatch
