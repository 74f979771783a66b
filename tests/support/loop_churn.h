// SPDX-License-Identifier: Apache-2.0
// LoopChurn: a thread that attaches and detaches the devices of a LoopPool
// at random for a given time, each device alternating between attached
// (some for a few ms only, most for 0.1-1.5 s) and detached (50-800 ms), and
// records every attachment (an episode) with its CLOCK_MONOTONIC times. At
// the end, or when destroyed early, it detaches whatever it attached.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <queue>
#include <random>
#include <thread>
#include <vector>

#include "agent_process.h"
#include "loop_pool.h"

namespace sanwatch::test {

class LoopChurn {
 public:
  struct Episode {
    std::uint64_t attach_ns = 0, detach_ns = 0;  // detach_ns: when LOOP_CLR_FD returned
  };
  struct Result {
    std::vector<std::vector<Episode>> episodes;  // by pool index, in order
    unsigned attach_errors = 0, detach_errors = 0, peak_attached = 0;
    std::size_t total() const {
      std::size_t n = 0;
      for (const auto& e : episodes) n += e.size();
      return n;
    }
  };

  LoopChurn(LoopPool& pool, std::chrono::milliseconds duration, unsigned seed)
      : pool_(pool), rng_(seed) {
    r_.episodes.resize(pool.size());
    thread_ = std::thread([this, duration] { run(duration); });
  }
  ~LoopChurn() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  LoopChurn(const LoopChurn&) = delete;
  LoopChurn& operator=(const LoopChurn&) = delete;

  bool done() const { return done_; }
  // Waits for the end; the episodes are only read after it.
  const Result& result() {
    if (thread_.joinable()) thread_.join();
    return r_;
  }

 private:
  using Clock = std::chrono::steady_clock;
  struct Due {
    Clock::time_point at;
    unsigned dev;
    bool operator>(const Due& o) const { return at > o.at; }
  };

  std::chrono::milliseconds uniform_ms(int lo, int hi) {
    return std::chrono::milliseconds(std::uniform_int_distribution<int>(lo, hi)(rng_));
  }
  // One in five attachments lives a few ms: the agent may never see those.
  std::chrono::milliseconds lifetime() {
    return std::uniform_int_distribution<int>(0, 4)(rng_) == 0 ? uniform_ms(1, 20)
                                                               : uniform_ms(100, 1500);
  }

  void act(unsigned dev, std::priority_queue<Due, std::vector<Due>, std::greater<>>& q,
           std::vector<bool>& attached, unsigned& now_attached) {
    const auto now = Clock::now();
    if (!attached[dev]) {
      if (pool_.attach(dev) != 0) {
        ++r_.attach_errors;  // e.g. taken by another test's losetup -f
        if (pool_.owned(dev)) q.push({now + uniform_ms(50, 800), dev});
        return;
      }
      r_.episodes[dev].push_back({mono_now_ns(), 0});
      attached[dev] = true;
      r_.peak_attached = std::max(r_.peak_attached, ++now_attached);
      q.push({now + lifetime(), dev});
    } else {
      detach(dev, attached, now_attached);
      q.push({now + uniform_ms(50, 800), dev});
    }
  }

  void detach(unsigned dev, std::vector<bool>& attached, unsigned& now_attached) {
    if (pool_.detach(dev) != 0) ++r_.detach_errors;
    r_.episodes[dev].back().detach_ns = mono_now_ns();
    attached[dev] = false;
    --now_attached;
  }

  void run(std::chrono::milliseconds duration) {
    const auto end = Clock::now() + duration;
    std::priority_queue<Due, std::vector<Due>, std::greater<>> q;
    std::vector<bool> attached(pool_.size(), false);
    unsigned now_attached = 0;
    for (unsigned i = 0; i < pool_.size(); ++i)
      if (pool_.owned(i)) q.push({Clock::now() + uniform_ms(0, 500), i});
    while (!stop_ && !q.empty() && q.top().at < end) {
      const Due d = q.top();
      q.pop();
      std::this_thread::sleep_until(d.at);
      act(d.dev, q, attached, now_attached);
    }
    for (unsigned i = 0; i < pool_.size(); ++i)
      if (attached[i]) detach(i, attached, now_attached);
    done_ = true;
  }

  LoopPool& pool_;
  std::mt19937 rng_;
  Result r_;
  std::atomic<bool> stop_{false}, done_{false};
  std::thread thread_;
};

}  // namespace sanwatch::test
