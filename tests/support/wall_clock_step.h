// SPDX-License-Identifier: Apache-2.0
// Steps the host's wall clock (CLOCK_REALTIME) for a test and always steps
// it back by the net offset: in the destructor (a failed REQUIRE unwinds
// through it), and, should the test process die without unwinding (SIGKILL
// from a CTest timeout), from a detached guardian process that restores the
// clock when the test's end of a pipe closes. The clock is the whole
// machine's: keep the stepped time short.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>

namespace sanwatch::test {

class WallClockStep {
 public:
  // Starts the guardian; throws std::runtime_error without CAP_SYS_TIME.
  WallClockStep();
  // Restores the clock (noexcept); the guardian then exits.
  ~WallClockStep();
  WallClockStep(const WallClockStep&) = delete;
  WallClockStep& operator=(const WallClockStep&) = delete;

  // Steps the clock by `by` (negative: back); throws on failure.
  void step(std::chrono::nanoseconds by);
  // Steps back by everything stepped so far. Errors are those of the
  // read-modify-write of the clock: microseconds.
  void restore() noexcept;
  std::chrono::nanoseconds net() const { return net_; }

 private:
  void tell_guardian() noexcept;

  std::chrono::nanoseconds net_{0};
  int guardian_fd_ = -1;  // write end: the current net offset, as int64 ns
};

// CLOCK_REALTIME now, in seconds since the epoch.
double wall_now_s();
// "2026-11-23T16:08:25.032138Z" (the agent's ts) as seconds since the
// epoch; NaN when it does not parse.
double parse_rfc3339(const std::string& ts);

}  // namespace sanwatch::test
