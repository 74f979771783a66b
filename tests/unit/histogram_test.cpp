// SPDX-License-Identifier: Apache-2.0
#include "kernel/histogram.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <random>
#include <vector>

using sanwatch::kNrBuckets;
using sanwatch::LatencyHistogram;

TEST_CASE("bucket bounds are contiguous and at most 12.5% wide") {
  for (std::uint32_t i = 1; i + 1 < kNrBuckets; ++i) {
    REQUIRE(LatencyHistogram::lower_ns(i) == LatencyHistogram::upper_ns(i - 1));
    const double lo = static_cast<double>(LatencyHistogram::lower_ns(i));
    const double hi = static_cast<double>(LatencyHistogram::upper_ns(i));
    REQUIRE(hi > lo);
    REQUIRE((hi - lo) / lo <= 0.125 + 1e-12);
  }
  // Range: about 1 us up to beyond 100 s.
  CHECK(LatencyHistogram::upper_ns(0) == 1024);
  CHECK(LatencyHistogram::lower_ns(kNrBuckets - 1) >= 100'000'000'000ull);
}

TEST_CASE("every value lands in the bucket whose bounds contain it") {
  std::mt19937_64 rng(42);
  std::vector<std::uint64_t> values = {0,
                                       1,
                                       1023,
                                       1024,
                                       1025,
                                       1151,
                                       1152,
                                       2047,
                                       2048,
                                       999'999,
                                       1'000'000,
                                       50'000'000,
                                       137'438'953'471ull,
                                       137'438'953'472ull,
                                       ~0ull};
  for (int i = 0; i < 100000; ++i) values.push_back(rng() >> (rng() % 64));
  for (auto v : values) {
    const auto b = LatencyHistogram::bucket_of(v);
    REQUIRE(b < kNrBuckets);
    INFO("value " << v << " bucket " << b);
    REQUIRE(v >= LatencyHistogram::lower_ns(b));
    if (b + 1 < kNrBuckets) REQUIRE(v < LatencyHistogram::upper_ns(b));
  }
}

TEST_CASE("quantiles of an empty histogram are zero") {
  LatencyHistogram h;
  CHECK(h.quantile_ns(0.5) == 0);
  CHECK(h.total() == 0);
}

TEST_CASE("quantile estimates stay within one bucket of the exact order statistic") {
  std::mt19937_64 rng(7);
  std::lognormal_distribution<double> dist(std::log(200'000.0), 1.5);  // ~200 us median
  std::vector<std::uint64_t> samples;
  LatencyHistogram h;
  for (int i = 0; i < 50000; ++i) {
    const auto v = static_cast<std::uint64_t>(dist(rng)) + 1;
    samples.push_back(v);
    h.record(v);
  }
  std::sort(samples.begin(), samples.end());
  for (double q : {0.5, 0.9, 0.99, 0.999}) {
    const auto exact = samples[static_cast<std::size_t>(std::ceil(q * samples.size())) - 1];
    const double est = h.quantile_ns(q);
    INFO("q=" << q << " exact=" << exact << " est=" << est);
    // Same bucket, so within the bucket's relative width.
    const auto b = LatencyHistogram::bucket_of(exact);
    REQUIRE(est >= static_cast<double>(LatencyHistogram::lower_ns(b)));
    REQUIRE(est <= static_cast<double>(LatencyHistogram::upper_ns(b)));
  }
}

TEST_CASE("a single value's quantiles sit inside its bucket") {
  LatencyHistogram h;
  h.record(50'000'000, 10);  // 50 ms
  const double p50 = h.quantile_ns(0.5);
  CHECK(p50 >= 50'000'000 * 0.875);
  CHECK(p50 <= 50'000'000 * 1.125);
}

TEST_CASE("minus gives the interval delta and survives a counter reset") {
  LatencyHistogram a, b;
  a.record(5000, 3);
  b.record(5000, 10);
  b.record(9000, 2);
  auto d = b.minus(a);
  CHECK(d.total() == 9);
  CHECK(d[LatencyHistogram::bucket_of(5000)] == 7);
  // Source reset (fewer counts than before): the new value is all new.
  auto r = a.minus(b);
  CHECK(r[LatencyHistogram::bucket_of(5000)] == 3);
}
