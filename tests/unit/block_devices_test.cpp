// SPDX-License-Identifier: Apache-2.0
#include "host/block_devices.h"

#include <algorithm>
#include <catch2/catch.hpp>

using sanwatch::SysfsBlock;

namespace {
const std::string kBasic = std::string(SANWATCH_FIXTURES) + "/hosts/basic";
}

TEST_CASE("disks are listed with numbers, geometry and dm identity") {
  SysfsBlock sys(kBasic);
  auto disks = sys.disks();
  REQUIRE(disks.ok());
  std::vector<std::string> names;
  for (const auto& d : *disks) names.push_back(d.name);
  CHECK(names ==
        std::vector<std::string>{"dm-0", "loop0", "loop1", "nvme0n1", "ram0", "sda", "sdb"});

  auto dm = sys.disk("dm-0");
  REQUIRE(dm.ok());
  CHECK(dm->id.major == 254);
  CHECK(dm->id.minor == 0);
  CHECK(dm->dm_name == "mpatha");
  CHECK(dm->dm_uuid == "mpath-360002ac0000000000000000b00019c4f");
  CHECK(dm->slaves == std::vector<std::string>{"sda", "sdb"});
  CHECK(dm->nr_hw_queues == 1);
  CHECK(dm->tags_per_queue == 2048);  // driver tags exceed nr_requests here

  auto nvme = sys.disk("nvme0n1");
  REQUIRE(nvme.ok());
  CHECK(nvme->nr_hw_queues == 2);
  CHECK(nvme->tags_per_queue == 1023);
  CHECK(nvme->size_bytes == 4194304ull * 512);
  CHECK(nvme->id.kernel_dev() == ((259u << 20) | 0u));
}

TEST_CASE("every way of naming a device resolves to the same disk") {
  SysfsBlock sys(kBasic);
  for (const std::string spec : {"dm-0", "mpatha", "/dev/mapper/mpatha", "254:0", "/dev/dm-0"}) {
    INFO(spec);
    auto r = sys.resolve(spec);
    REQUIRE(r.ok());
    CHECK(r->disk.name == "dm-0");
    CHECK(r->partition.empty());
    CHECK(r->requested == spec);
  }
}

TEST_CASE("a partition resolves to its disk and says so") {
  SysfsBlock sys(kBasic);
  for (const std::string spec : {"sda1", "8:1", "/dev/sda1"}) {
    INFO(spec);
    auto r = sys.resolve(spec);
    REQUIRE(r.ok());
    CHECK(r->disk.name == "sda");
    CHECK(r->partition == "sda1");
  }
}

TEST_CASE("unknown devices are errors naming what was asked") {
  SysfsBlock sys(kBasic);
  for (const std::string spec : {"sdz", "9:9", "/dev/mapper/nope", "", "mpathz"}) {
    INFO(spec);
    auto r = sys.resolve(spec);
    REQUIRE_FALSE(r.ok());
    if (!spec.empty())
      CHECK(r.error().message().find(spec.substr(spec.rfind('/') + 1)) != std::string::npos);
  }
}

TEST_CASE("default watch set skips ram, unbound loops and empty devices") {
  SysfsBlock sys(kBasic);
  auto disks = sys.disks();
  REQUIRE(disks.ok());
  std::vector<std::string> with_loop, without_loop;
  for (const auto& d : *disks) {
    if (sanwatch::watchable_by_default(d, true)) with_loop.push_back(d.name);
    if (sanwatch::watchable_by_default(d, false)) without_loop.push_back(d.name);
  }
  CHECK(with_loop == std::vector<std::string>{"dm-0", "loop0", "nvme0n1", "sda", "sdb"});
  CHECK(without_loop == std::vector<std::string>{"dm-0", "nvme0n1", "sda", "sdb"});
}

TEST_CASE("MAJ:MIN parsing is strict") {
  CHECK(sanwatch::parse_dev_id("8:16") == sanwatch::DevId{8, 16});
  CHECK_FALSE(sanwatch::parse_dev_id("8:16x"));
  CHECK_FALSE(sanwatch::parse_dev_id("8"));
  CHECK_FALSE(sanwatch::parse_dev_id("sda"));
}
