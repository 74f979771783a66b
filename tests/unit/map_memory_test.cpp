// SPDX-License-Identifier: Apache-2.0
// Kernel memory per watched device (issue 17): computed from the real map
// definitions of the block-latency object, sized as the engine sizes it, for
// a host with 128 possible CPUs. Opening the object needs no privileges.
#include <catch2/catch.hpp>
#include <cstdio>
#include <string>

#include "iolat.h"
#include "kernel/bpf_engine.h"

using sanwatch::BpfEngine;
using sanwatch::MapFootprint;

TEST_CASE("map_footprint reads the object's own map definitions") {
  BpfEngine::Options o;
  o.max_watch = 10;
  auto maps = BpfEngine::map_footprint(o, 4);
  REQUIRE(maps.ok());
  bool stats = false;
  for (const MapFootprint& m : *maps) {
    if (m.name != "stats") continue;
    stats = true;
    CHECK(m.value_size == sizeof(sanwatch::bpf::sw_io_stats));
    CHECK(m.max_entries % (10 * sanwatch::bpf::SW_NR_OPS) == 0);
    CHECK(m.bytes >= std::uint64_t{m.max_entries} * m.value_size);
  }
  CHECK(stats);
}
