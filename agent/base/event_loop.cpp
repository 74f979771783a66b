// SPDX-License-Identifier: Apache-2.0
#include "base/event_loop.h"

#include <sys/epoll.h>
#include <sys/timerfd.h>

#include <vector>

#include "base/clock.h"

namespace sanwatch {

Result<std::unique_ptr<EventLoop>> EventLoop::create() {
  UniqueFd ep(epoll_create1(EPOLL_CLOEXEC));
  if (!ep.valid()) return errno_error("epoll_create1");
  UniqueFd t(timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK));
  if (!t.valid()) return errno_error("timerfd_create");
  std::unique_ptr<EventLoop> loop(new EventLoop(std::move(ep), std::move(t)));
  const int tfd = loop->timer_.get();
  EventLoop* self = loop.get();
  auto st = loop->add_fd(tfd, EPOLLIN, [self, tfd](std::uint32_t) {
    std::uint64_t n;
    while (read(tfd, &n, sizeof(n)) > 0) {
    }
    self->armed_ = 0;
    self->fire_due();
  });
  if (!st) return st.error();
  return loop;
}

Status EventLoop::add_fd(int fd, std::uint32_t events, FdCallback cb) {
  epoll_event ev{};
  ev.events = events;
  ev.data.fd = fd;
  if (epoll_ctl(ep_.get(), EPOLL_CTL_ADD, fd, &ev)) return errno_error("epoll_ctl add");
  fds_[fd] = std::make_shared<FdCallback>(std::move(cb));
  return {};
}

void EventLoop::remove_fd(int fd) {
  epoll_ctl(ep_.get(), EPOLL_CTL_DEL, fd, nullptr);
  fds_.erase(fd);
}

EventLoop::TimerId EventLoop::at(std::uint64_t when_ns, TimerCallback cb) {
  const TimerId id = next_id_++;
  timers_[id] = {when_ns, std::move(cb)};
  by_time_.emplace(when_ns, id);
  arm();
  return id;
}

void EventLoop::cancel(TimerId id) {
  auto it = timers_.find(id);
  if (it == timers_.end()) return;
  auto range = by_time_.equal_range(it->second.first);
  for (auto i = range.first; i != range.second; ++i)
    if (i->second == id) {
      by_time_.erase(i);
      break;
    }
  timers_.erase(it);
}

// Keeps the timerfd set to the earliest pending timer.
void EventLoop::arm() {
  if (by_time_.empty()) return;
  const std::uint64_t first = by_time_.begin()->first;
  if (armed_ && armed_ <= first) return;
  itimerspec its{};
  const std::uint64_t when = first ? first : 1;
  its.it_value.tv_sec = static_cast<time_t>(when / 1000000000ull);
  its.it_value.tv_nsec = static_cast<long>(when % 1000000000ull);
  timerfd_settime(timer_.get(), TFD_TIMER_ABSTIME, &its, nullptr);
  armed_ = when;
}

void EventLoop::fire_due() {
  const std::uint64_t now = monotonic_ns();
  std::vector<TimerCallback> due;
  while (!by_time_.empty() && by_time_.begin()->first <= now) {
    const TimerId id = by_time_.begin()->second;
    by_time_.erase(by_time_.begin());
    auto it = timers_.find(id);
    if (it == timers_.end()) continue;
    due.push_back(std::move(it->second.second));
    timers_.erase(it);
  }
  for (auto& cb : due) cb();
  arm();
}

Status EventLoop::run() {
  running_ = true;
  epoll_event evs[32];
  while (running_) {
    const int n = epoll_wait(ep_.get(), evs, 32, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno_error("epoll_wait");
    }
    for (int i = 0; i < n && running_; ++i) {
      auto it = fds_.find(evs[i].data.fd);
      if (it == fds_.end()) continue;
      auto cb = it->second;  // keeps the callback alive if it removes itself
      (*cb)(evs[i].events);
    }
  }
  return {};
}

}  // namespace sanwatch
