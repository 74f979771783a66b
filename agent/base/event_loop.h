// SPDX-License-Identifier: Apache-2.0
// Single-threaded epoll loop with fd callbacks and one-shot timers on
// CLOCK_MONOTONIC, multiplexed over a single absolute timerfd so a timer
// fires at its instant, not at the next coarse tick.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <unordered_map>

#include "base/result.h"
#include "base/unique_fd.h"

namespace sanwatch {

class EventLoop {
 public:
  using FdCallback = std::function<void(std::uint32_t events)>;
  using TimerCallback = std::function<void()>;
  using TimerId = std::uint64_t;

  static Result<std::unique_ptr<EventLoop>> create();

  Status add_fd(int fd, std::uint32_t events, FdCallback cb);
  void remove_fd(int fd);
  // One-shot timer at an absolute CLOCK_MONOTONIC time (ns).
  TimerId at(std::uint64_t when_ns, TimerCallback cb);
  void cancel(TimerId id);

  // Runs until stop(); returns the first fatal error.
  Status run();
  void stop() { running_ = false; }

 private:
  EventLoop(UniqueFd ep, UniqueFd timer) : ep_(std::move(ep)), timer_(std::move(timer)) {}
  void arm();
  void fire_due();

  UniqueFd ep_, timer_;
  std::unordered_map<int, std::shared_ptr<FdCallback>> fds_;
  std::multimap<std::uint64_t, TimerId> by_time_;
  std::unordered_map<TimerId, std::pair<std::uint64_t, TimerCallback>> timers_;
  TimerId next_id_ = 1;
  std::uint64_t armed_ = 0;
  bool running_ = false;
};

}  // namespace sanwatch
