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

TEST_CASE("iSCSI: the target port is the portal, so a dead portal is blamed by name") {
  // As the lab's paths name their ports: one target IQN, two portals (two
  // TPGs), two LUNs through each.
  const std::string iqn = "iqn.2024-12.io.sanwatch.lab:array";
  const std::string a = iqn + ",127.0.0.1:3260", b = iqn + ",127.0.0.1:3261";
  auto ports = port_health({{"sda", "LIO-ORG IBLOCK", a, Health::kFailed},
                            {"sdd", "LIO-ORG IBLOCK", a, Health::kFailed},
                            {"sdb", "LIO-ORG IBLOCK", b, Health::kOk},
                            {"sdc", "LIO-ORG IBLOCK", b, Health::kOk}});
  REQUIRE(ports.size() == 2);
  CHECK(ports.at(a).degraded());
  CHECK(ports.at(a).reason() ==
        "all 2 paths through target port iqn.2024-12.io.sanwatch.lab:array,127.0.0.1:3260 of "
        "LIO-ORG IBLOCK are unhealthy (sda, sdd)");
  CHECK_FALSE(ports.at(b).degraded());
}
