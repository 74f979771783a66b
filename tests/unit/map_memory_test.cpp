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

namespace {

std::uint64_t total_bytes(unsigned max_watch, unsigned cpus) {
  BpfEngine::Options o;
  o.max_watch = max_watch;
  auto maps = BpfEngine::map_footprint(o, cpus);
  REQUIRE(maps.ok());
  std::uint64_t sum = 0;
  for (const MapFootprint& m : *maps) sum += m.bytes;
  return sum;
}

// What one more device slot costs: the difference between two sizings, so
// every map sized by the device count is in it (stats, maxima, the device
// table, the watch hash) and nothing else (in-flight slots go by tags, the
// queue cache and the ring are fixed).
std::uint64_t per_device(unsigned cpus) {
  return (total_bytes(128, cpus) - total_bytes(64, cpus)) / 64;
}

}  // namespace

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

TEST_CASE("kernel map memory per watched device is at most 32 KiB at 128 CPUs") {
  const std::uint64_t at64 = per_device(64), at128 = per_device(128);
  std::printf("map memory per watched device: %llu B at 64 possible CPUs, %llu B at 128\n",
              static_cast<unsigned long long>(at64), static_cast<unsigned long long>(at128));
  CHECK(at128 <= 32 * 1024);
  // 2,048 devices within 64 MiB.
  CHECK(2048 * at128 <= 64ull << 20);
}
