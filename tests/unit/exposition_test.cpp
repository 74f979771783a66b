// SPDX-License-Identifier: Apache-2.0
#include "exporters/exposition.h"

#include <catch2/catch.hpp>
#include <cmath>

#include "gzip_test_util.h"

using namespace sanwatch;
using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

using gzip_test::gunzip;

namespace {

std::string text_of(const std::vector<MetricFamily>& f) {
  std::string out;
  write_text_exposition(f, out);
  return out;
}

ClientMetric gauge(double v, std::vector<ClientMetric::Label> labels = {}) {
  ClientMetric m;
  m.label = std::move(labels);
  m.gauge.value = v;
  return m;
}

}  // namespace

TEST_CASE("exposition: label values and help text are escaped as the format requires") {
  MetricFamily f{"sanwatch_x",
                 "a \\ help\nline",
                 MetricType::Gauge,
                 {gauge(1, {{"path", "C:\\dev \"a\"\nb"}, {"op", "read"}})}};
  CHECK(text_of({f}) ==
        "# HELP sanwatch_x a \\\\ help\\nline\n"
        "# TYPE sanwatch_x gauge\n"
        "sanwatch_x{path=\"C:\\\\dev \\\"a\\\"\\nb\",op=\"read\"} 1\n");
}

TEST_CASE(
    "exposition: label values that are not UTF-8 get U+FFFD, so Prometheus keeps the scrape") {
  // A dm name or an INQUIRY string may hold any byte; Prometheus refuses
  // the whole scrape over one invalid label value.
  MetricFamily f{"sanwatch_x",
                 "",
                 MetricType::Gauge,
                 {gauge(1, {{"target", "m\xc3\xa9\xff\xc3(\xed\xa0\x80\xf4\x90\x80\x80z"}})}};
  CHECK(text_of({f}) ==
        "# TYPE sanwatch_x gauge\n"
        "sanwatch_x{target=\"m\xc3\xa9\xef\xbf\xbd\xef\xbf\xbd(\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"
        "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbdz\"} 1\n");
}

TEST_CASE("exposition: values keep every digit, specials and timestamps") {
  auto m = gauge(0.1 + 0.2);
  m.timestamp_ms = 1764800000123;
  MetricFamily f{
      "g",
      "",
      MetricType::Gauge,
      {m, gauge(NAN), gauge(HUGE_VAL), gauge(-HUGE_VAL), gauge(123456789012.0), gauge(2.5e-7)}};
  CHECK(text_of({f}) ==
        "# TYPE g gauge\n"
        "g 0.30000000000000004 1764800000123\n"
        "g NaN\n"
        "g +Inf\n"
        "g -Inf\n"
        "g 123456789012\n"
        "g 2.5e-07\n");
}

TEST_CASE("exposition: histograms get buckets, count and sum, and a +Inf bucket if missing") {
  ClientMetric m;
  m.label = {{"device", "sda"}};
  m.histogram.bucket = {{3, 0.001}, {5, 0.25}};
  m.histogram.sample_count = 7;
  m.histogram.sample_sum = 1.5;
  ClientMetric s;
  s.summary.quantile = {{0.5, 0.002}};
  s.summary.sample_count = 2;
  s.summary.sample_sum = 0.004;
  CHECK(text_of({{"h", "H", MetricType::Histogram, {m}},
                 {"s", "", MetricType::Summary, {s}},
                 {"empty", "never shown", MetricType::Counter, {}}}) ==
        "# HELP h H\n# TYPE h histogram\n"
        "h_bucket{device=\"sda\",le=\"0.001\"} 3\n"
        "h_bucket{device=\"sda\",le=\"0.25\"} 5\n"
        "h_bucket{device=\"sda\",le=\"+Inf\"} 7\n"
        "h_count{device=\"sda\"} 7\n"
        "h_sum{device=\"sda\"} 1.5\n"
        "# TYPE s summary\n"
        "s{quantile=\"0.5\"} 0.002\n"
        "s_count 2\n"
        "s_sum 0.004\n");
}

TEST_CASE("exposition: Accept-Encoding decides gzip") {
  CHECK(accepts_gzip("gzip"));
  CHECK(accepts_gzip("gzip, deflate"));        // curl --compressed
  CHECK(accepts_gzip("deflate, GZip;q=0.5"));  // weights, any case
  CHECK(accepts_gzip(" identity , gzip "));
  CHECK_FALSE(accepts_gzip(""));
  CHECK_FALSE(accepts_gzip("identity"));
  CHECK_FALSE(accepts_gzip("gzip;q=0"));
  CHECK_FALSE(accepts_gzip("gzip; q=0.000"));
  CHECK_FALSE(accepts_gzip("x-gzip2"));
}

TEST_CASE("exposition: gzip output inflates back to the input") {
  std::string text;
  for (int i = 0; i < 5000; ++i)
    text += "sanwatch_io_completed_total{device=\"loop" + std::to_string(i) + "\",op=\"read\"} 1\n";
  const std::string gz = gzip_compress(text, 1);
  REQUIRE(gz.size() > 18);
  CHECK(static_cast<unsigned char>(gz[0]) == 0x1f);
  CHECK(static_cast<unsigned char>(gz[1]) == 0x8b);
  CHECK(gz.size() < text.size() / 5);
  CHECK(gunzip(gz) == text);
  CHECK(gunzip(gzip_compress("", 1)).empty());
}
