// SPDX-License-Identifier: Apache-2.0
// Tests of the fault-injection disk itself (daemon + FaultDisk fixture),
// exercised the way the watchdog tests use it: O_DIRECT I/O on the loop device.

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <iostream>
#include <latch>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "fault_disk.h"
#include "privileged.h"
#include "process.h"

namespace {

using sanwatch::test::ChildProcess;
using sanwatch::test::FaultDisk;
using sanwatch::test::require_privileged;
using sanwatch::test::run_command;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using Millis = std::chrono::duration<double, std::milli>;

constexpr std::size_t kBlock = 4096;

// O_DIRECT needs a block-aligned buffer.
class AlignedBuffer {
 public:
  explicit AlignedBuffer(std::size_t size = kBlock)
      : data_(static_cast<char*>(std::aligned_alloc(kBlock, size))), size_(size) {
    std::memset(data_, 0, size_);
  }
  ~AlignedBuffer() { std::free(data_); }
  AlignedBuffer(const AlignedBuffer&) = delete;
  AlignedBuffer& operator=(const AlignedBuffer&) = delete;
  char* data() { return data_; }
  std::size_t size() const { return size_; }
  void fill(unsigned seed) {
    for (std::size_t i = 0; i < size_; ++i)
      data_[i] = static_cast<char>((seed * 131 + i * 7) & 0xff);
  }

 private:
  char* data_;
  std::size_t size_;
};

struct IoResult {
  ssize_t rc;
  int err;
  double ms;
};

// An O_DIRECT descriptor on the loop device.
class Device {
 public:
  explicit Device(const std::string& path)
      : fd_(open(path.c_str(), O_RDWR | O_DIRECT | O_CLOEXEC)) {
    if (fd_ < 0) throw std::runtime_error("open " + path + ": " + std::strerror(errno));
  }
  ~Device() { close(fd_); }
  Device(const Device&) = delete;
  Device& operator=(const Device&) = delete;

  IoResult read(AlignedBuffer& b, off_t off) { return timed(false, b, off); }
  IoResult write(AlignedBuffer& b, off_t off) { return timed(true, b, off); }

 private:
  IoResult timed(bool is_write, AlignedBuffer& b, off_t off) {
    const auto t0 = Clock::now();
    const ssize_t rc =
        is_write ? pwrite(fd_, b.data(), b.size(), off) : pread(fd_, b.data(), b.size(), off);
    const int err = errno;
    return {rc, rc < 0 ? err : 0, Millis(Clock::now() - t0).count()};
  }

  int fd_;
};

bool loop_attached_to(const std::string& loop_name, const std::string& backing) {
  std::ifstream in("/sys/block/" + loop_name + "/loop/backing_file");
  std::string line;
  return std::getline(in, line) && line == backing;
}

bool proc_mounts_contains(const std::string& needle) {
  std::ifstream in("/proc/mounts");
  std::stringstream s;
  s << in.rdbuf();
  return s.str().find(needle) != std::string::npos;
}

bool wait_until(const std::function<bool()>& pred, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (!pred()) {
    if (Clock::now() > deadline) return false;
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

TEST_CASE("faultdisk: data written through the loop device reads back identical", "[faultdisk]") {
  require_privileged("faultdisk data round trip");
  FaultDisk disk;
  Device dev(disk.loop_device());
  const std::vector<off_t> offsets = {0, 7 * kBlock, (1 << 20) + 3 * kBlock,
                                      static_cast<off_t>(disk.size_bytes() - kBlock)};
  for (std::size_t i = 0; i < offsets.size(); ++i) {
    AlignedBuffer b;
    b.fill(static_cast<unsigned>(i + 1));
    REQUIRE(dev.write(b, offsets[i]).rc == static_cast<ssize_t>(kBlock));
  }
  for (std::size_t i = 0; i < offsets.size(); ++i) {
    AlignedBuffer expected, got;
    expected.fill(static_cast<unsigned>(i + 1));
    INFO("offset " << offsets[i]);
    REQUIRE(dev.read(got, offsets[i]).rc == static_cast<ssize_t>(kBlock));
    CHECK(std::memcmp(expected.data(), got.data(), kBlock) == 0);
  }
  AlignedBuffer zeros, never_written;
  REQUIRE(dev.read(never_written, 2 * kBlock).rc == static_cast<ssize_t>(kBlock));
  CHECK(std::memcmp(zeros.data(), never_written.data(), kBlock) == 0);
  CHECK(disk.counter("writes") >= offsets.size());
  CHECK(disk.counter("reads") >= offsets.size() + 1);
  CHECK(disk.major() == 7);
  CHECK(disk.loop_name().starts_with("loop"));
}

TEST_CASE("faultdisk: injected delays slow reads and writes by that much", "[faultdisk]") {
  require_privileged("faultdisk delays");
  FaultDisk disk;
  Device dev(disk.loop_device());
  AlignedBuffer b;
  for (const auto delay : {10ms, 50ms}) {
    disk.set_read_delay(delay);
    std::vector<double> samples;
    for (int i = 0; i < 5; ++i) {
      const IoResult r = dev.read(b, static_cast<off_t>(i) * kBlock);
      REQUIRE(r.rc == static_cast<ssize_t>(kBlock));
      samples.push_back(r.ms);
    }
    const double want = std::chrono::duration<double, std::milli>(delay).count();
    INFO("read delay " << want << " ms, min " << *std::min_element(samples.begin(), samples.end())
                       << " ms, median " << median(samples) << " ms");
    CHECK(*std::min_element(samples.begin(), samples.end()) >= want);
    CHECK(median(samples) < want + 30);
  }
  CHECK(disk.status_value("read_delay_us") == "50000");

  disk.set_read_delay(0us);
  disk.set_write_delay(20ms);
  std::vector<double> writes, reads;
  for (int i = 0; i < 3; ++i) {
    const IoResult w = dev.write(b, static_cast<off_t>(i) * kBlock);
    REQUIRE(w.rc == static_cast<ssize_t>(kBlock));
    writes.push_back(w.ms);
    reads.push_back(dev.read(b, static_cast<off_t>(i) * kBlock).ms);
  }
  INFO("writes (20 ms delay) median " << median(writes) << " ms; reads (no delay) min "
                                      << *std::min_element(reads.begin(), reads.end()) << " ms");
  CHECK(*std::min_element(writes.begin(), writes.end()) >= 20);
  CHECK(median(writes) < 50);
  // Every read would take >= 50 ms if the old delay were still active; the
  // fastest one shows it is not (single reads can stall on a loaded VM).
  CHECK(*std::min_element(reads.begin(), reads.end()) < 40);
}

TEST_CASE("faultdisk: stall holds I/O until release", "[faultdisk]") {
  require_privileged("faultdisk stall");
  FaultDisk disk;
  disk.stall();
  std::atomic<bool> done{false};
  std::atomic<ssize_t> rc{0};
  std::thread reader([&] {
    Device dev(disk.loop_device());
    AlignedBuffer b;
    rc = dev.read(b, 0).rc;
    done = true;
  });
  std::this_thread::sleep_for(200ms);
  const bool pending = !done;
  const std::uint64_t held = disk.counter("held");
  disk.release();
  const bool finished = wait_until([&] { return done.load(); }, 2000ms);
  reader.join();
  CHECK(pending);
  CHECK(held >= 1);
  CHECK(finished);
  CHECK(rc == static_cast<ssize_t>(kBlock));
  CHECK(disk.counter("held") == 0);
}

TEST_CASE("faultdisk: EIO on everything, on ranges, and off again", "[faultdisk]") {
  require_privileged("faultdisk EIO");
  FaultDisk disk;
  Device dev(disk.loop_device());
  AlignedBuffer b;

  disk.set_eio(true);
  const IoResult failed_read = dev.read(b, 0);
  CHECK(failed_read.rc == -1);
  CHECK(failed_read.err == EIO);
  const IoResult failed_write = dev.write(b, 0);
  CHECK(failed_write.rc == -1);
  CHECK(failed_write.err == EIO);
  disk.set_eio(false);
  CHECK(dev.read(b, 0).rc == static_cast<ssize_t>(kBlock));

  constexpr off_t kRange = 1 << 20;
  disk.add_eio_range(kRange, 16 * kBlock);
  CHECK(dev.read(b, kRange + 2 * kBlock).err == EIO);
  CHECK(dev.read(b, kRange + 15 * kBlock).err == EIO);
  CHECK(dev.read(b, kRange - kBlock).rc == static_cast<ssize_t>(kBlock));  // ends at the range
  CHECK(dev.read(b, kRange + 16 * kBlock).rc == static_cast<ssize_t>(kBlock));
  CHECK(dev.write(b, kRange).err == EIO);

  disk.add_eio_range(4 * kRange, kBlock, "write");
  CHECK(dev.read(b, 4 * kRange).rc == static_cast<ssize_t>(kBlock));
  CHECK(dev.write(b, 4 * kRange).err == EIO);

  disk.clear_eio();
  CHECK(dev.read(b, kRange + 2 * kBlock).rc == static_cast<ssize_t>(kBlock));
  CHECK(dev.write(b, 4 * kRange).rc == static_cast<ssize_t>(kBlock));
  CHECK(disk.counter("eio_returned") >= 6);
}

TEST_CASE("faultdisk: ctl rejects bad commands and reports settings", "[faultdisk]") {
  require_privileged("faultdisk ctl");
  FaultDisk disk;
  CHECK_THROWS_WITH(disk.command("frobnicate"), Catch::Contains("Invalid argument"));
  CHECK_THROWS(disk.command("read_delay 10 parsecs"));
  CHECK_THROWS(disk.command("eio_range 0 0"));
  disk.set_write_delay(1500us);
  disk.add_eio_range(4096, 8192, "read");
  disk.stall();
  CHECK(disk.status_value("write_delay_us") == "1500");
  CHECK(disk.status_value("eio_ranges") == "4096+8192:read");
  CHECK(disk.status_value("stalled") == "1");
  disk.reset();
  CHECK(disk.status_value("write_delay_us") == "0");
  CHECK(disk.status_value("eio_ranges") == "");
  CHECK(disk.status_value("stalled") == "0");
  CHECK(disk.counter("size_bytes") == 64u << 20);
}

namespace {

// How long `readers` O_DIRECT reads, issued at once, took in total.
double concurrent_reads_ms(FaultDisk& disk, int readers, int& succeeded) {
  std::latch ready(readers + 1);
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < readers; ++i) {
    threads.emplace_back([&, i] {
      Device dev(disk.loop_device());
      AlignedBuffer b;
      ready.arrive_and_wait();
      if (dev.read(b, static_cast<off_t>(i) * kBlock).rc == static_cast<ssize_t>(kBlock)) ++ok;
    });
  }
  ready.arrive_and_wait();
  const auto t0 = Clock::now();
  for (auto& t : threads) t.join();
  succeeded = ok;
  return Millis(Clock::now() - t0).count();
}

}  // namespace

TEST_CASE("faultdisk: 32 concurrent delayed reads overlap", "[faultdisk]") {
  require_privileged("faultdisk concurrency");
  FaultDisk disk;
  disk.set_read_delay(20ms);
  constexpr int kReaders = 32;
  // Best of three: one round proves the I/O can overlap (serially it would
  // take >= 640 ms every time), and retries absorb a noisy VM.
  double best = 1e9;
  for (int attempt = 0; attempt < 3 && best >= 200; ++attempt) {
    int succeeded = 0;
    best = std::min(best, concurrent_reads_ms(disk, kReaders, succeeded));
    REQUIRE(succeeded == kReaders);
  }
  INFO("32 reads with 20 ms delay took " << best << " ms (serial would be 640 ms)");
  CHECK(best < 200);
}

// Deep stalls must neither hit the FUSE background limit nor use up the
// daemon's threads, or "release" itself could never be served.
TEST_CASE("faultdisk: a stall can hold 64 requests and still be released", "[faultdisk]") {
  require_privileged("faultdisk deep stall");
  FaultDisk disk;
  disk.stall();
  constexpr int kReaders = 64;
  std::atomic<int> completed{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kReaders; ++i) {
    threads.emplace_back([&, i] {
      Device dev(disk.loop_device());
      AlignedBuffer b;
      if (dev.read(b, static_cast<off_t>(i) * kBlock).rc == static_cast<ssize_t>(kBlock)) {
        ++completed;
      }
    });
  }
  const bool all_held = wait_until([&] { return disk.counter("held") == kReaders; }, 5000ms);
  const std::uint64_t held = disk.counter("held");
  disk.release();
  for (auto& t : threads) t.join();
  CHECK(all_held);
  CHECK(held == kReaders);
  CHECK(completed == kReaders);
}

TEST_CASE("faultdisk: destructor cleans up with a stalled reader", "[faultdisk]") {
  require_privileged("faultdisk teardown");
  auto disk = std::make_unique<FaultDisk>();
  const std::string loop = disk->loop_name();
  const std::string mnt = disk->mountpoint();
  const std::string backing = mnt + "/disk";
  disk->stall();
  std::atomic<bool> done{false};
  std::thread reader([&, dev_path = disk->loop_device()] {
    Device dev(dev_path);
    AlignedBuffer b;
    dev.read(b, 0);  // completes (data or EIO) once the fixture tears down
    done = true;
  });
  REQUIRE(wait_until([&] { return disk->counter("held") >= 1; }, 2000ms));

  const auto t0 = Clock::now();
  disk.reset();
  const double teardown_ms = Millis(Clock::now() - t0).count();
  reader.join();
  INFO("teardown took " << teardown_ms << " ms");
  CHECK(teardown_ms < 15000);
  CHECK(done);
  CHECK_FALSE(loop_attached_to(loop, backing));
  CHECK(run_command({"losetup", "-a"}).out.find(mnt) == std::string::npos);
  CHECK_FALSE(proc_mounts_contains(mnt));
  struct stat st {};
  CHECK(stat(mnt.c_str(), &st) != 0);  // temp dir removed
}

// Helper for the crash test below; hidden, so ctest never runs it directly.
// It dies by SIGKILL with a reader stuck (uninterruptibly) in a stall, like a
// test killed by a CTest timeout.
TEST_CASE("faultdisk helper: hold a stalled disk until killed", "[.faultdisk-helper]") {
  FaultDisk disk;
  disk.set_read_delay(5ms);
  disk.stall();
  std::thread([dev_path = disk.loop_device()] {
    Device dev(dev_path);
    AlignedBuffer b;
    dev.read(b, 0);
    for (;;) pause();
  }).detach();
  wait_until([&] { return disk.counter("held") >= 1; }, 5000ms);
  std::cout << "DISK " << disk.loop_name() << " " << disk.mountpoint() << std::endl;
  for (;;) pause();
}

TEST_CASE("faultdisk: a crashed test leaves nothing behind", "[faultdisk]") {
  require_privileged("faultdisk crash cleanup");
  ChildProcess helper({"/proc/self/exe", "faultdisk helper: hold a stalled disk until killed"});
  const auto line = helper.wait_for_line(ChildProcess::Stream::kStdout, "DISK ", 10000ms);
  REQUIRE(line);
  std::istringstream words(*line);
  std::string tag, loop, mnt;
  words >> tag >> loop >> mnt;
  REQUIRE(loop_attached_to(loop, mnt + "/disk"));

  helper.send_signal(SIGKILL);
  // The helper cannot finish dying while its reader is held; the daemon
  // (--exit-with-parent) sees the pending SIGKILL and releases the stall,
  // then, orphaned, detaches its loop device and unmounts.
  REQUIRE(helper.wait(5000ms));
  CHECK(wait_until([&] { return !loop_attached_to(loop, mnt + "/disk"); }, 5000ms));
  CHECK(wait_until([&] { return !proc_mounts_contains(mnt); }, 5000ms));

  // The temp dir is left for the cleanup script, which must then find
  // nothing else to complain about.
  const auto r = run_command({"sh", SANWATCH_FAULTDISK_CLEANUP_SCRIPT}, 30000ms);
  INFO(r.out << r.err);
  CHECK(r.exit_code == 0);
  struct stat st {};
  CHECK(stat(mnt.c_str(), &st) != 0);
}
