// SPDX-License-Identifier: Apache-2.0
// The sysfs fallback for I/O outstanding before tracing began: parsers of
// /sys/block/X/inflight and stat, and when the lower bound ends.
#include "kernel/preexisting.h"

#include <catch2/catch.hpp>

using namespace sanwatch;

namespace {
constexpr std::uint64_t kSec = 1'000'000'000ull;
}

TEST_CASE("inflight: reads plus writes, as the kernel prints them") {
  CHECK(parse_inflight("       3        1\n") == 4u);
  CHECK(parse_inflight("0 0") == 0u);
  CHECK(parse_inflight("       0        7\n") == 7u);
  CHECK_FALSE(parse_inflight(""));
  CHECK_FALSE(parse_inflight("3"));
  CHECK_FALSE(parse_inflight("3 x"));
  CHECK_FALSE(parse_inflight("-1 2"));
  CHECK_FALSE(parse_inflight("4294967295 4294967295"));
}

TEST_CASE("stat: io_ticks is the tenth field") {
  const char* stat =
      "    4242        0   339342     1536     1000       20     8000      400        2     "
      "9876     1936        0        0        0        0        0        0\n";
  CHECK(parse_io_ticks_ms(stat) == 9876u);
  CHECK_FALSE(parse_io_ticks_ms("1 2 3"));
  CHECK_FALSE(parse_io_ticks_ms("1 2 3 4 5 6 7 8 9 x"));
}

TEST_CASE("pre-existing I/O: a lower bound from the start of tracing until the device empties") {
  PreexistingIo p;
  CHECK(p.count() == 0);
  CHECK(p.since_ns() == 0);
  p.begin(3, 10 * kSec, 5000);
  CHECK(p.count() == 3);
  CHECK(p.since_ns() == 10 * kSec);
  // Busy the whole time (io_ticks kept pace with the clock): still there.
  p.update(5, 12 * kSec, 7000);
  CHECK(p.count() == 3);
  // At most as many as are in flight now.
  p.update(2, 13 * kSec, 8000);
  CHECK(p.count() == 2);
  // Seen empty: over.
  p.update(0, 14 * kSec, 9000);
  CHECK(p.count() == 0);
  CHECK(p.since_ns() == 0);
}

TEST_CASE("pre-existing I/O: idle time the kernel accounted proves the old requests ended") {
  PreexistingIo p;
  p.begin(1, 10 * kSec, 5000);
  // Within io_ticks' resolution: not proof.
  p.update(4, 11 * kSec, 5990);
  CHECK(p.count() == 1);
  // 100 ms of the last 2 s had nothing in flight: at that instant the old
  // request was done, even though the device is busy again now.
  p.update(4, 12 * kSec, 6900);
  CHECK(p.count() == 0);
}

TEST_CASE("pre-existing I/O: without io_ticks only an empty device ends it") {
  PreexistingIo p;
  p.begin(2, 10 * kSec, std::nullopt);
  p.update(1, 100 * kSec, std::nullopt);
  CHECK(p.count() == 1);
  p.update(std::nullopt, 101 * kSec, 1);  // unreadable: changes nothing
  CHECK(p.count() == 1);
  p.update(0, 102 * kSec, std::nullopt);
  CHECK(p.count() == 0);
}
