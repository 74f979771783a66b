// SPDX-License-Identifier: Apache-2.0
#include "wall_clock_step.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <string>

namespace sanwatch::test {
namespace {

bool shift_realtime(std::int64_t ns) noexcept {
  timespec ts{};
  if (clock_gettime(CLOCK_REALTIME, &ts)) return false;
  const std::int64_t now = static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
  const std::int64_t to = now + ns;
  ts.tv_sec = to / 1'000'000'000;
  ts.tv_nsec = to % 1'000'000'000;
  return clock_settime(CLOCK_REALTIME, &ts) == 0;
}

// The guardian: reads net offsets until EOF, then undoes the last one. Runs
// in a grandchild of the test (reparented to init, in its own session) so
// that whatever kills the test's process tree does not reach it. Only
// async-signal-safe calls: the test process has threads.
[[noreturn]] void guardian_main(int rfd) {
  setsid();
  if (rfd != 3) {
    dup2(rfd, 3);
    rfd = 3;
  }
  const int devnull = open("/dev/null", O_RDWR);
  for (int fd = 0; fd < 3; ++fd) dup2(devnull, fd);
  close_range(4, ~0U, 0);
  std::int64_t net = 0, v = 0;
  for (;;) {
    const ssize_t n = read(rfd, &v, sizeof(v));
    if (n == sizeof(v)) {
      net = v;
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else {
      break;
    }
  }
  if (net != 0) shift_realtime(-net);
  _exit(0);
}

}  // namespace

WallClockStep::WallClockStep() {
  int p[2];
  if (pipe2(p, O_CLOEXEC)) throw std::runtime_error("pipe for the clock guardian");
  const pid_t child = fork();
  if (child == 0) {
    close(p[1]);
    if (fork() == 0) guardian_main(p[0]);
    _exit(0);
  }
  close(p[0]);
  if (child < 0) {
    close(p[1]);
    throw std::runtime_error("fork for the clock guardian");
  }
  waitpid(child, nullptr, 0);
  guardian_fd_ = p[1];
  // Probe the privilege with a null step.
  if (!shift_realtime(0)) {
    close(guardian_fd_);
    guardian_fd_ = -1;
    throw std::runtime_error(std::string("clock_settime(CLOCK_REALTIME): ") + std::strerror(errno));
  }
}

WallClockStep::~WallClockStep() {
  restore();
  if (guardian_fd_ >= 0) close(guardian_fd_);
}

void WallClockStep::step(std::chrono::nanoseconds by) {
  if (!shift_realtime(by.count()))
    throw std::runtime_error(std::string("stepping the wall clock: ") + std::strerror(errno));
  net_ += by;
  tell_guardian();
}

void WallClockStep::restore() noexcept {
  if (net_.count() == 0) return;
  if (shift_realtime(-net_.count())) {
    net_ = std::chrono::nanoseconds(0);
    tell_guardian();
  } else {
    std::fprintf(stderr, "WallClockStep: cannot restore the wall clock (%s); off by %lld ns\n",
                 std::strerror(errno), static_cast<long long>(net_.count()));
  }
}

void WallClockStep::tell_guardian() noexcept {
  const std::int64_t v = net_.count();
  if (guardian_fd_ >= 0) {
    [[maybe_unused]] auto n = write(guardian_fd_, &v, sizeof(v));
  }
}

double wall_now_s() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<double>(ts.tv_sec) + ts.tv_nsec / 1e9;
}

double parse_rfc3339(const std::string& ts) {
  tm t{};
  const char* rest = strptime(ts.c_str(), "%Y-%m-%dT%H:%M:%S", &t);
  if (!rest) return std::nan("");
  double frac = 0;
  if (*rest == '.') frac = std::strtod(rest, nullptr);  // ".032138Z" -> 0.032138
  return static_cast<double>(timegm(&t)) + frac;
}

}  // namespace sanwatch::test
