// SPDX-License-Identifier: Apache-2.0
// The latest MetricsSnapshot and the body rendered from it. Rendering at
// 1,024 devices takes 10-28 ms, so a scrape flood must not render per
// scrape: at most one render runs at a time (scrapes arriving meanwhile wait
// for it and share its result), and a body is reused while no snapshot or
// state change has been published since and it is younger than max_age.
// The event loop publishes without waiting for a render in progress.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "exporters/metrics_snapshot.h"

namespace sanwatch {

class ScrapeCache {
 public:
  explicit ScrapeCache(std::chrono::milliseconds max_age = std::chrono::milliseconds(100))
      : max_age_(max_age) {}

  void publish(MetricsSnapshot s);
  // An immediate state update between snapshots.
  void set_state(const std::string& target, const std::string& state);

  struct Body {
    std::shared_ptr<const std::string> data;
    bool gzipped = false;  // false also when compression failed: sent plain
  };
  // The exposition body, gzipped when asked; a render takes the server's
  // own counters from `http`.
  Body body(bool gzip, const std::function<HttpStats()>& http);
  std::uint64_t renders() const { return renders_.load(); }

 private:
  // One rendered generation: the text, and its gzip once a scraper asked.
  struct Entry {
    std::uint64_t generation = 0;
    std::chrono::steady_clock::time_point at;
    std::shared_ptr<const std::string> plain, gz;
  };
  bool fresh_locked() const;
  std::shared_ptr<const MetricsSnapshot> current_locked() const;
  std::shared_ptr<const std::string> render(const MetricsSnapshot& snap, const HttpStats& http);

  const std::chrono::milliseconds max_age_;
  std::mutex mu_;
  std::condition_variable done_;
  bool busy_ = false;  // a render or compression is running (outside mu_)
  std::uint64_t generation_ = 1;
  Entry entry_;
  std::shared_ptr<const MetricsSnapshot> snap_ = std::make_shared<MetricsSnapshot>();
  std::map<std::string, std::string> states_;  // state changes since snap_
  std::atomic<std::uint64_t> renders_{0};
  std::atomic<double> last_render_s_{0};
  std::size_t last_size_ = 0;  // only the renderer touches it
};

}  // namespace sanwatch
