// SPDX-License-Identifier: Apache-2.0
#include "kernel/io_stats.h"

#include <algorithm>

namespace sanwatch {

namespace {
constexpr std::array<std::string_view, kNrOps> kOpNames = {"read", "write", "flush", "discard",
                                                           "other"};
}

std::string_view op_name(Op op) { return kOpNames[static_cast<int>(op)]; }

std::optional<Op> parse_op(std::string_view s) {
  for (int i = 0; i < kNrOps; ++i)
    if (kOpNames[i] == s) return static_cast<Op>(i);
  return std::nullopt;
}

std::string status_name(unsigned code) {
  // blk_status_t values from include/linux/blk_types.h (6.x).
  static const char* const kNames[] = {"ok",
                                       "notsupp",
                                       "timeout",
                                       "nospc",
                                       "transport",
                                       "target",
                                       "resv_conflict",
                                       "medium",
                                       "protection",
                                       "resource",
                                       "ioerr",
                                       "dm_requeue",
                                       "again",
                                       "dev_resource",
                                       "zone_open_resource",
                                       "zone_active_resource",
                                       "offline",
                                       "duration_limit",
                                       "",
                                       "inval"};
  if (code < std::size(kNames) && kNames[code][0] != '\0') return kNames[code];
  return "status_" + std::to_string(code);
}

bool is_path_error(unsigned code) {
  switch (code) {
    case 0:  // ok
    case 1:  // notsupp
    case 3:  // nospc
    case 5:  // target
    case 6:  // resv_conflict
    case 7:  // medium
    case 8:  // protection
      return false;
    default:
      return true;
  }
}

Result<SloThresholds> make_slo_thresholds(const std::vector<std::uint64_t>& ns) {
  if (ns.size() > static_cast<std::size_t>(kNrSlo))
    return Error{EINVAL, "at most " + std::to_string(kNrSlo) + " latency SLO thresholds, not " +
                             std::to_string(ns.size())};
  SloThresholds out{};
  for (std::size_t i = 0; i < ns.size(); ++i) {
    // 0 marks an unused entry on the BPF side, and the scan there stops at
    // the first threshold not exceeded: both need these rules.
    if (ns[i] == 0) return Error{EINVAL, "latency SLO threshold must be > 0"};
    if (i > 0 && ns[i] <= ns[i - 1])
      return Error{EINVAL, "latency SLO thresholds must be strictly increasing (" +
                               std::to_string(ns[i - 1]) + " ns, then " + std::to_string(ns[i]) +
                               " ns)"};
    out[i] = ns[i];
  }
  return out;
}

std::uint64_t OpStats::error_count() const {
  std::uint64_t n = 0;
  for (auto e : errors) n += e;
  return n;
}

void OpStats::add(const OpStats& o) {
  count += o.count;
  bytes += o.bytes;
  total_ns_sum += o.total_ns_sum;
  device_ns_sum += o.device_ns_sum;
  device_count += o.device_count;
  requeues += o.requeues;
  slow += o.slow;
  for (int i = 0; i < kNrStatus; ++i) errors[i] += o.errors[i];
  for (int i = 0; i < kNrSlo; ++i) slo_over[i] += o.slo_over[i];
  total.add(o.total);
  device.add(o.device);
  max_total_ns = std::max(max_total_ns, o.max_total_ns);
  max_device_ns = std::max(max_device_ns, o.max_device_ns);
}

OpStats OpStats::minus(const OpStats& e) const {
  auto d = [](std::uint64_t now, std::uint64_t then) { return now >= then ? now - then : now; };
  OpStats r;
  r.count = d(count, e.count);
  r.bytes = d(bytes, e.bytes);
  r.total_ns_sum = d(total_ns_sum, e.total_ns_sum);
  r.device_ns_sum = d(device_ns_sum, e.device_ns_sum);
  r.device_count = d(device_count, e.device_count);
  r.requeues = d(requeues, e.requeues);
  r.slow = d(slow, e.slow);
  for (int i = 0; i < kNrStatus; ++i) r.errors[i] = d(errors[i], e.errors[i]);
  for (int i = 0; i < kNrSlo; ++i) r.slo_over[i] = d(slo_over[i], e.slo_over[i]);
  r.total = total.minus(e.total);
  r.device = device.minus(e.device);
  r.max_total_ns = max_total_ns;
  r.max_device_ns = max_device_ns;
  return r;
}

double OpStats::quantile_s(double q, bool device_time) const {
  const double est = (device_time ? device : total).quantile_ns(q);
  const auto max = static_cast<double>(device_time ? max_device_ns : max_total_ns);
  return (max > 0 ? std::min(est, max) : est) / 1e9;
}

OpStats DeviceStats::all() const {
  OpStats a;
  for (const auto& o : ops) a.add(o);
  return a;
}

DeviceStats DeviceStats::minus(const DeviceStats& earlier) const {
  DeviceStats r;
  r.slo_ns = slo_ns;
  for (int i = 0; i < kNrOps; ++i) r.ops[i] = ops[i].minus(earlier.ops[i]);
  return r;
}

}  // namespace sanwatch
