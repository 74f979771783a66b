// SPDX-License-Identifier: Apache-2.0
#include "kernel/slot_allocator.h"

namespace sanwatch {

SlotAllocator::SlotAllocator(std::uint32_t capacity) {
  if (capacity) free_[0] = capacity;
}

SlotAllocator::Range SlotAllocator::allocate(std::uint32_t queues, std::uint32_t per_queue) {
  if (per_queue == 0) queues = 0;
  // Try the full size first, then fewer queues: partial tracking beats none.
  for (std::uint32_t q = queues; q > 0; --q) {
    const std::uint32_t want = q * per_queue;
    for (auto it = free_.begin(); it != free_.end(); ++it) {
      if (it->second < want) continue;
      const std::uint32_t base = it->first, len = it->second;
      free_.erase(it);
      if (len > want) free_[base + want] = len - want;
      used_[base] = want;
      return Range{base, q, per_queue};
    }
  }
  return Range{};
}

void SlotAllocator::release(std::uint32_t base) {
  auto u = used_.find(base);
  if (u == used_.end()) return;
  std::uint32_t len = u->second;
  used_.erase(u);
  auto next = free_.lower_bound(base);
  if (next != free_.end() && base + len == next->first) {
    len += next->second;
    next = free_.erase(next);
  }
  if (next != free_.begin()) {
    auto prev = std::prev(next);
    if (prev->first + prev->second == base) {
      prev->second += len;
      return;
    }
  }
  free_[base] = len;
}

std::uint32_t SlotAllocator::free_slots() const {
  std::uint32_t n = 0;
  for (const auto& [b, l] : free_) n += l;
  return n;
}

}  // namespace sanwatch
