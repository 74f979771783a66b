// SPDX-License-Identifier: Apache-2.0
// The HTML report page rendered from report JSON: every incident row, every
// outside string escaped, nothing that runs or fetches, and no crash on a
// sparse or empty report. (The real-browser rendering is checked by
// tests/integration/html_report_test.cpp.)
#include "report/html/report_html.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <cctype>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <string>

#include "report/html/html_text.h"

using nlohmann::json;
using sanwatch::render_report_html;

namespace {

json sample_report() {
  std::ifstream f(SANWATCH_FIXTURES "/report/sample-report.json");
  REQUIRE(f);
  return json::parse(f);
}

std::size_t count(const std::string& hay, const std::string& needle) {
  std::size_t n = 0;
  for (auto p = hay.find(needle); p != std::string::npos; p = hay.find(needle, p + 1)) ++n;
  return n;
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

// Nothing that executes or loads: no script, no external URL, no link or
// import; url() only for the page's own SVG patterns.
void check_self_contained(const std::string& page) {
  const std::string p = lower(page);
  CHECK(p.find("<script") == std::string::npos);
  CHECK(p.find("http://") == std::string::npos);
  CHECK(p.find("https://") == std::string::npos);
  CHECK(p.find(" src=") == std::string::npos);
  CHECK(p.find("<link") == std::string::npos);
  CHECK(p.find("@import") == std::string::npos);
  CHECK(p.find("javascript:") == std::string::npos);
  // No event handler attribute (onload=, onerror=, ...) inside any tag.
  CHECK(!std::regex_search(p, std::regex("<[^>]*\\son[a-z]+\\s*=")));
  for (auto u = p.find("url("); u != std::string::npos; u = p.find("url(", u + 1))
    CHECK(p.compare(u, 5, "url(#") == 0);
}

}  // namespace

TEST_CASE("HTML report: every incident of the fixture is a row, in time order") {
  const json report = sample_report();
  const std::string page = render_report_html(report);
  const auto& incidents = report["incidents"];
  REQUIRE(incidents.size() == 9);
  CHECK(count(page, "<tr class=\"incident") == incidents.size());
  // Each row shows its start as given (the JSON's local time with offset).
  std::size_t last = 0;
  for (const auto& i : incidents) {
    const std::string start =
        sanwatch::html::readable_iso(i["impairment"]["start"].get<std::string>());
    const auto at = page.find(start);
    INFO(start);
    REQUIRE(at != std::string::npos);
    CHECK(at > last);  // the fixture lists them in time order
    last = at;
  }
  CHECK(page.find("14 h 02 min 17 s") != std::string::npos);  // the outage's duration
  CHECK(count(page, "<b>array-wide</b>") == 2);
  CHECK(count(page, "not counted as down") == 2);
}

TEST_CASE("HTML report: arrays, LUN bands, availability against the claim, latency rows") {
  const std::string page = render_report_html(sample_report());
  CHECK(count(page, "<section class=\"array\">") == 2);
  CHECK(page.find("<h2>3PARdata VV</h2>") < page.find("<h2>PURE FlashArray</h2>"));
  CHECK(count(page, "<svg class=\"band\"") == 3);
  CHECK(count(page, "<svg class=\"avail\"") == 3);
  CHECK(count(page, "<table class=\"latency\">") == 2);  // mpathb has no latency rows
  CHECK(page.find("claim 99.9999 % allows 2.6 s") != std::string::npos);
  CHECK(page.find("97.94 %") != std::string::npos);
  // mpatha's 14 h stall starts at 40 % of the period: x = 400 of 1000 px,
  // drawn in the stalled colour; the unmeasured gap (60-65 %) is hatched.
  CHECK(page.find("<rect x=\"400.00\" y=\"0\" width=\"19.50\" height=\"26\" fill=\"#D55E00\">") !=
        std::string::npos);
  CHECK(page.find("<rect x=\"600.00\" y=\"0\" width=\"50.00\" height=\"26\" fill=\"url(#hatch-") !=
        std::string::npos);
  // Chain heads and rules in the evidence footer.
  CHECK(page.find("9b1f0e6c2a7d4e8f3b5a1c9d0e2f4a6b8c0d1e3f5a7b9c2d4e6f8a0b1c3d5e7f") !=
        std::string::npos);
  CHECK(page.find("never counted as up") != std::string::npos);
  check_self_contained(page);
}

TEST_CASE("HTML report: strings from outside are escaped") {
  json report = sample_report();
  const std::string evil = "<script>alert(1)</script>";
  report["targets"][0]["target"] = evil;
  report["targets"][1]["host"] = "db2\" onmouseover=\"alert(2)";
  report["targets"][2]["array"] = "<img src=x onerror=alert(3)>";
  report["incidents"][0]["identity"]["dm_name"] = evil;
  report["incidents"][0]["paths"] = json::array({"sdb'><svg onload=alert(4)>"});
  report["hosts"] = json::array({evil});
  report["ledger"]["heads"]["<b>x</b>"] = evil;
  report["rules"]["down"] = "a & b < c";
  const std::string page = render_report_html(report);
  CHECK(page.find("&lt;script&gt;alert(1)&lt;/script&gt;") != std::string::npos);
  CHECK(page.find("&lt;img src=x onerror=alert(3)&gt;") != std::string::npos);
  CHECK(page.find("db2&quot; onmouseover=&quot;alert(2)") != std::string::npos);
  CHECK(page.find("sdb&#39;&gt;&lt;svg onload=alert(4)&gt;") != std::string::npos);
  CHECK(page.find("a &amp; b &lt; c") != std::string::npos);
  CHECK(lower(page).find("<script") == std::string::npos);
  CHECK(lower(page).find("<img") == std::string::npos);
  CHECK(page.find("<svg onload") == std::string::npos);
  CHECK(page.find("\" onmouseover") == std::string::npos);
}

TEST_CASE("HTML report: empty and malformed reports still render") {
  for (const json& r : {json::object(), json(), json::array({1, 2}), json("x"),
                        json{{"schema", "sanwatch.report/v1"},
                             {"targets", json::array()},
                             {"incidents", json::array()}},
                        json{{"targets", 7},
                             {"incidents", "none"},
                             {"period", {{"from_ms", "x"}}},
                             {"claim", {{"percent", "high"}}},
                             {"coverage", json::array()}}}) {
    INFO(r.dump());
    std::string page;
    REQUIRE_NOTHROW(page = render_report_html(r));
    CHECK(page.rfind("<!DOCTYPE html>", 0) == 0);
    CHECK(page.find("</html>") != std::string::npos);
    CHECK(page.find("No targets in this report.") != std::string::npos);
    CHECK(page.find("No incidents in the period.") != std::string::npos);
    check_self_contained(page);
  }
}

TEST_CASE("HTML report: optional parts missing") {
  json report = sample_report();
  report.erase("claim");
  report.erase("arrays");
  report.erase("ledger");
  for (auto& t : report["targets"]) {
    t.erase("latency");
    t.erase("meets_claim");
    t.erase("nines");
  }
  report["targets"][2].erase("array");
  report["targets"][2].erase("timeline");
  report["targets"][0]["down_ms"] = 0;
  report["targets"][0]["availability_percent"] = 100;
  for (auto& i : report["incidents"]) i.erase("detection");
  const std::string page = render_report_html(report);
  CHECK(page.find("no availability claim given") != std::string::npos);
  CHECK(page.find("<h2>unknown array</h2>") != std::string::npos);
  CHECK(page.find("no timeline in the report") != std::string::npos);
  CHECK(page.find("<table class=\"latency\">") == std::string::npos);
  CHECK(page.find("\u221e") != std::string::npos);  // nines when nothing was down
  CHECK(page.find("1.69") != std::string::npos);    // nines derived from the percentage
  CHECK(count(page, "<tr class=\"incident") == 9);
  check_self_contained(page);
}

TEST_CASE("HTML report: durations, percentages and times written out") {
  using namespace sanwatch::html;
  CHECK(format_duration(50'537'000) == "14 h 02 min 17 s");
  CHECK(format_duration(2'592) == "2.6 s");
  CHECK(format_duration(8'000) == "8 s");
  CHECK(format_duration(412) == "412 ms");
  CHECK(format_duration(192'400) == "3 min 12 s");
  CHECK(format_duration(30.0 * 86'400'000) == "30 d");
  CHECK(format_duration(2'462'400'000) == "28 d 12 h");
  CHECK(format_duration(86'400'000 + 5 * 60'000) == "1 d 0 h 05 min");
  CHECK(format_duration(-1) == "?");
  CHECK(format_percent(99.9979354) == "99.99794");
  CHECK(format_percent(100) == "100");
  CHECK(format_percent(97.94) == "97.94");
  CHECK(group_thousands(41234567) == "41,234,567");
  CHECK(group_thousands(-1000) == "-1,000");
  CHECK(utc_offset_minutes("2026-11-01T00:00:00+01:00") == 60);
  CHECK(utc_offset_minutes("2026-07-01T00:00:00-04:30") == -270);
  CHECK(utc_offset_minutes("2026-11-01T00:00:00Z") == 0);
  CHECK(!utc_offset_minutes("garbage"));
  CHECK(format_instant(1793487600000, 60) == "2026-11-01 00:00:00 +01:00");
  CHECK(readable_iso("2026-11-04T09:36:00.123+01:00") == "2026-11-04 09:36:00.123 +01:00");
  CHECK(readable_iso("2026-11-04T09:36:00Z") == "2026-11-04 09:36:00 UTC");
  CHECK(escape("<a href='x'>&\"\x01") == "&lt;a href=&#39;x&#39;&gt;&amp;&quot;");
}
