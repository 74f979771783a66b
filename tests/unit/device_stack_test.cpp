// SPDX-License-Identifier: Apache-2.0
// What a filesystem lives on, read from fixture sysfs trees.
#include "host/device_stack.h"

#include <catch2/catch.hpp>

#include "cli/agent_ledger.h"

using namespace sanwatch;

namespace {
const std::string kBasic = std::string(SANWATCH_FIXTURES) + "/hosts/basic";
}

TEST_CASE("device stack: a multipath map and the paths below it") {
  CHECK(devices_below(kBasic, DevId{254, 0}) == std::vector<std::string>{"dm-0", "sda", "sdb"});
}

TEST_CASE("device stack: a partition and its disk") {
  CHECK(devices_below(kBasic, DevId{8, 1}) == std::vector<std::string>{"sda1", "sda"});
}

TEST_CASE("device stack: no block device behind a filesystem (tmpfs), or an unknown one") {
  CHECK(devices_below(kBasic, DevId{0, 42}).empty());
  CHECK(devices_below(kBasic, DevId{123, 4}).empty());
}

TEST_CASE("device stack: the filesystem device of a path that does not exist yet") {
  const auto d = filesystem_device("/proc/self/no/such/file");
  REQUIRE(d);
  CHECK(d->major == 0);  // procfs
}

TEST_CASE("ledger placement: a filesystem on a watched map or one of its paths is flagged") {
  std::vector<TargetSnapshot> targets(3);
  targets[0].name = "dm-0", targets[0].label = "mpatha", targets[0].target_type = "map";
  targets[1].name = "sda", targets[1].label = "sda", targets[1].target_type = "path";
  targets[2].name = "nvme0n1", targets[2].label = "nvme0n1", targets[2].target_type = "device";
  // On the map itself (an LV or filesystem over mpatha).
  CHECK(watched_below(devices_below(kBasic, DevId{254, 0}), targets) == "map mpatha");
  // A partition of one of its paths.
  CHECK(watched_below(devices_below(kBasic, DevId{8, 1}), {targets[1], targets[2]}) == "path sda");
  // A plain local disk is where it belongs, even when watched.
  CHECK_FALSE(watched_below(devices_below(kBasic, DevId{259, 0}), targets));
}
