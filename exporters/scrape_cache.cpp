// SPDX-License-Identifier: Apache-2.0
#include "exporters/scrape_cache.h"

#include "base/clock.h"
#include "exporters/exposition.h"
#include "exporters/metrics.h"

namespace sanwatch {

void ScrapeCache::publish(MetricsSnapshot s) {
  auto next = std::make_shared<const MetricsSnapshot>(std::move(s));
  std::lock_guard<std::mutex> lock(mu_);
  snap_ = std::move(next);
  states_.clear();  // the snapshot carries every state change before it
  ++generation_;
}

void ScrapeCache::set_state(const std::string& target, const std::string& state) {
  std::lock_guard<std::mutex> lock(mu_);
  states_[target] = state;
  ++generation_;
}

bool ScrapeCache::fresh_locked() const {
  return entry_.plain && entry_.generation == generation_ &&
         std::chrono::steady_clock::now() - entry_.at < max_age_;
}

// The snapshot with the state changes made since it was taken: a copy only
// in the (rare) window between a state change and the next publish.
std::shared_ptr<const MetricsSnapshot> ScrapeCache::current_locked() const {
  if (states_.empty()) return snap_;
  auto copy = std::make_shared<MetricsSnapshot>(*snap_);
  for (auto& t : copy->targets)
    if (auto it = states_.find(t.label); it != states_.end()) t.state = it->second;
  return copy;
}

std::shared_ptr<const std::string> ScrapeCache::render(const MetricsSnapshot& snap,
                                                       const HttpStats& http) {
  const ServerStats server{last_render_s_.load(), renders_.load() + 1, http};
  auto text = std::make_shared<std::string>();
  text->reserve(last_size_ * 9 / 8);
  write_text_exposition(render_families(snap, monotonic_ns(), server), *text);
  last_size_ = text->size();
  renders_.fetch_add(1);
  return text;
}

ScrapeCache::Body ScrapeCache::body(bool gzip, const std::function<HttpStats()>& http) {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    const bool fresh = fresh_locked();
    if (fresh && (!gzip || entry_.gz)) return gzip ? Body{entry_.gz, true} : Body{entry_.plain};
    if (!busy_) break;
    done_.wait(lock);  // another scrape is rendering: share its result
  }
  // This scrape renders (or compresses a fresh body); the lock is released
  // meanwhile, so publish() and set_state() never wait for it.
  busy_ = true;
  Entry e = fresh_locked() ? entry_ : Entry{};
  std::shared_ptr<const MetricsSnapshot> snap;
  if (!e.plain) {
    e.generation = generation_;
    snap = current_locked();
  }
  lock.unlock();
  struct Done {  // busy_ is cleared and waiters woken even if rendering throws
    ScrapeCache& c;
    ~Done() {
      std::lock_guard<std::mutex> l(c.mu_);
      c.busy_ = false;
      c.done_.notify_all();
    }
  };
  Body out;
  {
    Done done{*this};
    const auto t0 = std::chrono::steady_clock::now();
    if (snap) {
      e.plain = render(*snap, http());
      e.at = t0;
    }
    if (gzip) {
      auto gz = gzip_compress(*e.plain, 1);  // level 1: see exposition.h
      if (!gz.empty()) e.gz = std::make_shared<const std::string>(std::move(gz));
    }
    if (snap)  // a compression alone is not a scrape's render
      last_render_s_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    out = gzip && e.gz ? Body{e.gz, true} : Body{e.plain};
    std::lock_guard<std::mutex> l(mu_);
    entry_ = std::move(e);
  }
  return out;
}

}  // namespace sanwatch
