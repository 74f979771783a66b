// SPDX-License-Identifier: Apache-2.0
#include "detect/engine_sizing.h"

#include <catch2/catch.hpp>

using sanwatch::BlockDevice;
using sanwatch::engine_sizing;

TEST_CASE("engine sizing: the disks present plus room, at least 16 spare device slots") {
  CHECK(engine_sizing(0, 0).max_watch == 16);
  CHECK(engine_sizing(10, 0).max_watch == 26);
  CHECK(engine_sizing(100, 0).max_watch == 150);
  CHECK(engine_sizing(10, 100).inflight_slots == 16384);  // floor
  CHECK(engine_sizing(10, 10000).inflight_slots == 20000);
}

TEST_CASE("engine sizing over a disk list counts only disks with a size") {
  BlockDevice sda{.name = "sda", .size_bytes = 1 << 30, .nr_hw_queues = 4, .tags_per_queue = 3000};
  BlockDevice loop0{.name = "loop0", .size_bytes = 0, .nr_hw_queues = 1, .tags_per_queue = 128};
  const auto s = engine_sizing(std::vector<BlockDevice>{sda, loop0});
  CHECK(s.devices == 1);
  CHECK(s.max_watch == 17);
  CHECK(s.inflight_slots == 24000);
}
