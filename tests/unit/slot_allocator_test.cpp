// SPDX-License-Identifier: Apache-2.0
#include "kernel/slot_allocator.h"

#include <catch2/catch.hpp>

using sanwatch::SlotAllocator;

TEST_CASE("slot ranges are disjoint and coalesce when released") {
  SlotAllocator a(1000);
  auto r1 = a.allocate(1, 128);
  auto r2 = a.allocate(2, 256);
  REQUIRE(r1.queues == 1);
  REQUIRE(r2.queues == 2);
  CHECK((r1.base + 128 <= r2.base || r2.base + 512 <= r1.base));
  CHECK(a.free_slots() == 1000 - 128 - 512);
  a.release(r1.base);
  a.release(r2.base);
  CHECK(a.free_slots() == 1000);
  auto big = a.allocate(1, 1000);  // only possible if the free space coalesced
  CHECK(big.queues == 1);
}

TEST_CASE("a device larger than the free space gets fewer queues, never an overlap") {
  SlotAllocator a(300);
  auto r = a.allocate(4, 128);
  CHECK(r.queues == 2);
  CHECK(r.per_queue == 128);
  auto none = a.allocate(1, 128);
  CHECK(none.queues == 0);
  a.release(none.base);  // releasing an empty range frees nothing
  CHECK(a.free_slots() == 300 - 256);
}

TEST_CASE("bio-based devices (no queues) take no slots") {
  SlotAllocator a(100);
  auto r = a.allocate(0, 0);
  CHECK(r.queues == 0);
  CHECK(a.free_slots() == 100);
}
