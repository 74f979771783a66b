// SPDX-License-Identifier: Apache-2.0
// I/O that was outstanding before tracing began, where the kernel gives no
// way to find the requests themselves (bio-based queues such as dm-linear or
// NVMe multipath heads, kernels without the seeding program): only their
// number, from /sys/block/X/inflight, and a lower bound on their age. Pure:
// the caller reads sysfs and passes the figures in.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace sanwatch {

// "   3        1\n" (reads, writes) -> 4.
std::optional<unsigned> parse_inflight(std::string_view text);
// Field 10 of /sys/block/X/stat: milliseconds with I/O in flight.
std::optional<std::uint64_t> parse_io_ticks_ms(std::string_view stat);

class PreexistingIo {
 public:
  // Idle time (ms) the kernel must report before it proves the device was
  // empty at some instant: io_ticks has jiffy resolution (up to 10 ms) and
  // is read a little apart from the wall clock.
  static constexpr std::uint64_t kIdleProofMs = 25;

  // `count` requests outstanding at `now_ns` that tracing did not see start.
  void begin(unsigned count, std::uint64_t now_ns, std::optional<std::uint64_t> io_ticks_ms);
  // A later reading. The requests from before are over once the device was
  // seen empty (count 0) or the kernel accounted idle time since begin();
  // until then at most min(count, inflight) of them are left.
  void update(std::optional<unsigned> inflight, std::uint64_t now_ns,
              std::optional<std::uint64_t> io_ticks_ms);

  unsigned count() const { return count_; }
  // They started no later than this (CLOCK_MONOTONIC ns); 0 when none.
  std::uint64_t since_ns() const { return count_ ? since_ns_ : 0; }

 private:
  unsigned count_ = 0;
  std::uint64_t since_ns_ = 0;
  std::optional<std::uint64_t> ticks0_;
};

}  // namespace sanwatch
