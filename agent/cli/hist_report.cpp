// SPDX-License-Identifier: Apache-2.0
#include "cli/hist_report.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace sanwatch {

namespace {

const LatencyHistogram& hist_of(const HistEntry& e, bool device_time) {
  return device_time ? e.stats.device : e.stats.total;
}

nlohmann::json errors_json(const OpStats& s) {
  nlohmann::json j = nlohmann::json::object();
  for (int i = 0; i < kNrStatus; ++i)
    if (s.errors[i]) j[status_name(i)] = s.errors[i];
  return j;
}

nlohmann::json buckets_json(const LatencyHistogram& h) {
  nlohmann::json b = nlohmann::json::array();
  for (std::uint32_t i = 0; i < kNrBuckets; ++i)
    if (h[i]) b.push_back({{"le_s", LatencyHistogram::upper_ns(i) / 1e9}, {"count", h[i]}});
  return b;
}

std::string bar(std::uint64_t v, std::uint64_t max, int width) {
  const int n = max ? static_cast<int>(std::llround(static_cast<double>(v) * width / max)) : 0;
  return std::string(n, '*') + std::string(width - n, ' ');
}

// Power-of-two rows like biolatency; the fine buckets nest inside them
// (8 per octave), so each row is an exact sum.
void append_bars(std::string& out, const LatencyHistogram& h) {
  std::vector<std::pair<std::uint32_t, std::uint64_t>> rows;  // first bucket, count
  rows.push_back({0, h[0]});
  for (std::uint32_t i = 1; i < kNrBuckets; i += SW_SUBS) {
    std::uint64_t c = 0;
    for (std::uint32_t j = i; j < std::min<std::uint32_t>(i + SW_SUBS, kNrBuckets); ++j) c += h[j];
    rows.push_back({i, c});
  }
  std::size_t first = rows.size(), last = 0;
  std::uint64_t max = 0;
  for (std::size_t r = 0; r < rows.size(); ++r) {
    if (!rows[r].second) continue;
    first = std::min(first, r);
    last = r;
    max = std::max(max, rows[r].second);
  }
  if (first == rows.size()) return;
  out += fmt::format("  {:>19} : {:<8} distribution\n", "latency", "count");
  for (std::size_t r = first; r <= last; ++r) {
    const std::uint32_t b = rows[r].first;
    const std::uint32_t end = r + 1 < rows.size() ? rows[r + 1].first - 1 : kNrBuckets - 1;
    const std::string lo = human_duration(LatencyHistogram::lower_ns(b) / 1e9);
    const std::string hi = human_duration(LatencyHistogram::upper_ns(end) / 1e9);
    out += fmt::format("  {:>8} -> {:<8} : {:<8} |{}|\n", lo, hi, rows[r].second,
                       bar(rows[r].second, max, 40));
  }
}

}  // namespace

Summary summarize(const HistEntry& e, double interval_s, bool device_time) {
  const LatencyHistogram& h = hist_of(e, device_time);
  Summary s;
  s.count = h.total();
  s.iops = interval_s > 0 ? static_cast<double>(e.stats.count) / interval_s : 0;
  const std::uint64_t n = device_time ? e.stats.device_count : e.stats.count;
  const std::uint64_t sum = device_time ? e.stats.device_ns_sum : e.stats.total_ns_sum;
  s.mean_s = n ? static_cast<double>(sum) / static_cast<double>(n) / 1e9 : 0;
  s.p50_s = e.stats.quantile_s(0.50, device_time);
  s.p90_s = e.stats.quantile_s(0.90, device_time);
  s.p99_s = e.stats.quantile_s(0.99, device_time);
  s.p999_s = e.stats.quantile_s(0.999, device_time);
  s.max_s = static_cast<double>(device_time ? e.stats.max_device_ns : e.stats.max_total_ns) / 1e9;
  if (s.count == 0) s.max_s = 0;
  return s;
}

nlohmann::json report_json(const HistReport& r) {
  nlohmann::json out{{"time", r.time},
                     {"interval_s", r.interval_s},
                     {"latency", r.device_time ? "device" : "total"},
                     {"histograms", nlohmann::json::array()}};
  for (const auto& e : r.entries) {
    const Summary s = summarize(e, r.interval_s, r.device_time);
    nlohmann::json j{{"device", e.device},
                     {"op", e.op},
                     {"count", s.count},
                     {"iops", s.iops},
                     {"bytes", e.stats.bytes},
                     {"mean_s", s.mean_s},
                     {"p50_s", s.p50_s},
                     {"p90_s", s.p90_s},
                     {"p99_s", s.p99_s},
                     {"p999_s", s.p999_s},
                     {"max_s", s.max_s},
                     {"errors", errors_json(e.stats)},
                     {"requeues", e.stats.requeues},
                     {"inflight_oldest_s", e.inflight_oldest_s},
                     {"outstanding_at_start", e.outstanding_at_start},
                     {"buckets", buckets_json(hist_of(e, r.device_time))}};
    if (!e.partition.empty()) j["partition"] = e.partition;
    if (!e.dm_name.empty()) j["dm_name"] = e.dm_name;
    if (e.inflight_at_least) {
      j["inflight_oldest_at_least"] = true;
      j["inflight_preexisting"] = e.preexisting;
    }
    out["histograms"].push_back(std::move(j));
  }
  return out;
}

std::string report_text(const HistReport& r) {
  std::string out =
      fmt::format("{}  interval {:.3f}s  latency: {}\n", r.time, r.interval_s,
                  r.device_time ? "device (issue -> completion)" : "total (queued -> completion)");
  for (const auto& e : r.entries) {
    const Summary s = summarize(e, r.interval_s, r.device_time);
    std::string title = e.device + " " + e.op;
    if (!e.dm_name.empty()) title += " (" + e.dm_name + ")";
    if (!e.partition.empty())
      title += fmt::format(" [{} is a partition of {}]", e.partition, e.device);
    out += "\n" + title + "\n";
    append_bars(out, hist_of(e, r.device_time));
    out += fmt::format(
        "  count {}  IOPS {:.1f}  mean {}  p50 {}  p90 {}  p99 {}  p99.9 {}  max {}\n", s.count,
        s.iops, human_duration(s.mean_s), human_duration(s.p50_s), human_duration(s.p90_s),
        human_duration(s.p99_s), human_duration(s.p999_s), human_duration(s.max_s));
    std::string extra;
    if (auto n = e.stats.error_count()) extra += fmt::format("  errors {}", n);
    if (e.stats.requeues) extra += fmt::format("  requeues {}", e.stats.requeues);
    if (e.inflight_at_least)
      extra += fmt::format("  oldest outstanding I/O >= {} ({} from before tracing started)",
                           human_duration(e.inflight_oldest_s), e.preexisting);
    else if (e.inflight_oldest_s > 0)
      extra += fmt::format("  oldest outstanding I/O {}", human_duration(e.inflight_oldest_s));
    else
      extra += "  nothing outstanding";
    out += extra + "\n";
  }
  return out;
}

std::string start_outstanding_text(const StartOutstanding& s) {
  if (!s.count) return fmt::format("{}: nothing outstanding when tracing started\n", s.device);
  const char* ios = s.count == 1 ? "I/O" : "I/Os";
  if (!s.age_known)
    return fmt::format(
        "{}: {} {} outstanding since before tracing started, age unknown ({}): counting from now\n",
        s.device, s.count, ios, s.why_not_walked);
  return fmt::format("{}: {} {} outstanding when tracing started, oldest {}\n", s.device, s.count,
                     ios, human_duration(s.oldest_s));
}

}  // namespace sanwatch
