// SPDX-License-Identifier: Apache-2.0
#include "exporters/exposition.h"

#include <fmt/format.h>
#include <zlib.h>

#include <cctype>
#include <cmath>
#include <iterator>

#include "base/utf8.h"

namespace sanwatch {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;
using Out = std::back_insert_iterator<std::string>;

// Label values escape backslash, double quote and newline; HELP text only
// backslash and newline (the format's rules). Bytes that are not UTF-8
// become U+FFFD: Prometheus drops the whole scrape over one invalid label
// value, and a dm name or an INQUIRY string may hold any byte.
void escaped(std::string& out, std::string_view s, bool quote) {
  std::size_t start = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c != '\\' && c != '\n' && !(quote && c == '"')) continue;
    append_valid_utf8(out, s.substr(start, i - start));
    out.push_back('\\');
    out.push_back(c == '\n' ? 'n' : c);
    start = i + 1;
  }
  append_valid_utf8(out, s.substr(start));
}

void value(std::string& out, double v) {
  if (std::isnan(v))
    out.append("NaN");
  else if (std::isinf(v))
    out.append(v > 0 ? "+Inf" : "-Inf");
  else
    fmt::format_to(Out(out), "{}", v);
}

// A metric's own labels as `k="v",k="v"`, escaped: rendered once per
// metric, not once per line (a histogram has 21 lines).
std::string label_list(const ClientMetric& m) {
  std::string out;
  for (const auto& l : m.label) {
    if (!out.empty()) out.push_back(',');
    out.append(l.name);
    out.append("=\"");
    escaped(out, l.value, true);
    out.push_back('"');
  }
  return out;
}

// `name{labels[,extra="x"]}`, the braces only when there is a label.
void series(std::string& out, std::string_view name, std::string_view suffix,
            const std::string& labels, std::string_view extra = {}, double extra_value = 0) {
  out.append(name);
  out.append(suffix);
  if (labels.empty() && extra.empty()) return;
  out.push_back('{');
  out.append(labels);
  if (!extra.empty()) {
    if (!labels.empty()) out.push_back(',');
    out.append(extra);
    out.append("=\"");
    value(out, extra_value);
    out.push_back('"');
  }
  out.push_back('}');
}

void sample_end(std::string& out, double v, const ClientMetric& m) {
  out.push_back(' ');
  value(out, v);
  if (m.timestamp_ms) fmt::format_to(Out(out), " {}", m.timestamp_ms);
  out.push_back('\n');
}

void write_sample(std::string& out, const MetricFamily& f, const ClientMetric& m) {
  const std::string labels = label_list(m);
  switch (f.type) {
    case MetricType::Counter:
      series(out, f.name, "", labels);
      return sample_end(out, m.counter.value, m);
    case MetricType::Gauge:
      series(out, f.name, "", labels);
      return sample_end(out, m.gauge.value, m);
    case MetricType::Untyped:
      series(out, f.name, "", labels);
      return sample_end(out, m.untyped.value, m);
    case MetricType::Summary:
      for (const auto& q : m.summary.quantile) {
        series(out, f.name, "", labels, "quantile", q.quantile);
        sample_end(out, q.value, m);
      }
      series(out, f.name, "_count", labels);
      sample_end(out, static_cast<double>(m.summary.sample_count), m);
      series(out, f.name, "_sum", labels);
      return sample_end(out, m.summary.sample_sum, m);
    case MetricType::Histogram:
      for (const auto& b : m.histogram.bucket) {
        series(out, f.name, "_bucket", labels, "le", b.upper_bound);
        sample_end(out, static_cast<double>(b.cumulative_count), m);
      }
      // The format requires a +Inf bucket; it equals the count.
      if (m.histogram.bucket.empty() || !std::isinf(m.histogram.bucket.back().upper_bound)) {
        series(out, f.name, "_bucket", labels, "le", HUGE_VAL);
        sample_end(out, static_cast<double>(m.histogram.sample_count), m);
      }
      series(out, f.name, "_count", labels);
      sample_end(out, static_cast<double>(m.histogram.sample_count), m);
      series(out, f.name, "_sum", labels);
      return sample_end(out, m.histogram.sample_sum, m);
  }
}

std::string_view type_name(MetricType t) {
  switch (t) {
    case MetricType::Counter:
      return "counter";
    case MetricType::Gauge:
      return "gauge";
    case MetricType::Summary:
      return "summary";
    case MetricType::Histogram:
      return "histogram";
    case MetricType::Untyped:
      break;
  }
  return "untyped";
}

}  // namespace

void write_text_exposition(const std::vector<MetricFamily>& families, std::string& out) {
  for (const auto& f : families) {
    if (f.metric.empty()) continue;  // no HELP/TYPE without samples
    if (!f.help.empty()) {
      fmt::format_to(Out(out), "# HELP {} ", f.name);
      escaped(out, f.help, false);
      out.push_back('\n');
    }
    fmt::format_to(Out(out), "# TYPE {} {}\n", f.name, type_name(f.type));
    for (const auto& m : f.metric) write_sample(out, f, m);
  }
}

bool accepts_gzip(std::string_view header) {
  auto trim = [](std::string_view v) {
    while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
    while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
    return v;
  };
  auto lower_eq = [](std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
      if (std::tolower(static_cast<unsigned char>(a[i])) != b[i]) return false;
    return true;
  };
  while (!header.empty()) {
    const auto comma = header.find(',');
    std::string_view item = header.substr(0, comma);
    header = comma == std::string_view::npos ? std::string_view{} : header.substr(comma + 1);
    const auto semi = item.find(';');
    if (!lower_eq(trim(item.substr(0, semi)), "gzip")) continue;
    if (semi == std::string_view::npos) return true;
    // "q=0", "q=0.0", "q=0.000" refuse it; any other weight accepts.
    std::string_view q = trim(item.substr(semi + 1));
    if (q.size() < 2 || (q[0] != 'q' && q[0] != 'Q') || q[1] != '=') return true;
    q.remove_prefix(2);
    return q.find_first_not_of("0.") != std::string_view::npos;
  }
  return false;
}

std::string gzip_compress(std::string_view in, int level) {
  z_stream zs{};
  // windowBits 15 + 16: a gzip header and trailer instead of zlib's.
  if (deflateInit2(&zs, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) return {};
  std::string out(deflateBound(&zs, in.size()), '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  const int rc = deflate(&zs, Z_FINISH);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return rc == Z_STREAM_END ? out : std::string{};
}

}  // namespace sanwatch
