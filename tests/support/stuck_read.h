// SPDX-License-Identifier: Apache-2.0
// One read held by a stalled FaultDisk, issued from its own thread, with the
// instant it was issued bracketed on CLOCK_MONOTONIC: the true age of the
// stuck I/O at any later instant is known to within the bracket.
#pragma once

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdint>
#include <fstream>
#include <string>
#include <thread>

#include "agent_process.h"
#include "direct_io.h"
#include "fault_disk.h"

namespace sanwatch::test {

// What the kernel itself counts in flight on the device (reads + writes).
inline unsigned kernel_inflight(const FaultDisk& d) {
  std::ifstream f("/sys/block/" + d.loop_name() + "/inflight");
  unsigned r = 0, w = 0;
  f >> r >> w;
  return r + w;
}

// Stalls the disk and issues one O_DIRECT read; the read was issued in
// [before_ns, after_ns]. The destructor releases the disk (a failed REQUIRE
// must not leave the read, and the thread joining it, hanging) and waits for
// the read.
struct StuckRead {
  FaultDisk& disk;
  std::uint64_t before_ns = 0, after_ns = 0;
  std::thread t;
  explicit StuckRead(FaultDisk& d, std::uint64_t offset = 0) : disk(d) {
    using namespace std::chrono_literals;
    disk.stall();
    const unsigned already = kernel_inflight(disk);
    before_ns = mono_now_ns();
    const std::string dev = disk.loop_device();
    t = std::thread([dev, offset] {
      DirectIo io(dev);
      io.read(offset);
    });
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (kernel_inflight(disk) == already && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(1ms);
    after_ns = mono_now_ns();
    REQUIRE(kernel_inflight(disk) == already + 1);
  }
  ~StuckRead() {
    try {
      disk.release();
    } catch (...) {  // the daemon is gone: the FaultDisk teardown aborts the read
    }
    if (t.joinable()) t.join();
  }
  StuckRead(const StuckRead&) = delete;
  StuckRead& operator=(const StuckRead&) = delete;
  // Its true age at `at_ns`, taking the middle of the issue bracket.
  double age_s(std::uint64_t at_ns) const {
    return (static_cast<double>(at_ns) - (static_cast<double>(before_ns) + after_ns) / 2) / 1e9;
  }
};

}  // namespace sanwatch::test
