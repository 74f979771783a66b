// SPDX-License-Identifier: Apache-2.0
// First-fit allocator of contiguous ranges in the in-flight slot array: each
// watched device gets nr_hw_queues x tags_per_queue slots.
#pragma once

#include <cstdint>
#include <map>

namespace sanwatch {

class SlotAllocator {
 public:
  static constexpr std::uint32_t kNoBase = ~0u;
  struct Range {
    std::uint32_t base = kNoBase;  // kNoBase when no slots were given
    std::uint32_t queues = 0;      // may be fewer than asked when space is short
    std::uint32_t per_queue = 0;
  };

  explicit SlotAllocator(std::uint32_t capacity);
  // Never fails: with too little room it returns fewer queues (possibly 0).
  Range allocate(std::uint32_t queues, std::uint32_t per_queue);
  void release(std::uint32_t base);
  std::uint32_t free_slots() const;

 private:
  std::map<std::uint32_t, std::uint32_t> free_;  // base -> length, coalesced
  std::map<std::uint32_t, std::uint32_t> used_;  // base -> length
};

}  // namespace sanwatch
