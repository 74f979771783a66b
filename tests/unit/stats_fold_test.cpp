// SPDX-License-Identifier: Apache-2.0
// Folding 32-bit BPF counters, summed over shards, into 64-bit totals across
// wrap-around.
#include "kernel/stats_fold.h"

#include <array>
#include <catch2/catch.hpp>
#include <cerrno>
#include <string>
#include <vector>

using sanwatch::advance_mod32;
using sanwatch::fold_shards;
using sanwatch::OpStats;
namespace bpf = sanwatch::bpf;

TEST_CASE("advance_mod32 follows a counter across 2^32") {
  std::uint64_t total = 0;
  advance_mod32(total, 7);
  CHECK(total == 7);
  total = (1ull << 32) * 3 - 5;  // low 32 bits: 2^32 - 5
  advance_mod32(total, 10);      // 15 more events, wrapped
  CHECK(total == (1ull << 32) * 3 + 10);
  advance_mod32(total, 10);  // nothing new
  CHECK(total == (1ull << 32) * 3 + 10);
}

TEST_CASE("fold_shards sums shards and recovers totals past 32 bits") {
  std::vector<bpf::sw_io_stats> cpu(2);
  std::vector<bpf::sw_io_max> mx(2);
  const std::uint32_t b = sanwatch::LatencyHistogram::bucket_of(250'000);
  // The count is the buckets' sum (count itself only holds completions
  // kept out of the histogram): near the top on one shard, the sum wraps.
  cpu[0].total_hist[b] = 0xfffffff0u;
  cpu[1].total_hist[b] = 0x20u;
  cpu[0].errors[10] = 3;
  cpu[1].errors[10] = 4;
  cpu[0].slow = 5;
  cpu[1].slow = 6;
  cpu[0].bytes = 5ull << 32;  // 64-bit sums are taken as they are
  cpu[1].bytes = 1;
  mx[0].total_ns = 100;
  mx[1].total_ns = 900;
  OpStats acc;
  acc.count = 0xffffffe0u;  // the last read saw 2^32 - 32 in total
  acc.total = sanwatch::LatencyHistogram();
  sanwatch::LatencyHistogram::Counts c{};
  c[b] = 0xffffffe0u;
  acc.total = sanwatch::LatencyHistogram(c);
  fold_shards(acc, cpu, mx);
  CHECK(acc.count == 0x100000010ull);  // 32 + 16 more than before
  CHECK(acc.total[b] == 0x100000010ull);
  CHECK(acc.errors[10] == 7);
  CHECK(acc.slow == 11);
  CHECK(acc.bytes == (5ull << 32) + 1);
  CHECK(acc.max_total_ns == 900);
  // A second fold of the same values adds nothing.
  fold_shards(acc, cpu, mx);
  CHECK(acc.count == 0x100000010ull);
  CHECK(acc.total.total() == 0x100000010ull);
}

TEST_CASE("fold_shards counts completions with and without histograms together") {
  std::vector<bpf::sw_io_stats> sh(2);
  std::vector<bpf::sw_io_max> mx(2);
  const std::uint32_t b1 = sanwatch::LatencyHistogram::bucket_of(50'000);
  const std::uint32_t b2 = sanwatch::LatencyHistogram::bucket_of(8'000'000);
  sh[0].total_hist[b1] = 0xfffffff0u;  // with histograms until the flag went on
  sh[1].total_hist[b2] = 0x10u;
  sh[0].count = 0x15u;  // then counted without a bucket: 2^32 + 0x15 in all
  sh[1].device_hist[b1] = 7;
  sh[1].device_count = 2;
  OpStats acc;
  acc.count = 0xfffffff0u;  // the last read
  acc.device_count = 7;
  fold_shards(acc, sh, mx);
  CHECK(acc.count == (1ull << 32) + 0x15u);
  CHECK(acc.device_count == 9);
  CHECK(acc.total.total() == 0x100000000ull);  // the buckets alone: no 0x15
  CHECK(acc.device.total() == 7);
  fold_shards(acc, sh, mx);  // nothing new
  CHECK(acc.count == (1ull << 32) + 0x15u);
}

TEST_CASE("is_path_error mirrors the kernel's blk_path_error") {
  using sanwatch::is_path_error;
  // LUN errors: another path would return the same.
  for (unsigned code : {1u, 3u, 5u, 6u, 7u, 8u}) CHECK_FALSE(is_path_error(code));
  // Transport, timeout, generic I/O error, offline: could be the path.
  for (unsigned code : {2u, 4u, 10u, 16u}) CHECK(is_path_error(code));
  CHECK_FALSE(is_path_error(0));
}

TEST_CASE("fold_shards follows each SLO counter across 2^32 on its own") {
  std::vector<bpf::sw_io_stats> cpu(3);
  std::vector<bpf::sw_io_max> mx(3);
  cpu[0].slo_over[0] = 0xfffffff0u;  // the three CPUs sum to 2^32 + 5: wrapped
  cpu[1].slo_over[0] = 0x10u;
  cpu[2].slo_over[0] = 5;
  cpu[1].slo_over[1] = 2;
  cpu[2].slo_over[3] = 1;
  OpStats acc;
  acc.slo_over[0] = (2ull << 32) - 3;  // last read: 2^33 - 3, low 32 bits 2^32 - 3
  acc.slo_over[1] = 2;                 // unchanged since
  fold_shards(acc, cpu, mx);
  CHECK(acc.slo_over[0] == (2ull << 32) + 5);  // 8 more, across the wrap
  CHECK(acc.slo_over[1] == 2);
  CHECK(acc.slo_over[2] == 0);
  CHECK(acc.slo_over[3] == 1);
  fold_shards(acc, cpu, mx);  // nothing new
  CHECK(acc.slo_over[0] == (2ull << 32) + 5);
}

TEST_CASE("SLO counts add, subtract, and keep their thresholds across deltas") {
  sanwatch::DeviceStats now, then;
  now.slo_ns = then.slo_ns = {10'000'000, 100'000'000, 0, 0};
  now.op(sanwatch::Op::kRead).slo_over = {30, 4, 0, 0};
  now.op(sanwatch::Op::kWrite).slo_over = {5, 1, 0, 0};
  then.op(sanwatch::Op::kRead).slo_over = {10, 4, 0, 0};
  const sanwatch::DeviceStats d = now.minus(then);
  CHECK(d.slo_ns == now.slo_ns);
  CHECK(d.op(sanwatch::Op::kRead).slo_over == std::array<std::uint64_t, 4>{20, 0, 0, 0});
  CHECK(d.all().slo_over == std::array<std::uint64_t, 4>{25, 1, 0, 0});
}

TEST_CASE("latency SLO thresholds: at most four, positive, strictly increasing") {
  using sanwatch::make_slo_thresholds;
  auto none = make_slo_thresholds({});
  REQUIRE(none);
  CHECK(*none == sanwatch::SloThresholds{});
  auto two = make_slo_thresholds({10'000'000, 100'000'000});
  REQUIRE(two);
  CHECK(*two == sanwatch::SloThresholds{10'000'000, 100'000'000, 0, 0});
  CHECK(make_slo_thresholds({1, 2, 3, 4}));
  const std::vector<std::vector<std::uint64_t>> bads = {
      {1, 2, 3, 4, 5}, {0}, {10, 0}, {10, 10}, {100, 10}};
  for (const auto& bad : bads) {
    INFO("thresholds: " << bad.size() << " given, first " << bad[0]);
    const auto r = make_slo_thresholds(bad);
    REQUIRE_FALSE(r);
    CHECK(r.error().err == EINVAL);
  }
  CHECK(make_slo_thresholds({100, 10}).error().context.find("strictly increasing") !=
        std::string::npos);
}
