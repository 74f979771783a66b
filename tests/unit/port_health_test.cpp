// SPDX-License-Identifier: Apache-2.0
#include "detect/port_health.h"

#include <catch2/catch.hpp>

using namespace sanwatch;

TEST_CASE("a port is to blame only when every path through it is unhealthy") {
  const std::string p1 = "0x20110002ac01c4f1", p2 = "0x21110002ac01c4f1";
  std::vector<PathHealthInput> in = {
      {"sda", "3PARdata VV", p1, Health::kFailed},
      {"sdb", "3PARdata VV", p1, Health::kSlow},
      {"sdc", "3PARdata VV", p2, Health::kFailed},
      {"sdd", "3PARdata VV", p2, Health::kOk},
      {"sde", "", "", Health::kFailed},  // no known port: not counted anywhere
  };
  auto ports = port_health(in);
  REQUIRE(ports.size() == 2);
  CHECK(ports.at(p1).degraded());
  CHECK(
      ports.at(p1).reason() ==
      "all 2 paths through target port 0x20110002ac01c4f1 of 3PARdata VV are unhealthy (sda, sdb)");
  CHECK_FALSE(ports.at(p2).degraded());
  CHECK(ports.at(p2).unhealthy == std::vector<std::string>{"sdc"});
}
