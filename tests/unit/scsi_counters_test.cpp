// SPDX-License-Identifier: Apache-2.0
#include "host/scsi_counters.h"

#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

using namespace sanwatch;

namespace {

const std::string kFixtures = std::string(SANWATCH_FIXTURES) + "/hosts";

}  // namespace

TEST_CASE("SCSI counters parse as the kernel prints them (0x%llx)") {
  CHECK(parse_scsi_counter("0x1a2\n") == 0x1a2);
  CHECK(parse_scsi_counter("0x0\n") == 0);
  CHECK(parse_scsi_counter("0x26") == 0x26);
  CHECK(parse_scsi_counter("0XFF\n") == 0xff);
  CHECK(parse_scsi_counter("0xffffffffffffffff\n") == 0xffffffffffffffffull);
  for (const char* bad : {"", "\n", "0x", "0x\n", "1a2", "418", "0x1g", "0x-1", "0x+1", " 0x1",
                          "0x1 ", "0x1\n\n", "0x10000000000000000", "0x00000000000000001"})
    CHECK_FALSE(parse_scsi_counter(bad).has_value());
}

TEST_CASE("SCSI counter deltas; a counter that went backwards counts from zero") {
  const ScsiCounters before{100, 3, 1}, after{150, 5, 1};
  CHECK(after.since(before) == ScsiCounters{50, 2, 0});
  CHECK(ScsiCounters{7, 0, 0}.since(before) == ScsiCounters{7, 0, 0});
}

TEST_CASE("SCSI counter files of the iscsi fixture host, read and read again") {
  const std::string dev = kFixtures + "/iscsi/sys/block/sda/device";
  auto f = ScsiCounterFiles::open(dev);
  REQUIRE(f.ok());
  auto c = f->read();
  REQUIRE(c.ok());
  CHECK(*c == ScsiCounters{0x1a2, 0x3, 0x0});
  auto again = f->read();  // pread at offset 0: the fd is reusable
  REQUIRE(again.ok());
  CHECK(*again == *c);
  auto b = ScsiCounterFiles::open(kFixtures + "/iscsi/sys/block/sdb/device");
  REQUIRE(b.ok());
  CHECK(*b->read() == ScsiCounters{0x19f, 0x0, 0x2});
}

TEST_CASE("SCSI counter files: missing files and garbage are errors, not zeros") {
  CHECK_FALSE(ScsiCounterFiles::open(kFixtures + "/plain/sys/block/nvme0n1/device").ok());
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("sanwatch-scsi-cnt-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "iodone_cnt") << "0x10\n";
  std::ofstream(dir / "ioerr_cnt") << "garbage\n";
  std::ofstream(dir / "iotmo_cnt") << "0x0\n";
  auto f = ScsiCounterFiles::open(dir.string());
  REQUIRE(f.ok());
  auto c = f->read();
  REQUIRE_FALSE(c.ok());
  CHECK(c.error().message().find("ioerr_cnt") != std::string::npos);
  std::filesystem::remove_all(dir);
}
