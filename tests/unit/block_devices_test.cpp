// SPDX-License-Identifier: Apache-2.0
#include "host/block_devices.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <map>

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

TEST_CASE("hidden NVMe path disks take their numbers from /proc/diskstats") {
  SysfsBlock sys(std::string(SANWATCH_FIXTURES) + "/hosts/nvmeof");
  auto disks = sys.disks();
  REQUIRE(disks.ok());
  std::map<std::string, sanwatch::BlockDevice> by;
  for (const auto& d : *disks) by.emplace(d.name, d);
  REQUIRE(by.size() == 3);
  CHECK(by.at("nvme0c0n1").id == sanwatch::DevId{259, 0});
  CHECK(by.at("nvme0c0n1").hidden);
  CHECK(by.at("nvme0c0n1").nr_hw_queues == 1);  // blk-mq: its requests are traced
  CHECK(by.at("nvme0c1n1").id == sanwatch::DevId{259, 2});
  CHECK(by.at("nvme0n1").id == sanwatch::DevId{259, 1});
  CHECK_FALSE(by.at("nvme0n1").hidden);
  CHECK(by.at("nvme0n1").nr_hw_queues == 0);  // bio-based head
  CHECK(by.at("nvme0n1").wwid == "uuid.5a1c3e0b-7f1d-4c7e-9a55-3b2d8c41f0aa");
  auto one = sys.disk("nvme0c1n1");  // alone, not in a scan
  REQUIRE(one.ok());
  CHECK(one->id == sanwatch::DevId{259, 2});
  auto by_name = sys.resolve("nvme0c1n1");
  REQUIRE(by_name.ok());
  CHECK(by_name->disk.id == sanwatch::DevId{259, 2});
  auto by_number = sys.resolve("259:2");  // no /sys/dev/block link for it
  REQUIRE(by_number.ok());
  CHECK(by_number->disk.name == "nvme0c1n1");
  CHECK_FALSE(sys.resolve("259:7").ok());
}

TEST_CASE("diskstats: numbers by name, malformed lines skipped") {
  const auto m = sanwatch::parse_diskstats(
      " 259       0 nvme0c0n1 3 0 24 30 0 0 0 0 0 28 30 0 0 0 0 0 0\n"
      "   8      16 sdb 1 2 3\n"
      "garbage\n"
      " 259 x nvme9n1 0\n"
      "4096 0 toobig 0\n"
      "   7       1 loop1");  // no trailing newline
  CHECK(m.size() == 3);
  CHECK(m.at("nvme0c0n1") == sanwatch::DevId{259, 0});
  CHECK(m.at("sdb") == sanwatch::DevId{8, 16});
  CHECK(m.at("loop1") == sanwatch::DevId{7, 1});
  CHECK(m.count("nvme9n1") == 0);
  CHECK(m.count("toobig") == 0);
  CHECK(sanwatch::parse_diskstats("").empty());
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
