// What a filesystem lives on, read from fixture sysfs trees.
#include <catch2/catch.hpp>

#include "host/device_stack.h"

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
