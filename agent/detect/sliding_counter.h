// SPDX-License-Identifier: Apache-2.0
// Event counts over a sliding time window, in fixed sub-buckets: O(1) memory
// and time per event, accurate to one sub-bucket (window / 20).
#pragma once

#include <array>
#include <cstdint>

namespace sanwatch {

class SlidingCounter {
 public:
  static constexpr int kSlots = 20;

  explicit SlidingCounter(std::uint64_t window_ns = 10'000'000'000ull) { set_window(window_ns); }
  void set_window(std::uint64_t window_ns) {
    slot_ns_ = window_ns / kSlots ? window_ns / kSlots : 1;
    counts_.fill(0);
    epochs_.fill(~0ull);
  }
  void add(std::uint64_t now_ns, std::uint64_t n) {
    const std::uint64_t e = now_ns / slot_ns_;
    auto& slot = counts_[e % kSlots];
    if (epochs_[e % kSlots] != e) {
      epochs_[e % kSlots] = e;
      slot = 0;
    }
    slot += n;
  }
  std::uint64_t sum(std::uint64_t now_ns) const {
    const std::uint64_t e = now_ns / slot_ns_;
    std::uint64_t s = 0;
    for (int i = 0; i < kSlots; ++i)
      if (epochs_[i] != ~0ull && epochs_[i] + kSlots > e && epochs_[i] <= e) s += counts_[i];
    return s;
  }

 private:
  std::uint64_t slot_ns_ = 1;
  std::array<std::uint64_t, kSlots> counts_{};
  std::array<std::uint64_t, kSlots> epochs_{};
};

}  // namespace sanwatch
