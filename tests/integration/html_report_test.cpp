// SPDX-License-Identifier: Apache-2.0
// The HTML report in a real browser: Debian's Chromium, headless, renders
// the fixture report (tests/fixtures/report/sample-report.json) to a PNG and
// to its DOM; the test checks the screenshot's size, that the page is not
// blank, and that each timeline band shows the documented state colours at
// the x positions where the fixture puts the states (layout.h geometry).
// No root needed; without Chromium it skips (or fails under
// SANWATCH_REQUIRE_PRIVILEGED_TESTS=1). With SANWATCH_REPORT_SCREENSHOT=path
// the screenshot is also copied there (docs/report-screenshot.png).
#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "png_image.h"
#include "privileged.h"
#include "process.h"
#include "report/html/layout.h"
#include "report/html/report_html.h"
#include "test_util.h"

using nlohmann::json;
using sanwatch::test::Rgb;
using sanwatch::test::RgbImage;
using sanwatch::test::TempDir;
namespace layout = sanwatch::html;

namespace {

constexpr int kWindowWidth = 1200;
constexpr int kWindowHeight = 1800;
constexpr auto kBrowserTimeout = std::chrono::seconds(90);
constexpr const char* kWhat = "the HTML report browser test";

// The documented palette (README, layout.h), spelled out here again so a
// changed or swapped colour in the renderer fails the test.
const std::map<std::string, Rgb>& palette() {
  static const std::map<std::string, Rgb> p = {
      {"ok", {0x00, 0x9E, 0x73}},      {"degraded", {0x56, 0xB4, 0xE9}},
      {"slow", {0xF0, 0xE4, 0x42}},    {"flapping", {0xE6, 0x9F, 0x00}},
      {"stalled", {0xD5, 0x5E, 0x00}}, {"failed", {0xCC, 0x79, 0xA7}},
      {"down", {0x00, 0x00, 0x00}},    {"gone", {0x00, 0x72, 0xB2}}};
  return p;
}
constexpr Rgb kHatchStripe = {0x8C, 0x8C, 0x8C};
constexpr Rgb kHatchBackground = {0xE6, 0xE6, 0xE6};
constexpr Rgb kWhite = {0xFF, 0xFF, 0xFF};

bool near(Rgb a, Rgb b, int tolerance = 3) {
  for (int c = 0; c < 3; ++c)
    if (std::abs(a[c] - b[c]) > tolerance) return false;
  return true;
}

std::string hex(Rgb c) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "#%02X%02X%02X", c[0], c[1], c[2]);
  return buf;
}

json sample_report() {
  std::ifstream f(SANWATCH_FIXTURES "/report/sample-report.json");
  REQUIRE(f);
  return json::parse(f);
}

// Writes the rendered page into dir and returns its file:// URL.
std::string write_page(const TempDir& dir, const json& report) {
  const std::string path = dir.path() + "/report.html";
  std::ofstream(path) << sanwatch::render_report_html(report);
  return "file://" + path;
}

sanwatch::test::CommandResult chromium(const TempDir& dir, const std::string& headless,
                                       const std::vector<std::string>& args) {
  // A private HOME and profile: nothing read from or left in the real ones.
  std::vector<std::string> argv = {
      "env",
      "HOME=" + dir.path(),
      SANWATCH_CHROMIUM,
      headless,
      "--no-sandbox",
      "--disable-gpu",
      "--hide-scrollbars",
      "--no-first-run",
      "--disable-extensions",
      "--force-device-scale-factor=1",
      "--force-color-profile=srgb",
      "--user-data-dir=" + dir.path() + "/profile",
      "--window-size=" + std::to_string(kWindowWidth) + "," + std::to_string(kWindowHeight)};
  argv.insert(argv.end(), args.begin(), args.end());
  return sanwatch::test::run_command(argv, kBrowserTimeout);
}

// Runs Chromium with --headless=new, falling back to plain --headless when
// that produced nothing; returns the result that produced `output` (if any).
sanwatch::test::CommandResult run_headless(const TempDir& dir, const std::vector<std::string>& args,
                                           const std::string& output = "") {
  sanwatch::test::CommandResult r;
  for (const char* mode : {"--headless=new", "--headless"}) {
    r = chromium(dir, mode, args);
    const bool produced = output.empty() ? !r.out.empty() : std::filesystem::exists(output);
    if (r.ok() && produced) return r;
    WARN(mode << " failed (exit " << r.exit_code << (r.timed_out ? ", timed out" : "")
              << "): " << r.err.substr(r.err.size() > 2000 ? r.err.size() - 2000 : 0));
  }
  return r;
}

// Unix ms of the period to the screen x (CSS px = image px) of the bands.
struct BandScale {
  std::int64_t from_ms;
  double length_ms;
  double x(std::int64_t ms) const {
    return layout::kBandLeftPx +
           static_cast<double>(ms - from_ms) / length_ms * layout::kBandWidthPx;
  }
};

std::string state_at(const json& target, std::int64_t ms) {
  for (const auto& s : target["timeline"])
    if (s["start_ms"].get<std::int64_t>() <= ms && ms < s["end_ms"].get<std::int64_t>())
      return s["state"];
  return "";
}

// Tops of the runs of `colour` exactly one band high down column x: the
// bands (legend swatches, availability bars and text are shorter or other
// colours).
std::vector<int> band_tops(const RgbImage& img, int x, Rgb colour) {
  std::vector<int> tops;
  for (int y = 0; y < img.height;) {
    if (!near(img.at(x, y), colour)) {
      ++y;
      continue;
    }
    int end = y;
    while (end < img.height && near(img.at(x, end), colour)) ++end;
    if (std::abs(end - y - layout::kBandHeightPx) <= 1) tops.push_back(y);
    y = end;
  }
  return tops;
}

// Unmeasured time is hatched: both stripe colours, no state colour.
void check_hatch(const RgbImage& img, int x0, int x1, int y_mid) {
  int stripe = 0, background = 0, state = 0, total = 0;
  for (int y = y_mid - 8; y <= y_mid + 8; ++y)
    for (int x = x0; x <= x1; ++x, ++total) {
      const Rgb c = img.at(x, y);
      stripe += near(c, kHatchStripe, 12);
      background += near(c, kHatchBackground, 12);
      for (const auto& [name, rgb] : palette()) state += near(c, rgb, 12);
    }
  INFO("hatch window x " << x0 << ".." << x1 << ": " << stripe << " stripe, " << background
                         << " background, " << state << " state-coloured of " << total);
  CHECK(stripe * 5 >= total);
  CHECK(background * 5 >= total);
  CHECK(state == 0);
}

// Every segment of the target's timeline, at the band whose top is `top`.
void check_band(const RgbImage& img, const json& target, const BandScale& scale, int top) {
  const int y_mid = top + layout::kBandHeightPx / 2;
  for (const auto& seg : target["timeline"]) {
    const std::string state = seg["state"];
    const double x0 = scale.x(seg["start_ms"]), x1 = scale.x(seg["end_ms"]);
    INFO(target["target"].get<std::string>() << ": " << state << " from x " << x0 << " to " << x1);
    if (state == "unmeasured") {
      check_hatch(img, static_cast<int>(x0) + 3, static_cast<int>(x1) - 3, y_mid);
      continue;
    }
    REQUIRE(palette().count(state) == 1);
    const Rgb want = palette().at(state);
    if (x1 - x0 >= 6) {
      const int xm = static_cast<int>((x0 + x1) / 2);
      for (int y : {top + 2, y_mid, top + layout::kBandHeightPx - 3}) {
        INFO("pixel (" << xm << ", " << y << ") is " << hex(img.at(xm, y)) << ", want "
                       << hex(want));
        CHECK(near(img.at(xm, y), want));
      }
      continue;
    }
    // A short impairment is drawn kMinSegmentPx wide from its start.
    bool seen = false;
    for (int x = static_cast<int>(x0) - 1; x <= static_cast<int>(x0) + 2; ++x)
      seen = seen || near(img.at(x, y_mid), want);
    CHECK(seen);
  }
  // The band ends where layout.h says: page background just outside it.
  CHECK(near(img.at(layout::kBandLeftPx - 3, y_mid), kWhite));
  CHECK(near(img.at(layout::kBandLeftPx + layout::kBandWidthPx + 2, y_mid), kWhite));
}

std::size_t count(const std::string& hay, const std::string& needle) {
  std::size_t n = 0;
  for (auto p = hay.find(needle); p != std::string::npos; p = hay.find(needle, p + 1)) ++n;
  return n;
}

}  // namespace

TEST_CASE("HTML report in Chromium: screenshot shows the bands in their state colours") {
  sanwatch::test::require_tool(kWhat, SANWATCH_CHROMIUM);
  const json report = sample_report();
  TempDir dir("sanwatch-html");
  const std::string url = write_page(dir, report);
  const std::string png = dir.path() + "/report.png";
  const auto r = run_headless(dir, {"--screenshot=" + png, url}, png);
  INFO("chromium stderr: " << r.err.substr(r.err.size() > 3000 ? r.err.size() - 3000 : 0));
  REQUIRE(std::filesystem::exists(png));
  if (const char* keep = std::getenv("SANWATCH_REPORT_SCREENSHOT"))
    std::filesystem::copy_file(png, keep, std::filesystem::copy_options::overwrite_existing);

  const RgbImage img = sanwatch::test::read_png(png);
  REQUIRE(img.width == kWindowWidth);
  REQUIRE(img.height == kWindowHeight);

  // Not blank: text, tables and bands give many colours and much ink.
  std::set<std::uint32_t> colours;
  std::size_t ink = 0;
  for (int y = 0; y < img.height; ++y)
    for (int x = 0; x < img.width; ++x) {
      const Rgb c = img.at(x, y);
      colours.insert(static_cast<std::uint32_t>(c[0]) << 16 | c[1] << 8 | c[2]);
      ink += !near(c, kWhite, 8);
    }
  CHECK(colours.size() >= 100);
  CHECK(ink * 20 >= static_cast<std::size_t>(img.width) * img.height);  // >= 5 % not white

  // The page lists arrays by name and LUNs by name within them; the fixture
  // lists its targets in that order too, so band i is targets[i].
  const auto& targets = report["targets"];
  const BandScale scale{report["period"]["from_ms"], report["period"]["length_ms"]};
  const std::int64_t probe_ms = scale.from_ms + static_cast<std::int64_t>(scale.length_ms * 0.15);
  for (const auto& t : targets) REQUIRE(state_at(t, probe_ms) == "ok");  // fixture premise
  const auto tops = band_tops(img, static_cast<int>(scale.x(probe_ms)), palette().at("ok"));
  REQUIRE(tops.size() == targets.size());
  for (std::size_t i = 0; i < tops.size(); ++i) check_band(img, targets[i], scale, tops[i]);
}

TEST_CASE("HTML report in Chromium: the parsed page has every incident row and no script") {
  sanwatch::test::require_tool(kWhat, SANWATCH_CHROMIUM);
  const json report = sample_report();
  TempDir dir("sanwatch-html");
  const auto r = run_headless(dir, {"--dump-dom", write_page(dir, report)});
  INFO("chromium stderr: " << r.err.substr(r.err.size() > 3000 ? r.err.size() - 3000 : 0));
  REQUIRE(r.ok());
  const std::string& dom = r.out;
  CHECK(count(dom, "<tr class=\"incident") == report["incidents"].size());
  CHECK(count(dom, "<svg class=\"band\"") == report["targets"].size());
  for (const auto& i : report["incidents"])
    CHECK(dom.find(i["identity"]["dm_name"].get<std::string>()) != std::string::npos);
  CHECK(dom.find("<script") == std::string::npos);
  CHECK(dom.find("</html>") != std::string::npos);
}
