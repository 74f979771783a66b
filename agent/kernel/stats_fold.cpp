// SPDX-License-Identifier: Apache-2.0
#include "kernel/stats_fold.h"

#include <algorithm>
#include <array>

namespace sanwatch {

static_assert(SW_HIST_SLOTS >= SW_NR_BUCKETS, "histogram storage too small");
// Array values are stored at an 8-byte stride: keep the structs a multiple.
static_assert(sizeof(bpf::sw_io_stats) % 8 == 0 && sizeof(bpf::sw_io_max) % 8 == 0);

namespace {

// Sums of the 32-bit counters over shards, modulo 2^32 by construction.
struct Sums32 {
  std::uint32_t count = 0, device_count = 0, requeues = 0, slow = 0;
  std::array<std::uint32_t, SW_NR_STATUS> errors{};
  std::array<std::uint32_t, SW_NR_SLO> slo_over{};
  std::array<std::uint32_t, kNrBuckets> total{}, device{};
};

}  // namespace

void fold_shards(OpStats& acc, std::span<const bpf::sw_io_stats> shards,
                 std::span<const bpf::sw_io_max> max_shards) {
  Sums32 s;
  std::uint64_t bytes = 0, total_ns = 0, device_ns = 0;
  for (const auto& c : shards) {
    s.count += c.count;
    s.device_count += c.device_count;
    s.requeues += c.requeues;
    s.slow += c.slow;
    bytes += c.bytes;
    total_ns += c.total_ns_sum;
    device_ns += c.device_ns_sum;
    for (std::size_t i = 0; i < s.errors.size(); ++i) s.errors[i] += c.errors[i];
    for (std::size_t i = 0; i < s.slo_over.size(); ++i) s.slo_over[i] += c.slo_over[i];
    for (std::size_t i = 0; i < kNrBuckets; ++i) {
      s.total[i] += c.total_hist[i];
      s.device[i] += c.device_hist[i];
    }
  }
  // Completions are counted by their bucket (bpf/iolat.h): the sums of the
  // buckets wrap modulo 2^32 like the counters they are added to.
  for (std::size_t i = 0; i < kNrBuckets; ++i) {
    s.count += s.total[i];
    s.device_count += s.device[i];
  }
  advance_mod32(acc.count, s.count);
  advance_mod32(acc.device_count, s.device_count);
  advance_mod32(acc.requeues, s.requeues);
  advance_mod32(acc.slow, s.slow);
  for (std::size_t i = 0; i < s.errors.size(); ++i) advance_mod32(acc.errors[i], s.errors[i]);
  for (std::size_t i = 0; i < s.slo_over.size(); ++i) advance_mod32(acc.slo_over[i], s.slo_over[i]);
  acc.total.advance_mod32(s.total);
  acc.device.advance_mod32(s.device);
  acc.bytes = bytes;
  acc.total_ns_sum = total_ns;
  acc.device_ns_sum = device_ns;
  acc.max_total_ns = acc.max_device_ns = 0;
  for (const auto& m : max_shards) {
    acc.max_total_ns = std::max(acc.max_total_ns, m.total_ns);
    acc.max_device_ns = std::max(acc.max_device_ns, m.device_ns);
  }
}

}  // namespace sanwatch
