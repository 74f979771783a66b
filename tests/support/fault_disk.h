// SPDX-License-Identifier: Apache-2.0
// FaultDisk: a loop device (/dev/loopN) whose latency and errors the test
// controls. It runs the sanwatch-faultdisk FUSE daemon on a fresh temporary
// mountpoint and attaches <mnt>/disk with `losetup --direct-io=on`, so every
// I/O on the loop device reaches the daemon (no page cache in between).
//
//   sanwatch::test::FaultDisk disk;           // 64 MiB, needs root
//   disk.set_read_delay(std::chrono::milliseconds(20));
//   ... O_DIRECT I/O on disk.loop_device() ...
//   disk.stall();  ...  disk.release();
//
// The destructor always tears everything down in bounded time, even with
// requests stalled or a reader blocked on the device.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

namespace sanwatch::test {

class ChildProcess;

class FaultDisk {
 public:
  struct Options {
    std::uint64_t size_mib = 64;
  };

  // Starts the daemon, waits (<= 5 s) for the mount and attaches a loop
  // device. Throws std::runtime_error (after undoing its own work) on failure.
  // (Two constructors instead of `Options options = {}`: GCC rejects that
  // default argument for a nested struct with member initialisers.)
  FaultDisk();
  explicit FaultDisk(Options options);
  ~FaultDisk();
  FaultDisk(const FaultDisk&) = delete;
  FaultDisk& operator=(const FaultDisk&) = delete;

  const std::string& loop_device() const { return loop_device_; }  // "/dev/loopN"
  std::string loop_name() const;                                   // "loopN"
  // The names are parenthesised so glibc's major()/minor() macros from
  // <sys/sysmacros.h> do not expand here. Callers that include that header
  // must write (disk.major)() or use device_number().
  unsigned(major)() const;
  unsigned(minor)() const;
  dev_t device_number() const { return rdev_; }
  std::string major_minor() const;  // "7:0", as in /sys/block/*/dev
  std::uint64_t size_bytes() const { return size_bytes_; }
  const std::string& mountpoint() const { return mountpoint_; }
  // The daemon's pid (e.g. to SIGSTOP it and simulate a hung backend).
  pid_t daemon_pid() const;

  // Writes one command line to the daemon's ctl file; throws on error
  // (e.g. EINVAL for an unknown command).
  void command(const std::string& line);
  void set_read_delay(std::chrono::microseconds delay);
  void set_write_delay(std::chrono::microseconds delay);
  void stall();
  void release();
  void set_eio(bool on);
  // mode: "rw", "read" or "write".
  void add_eio_range(std::uint64_t offset, std::uint64_t length, const std::string& mode = "rw");
  void clear_eio();
  void reset();

  // The ctl read-out: key=value lines (size_bytes, read_delay_us,
  // write_delay_us, stalled, eio, eio_ranges, reads, writes, held,
  // eio_returned).
  std::string status();
  std::optional<std::string> status_value(const std::string& key);
  // A numeric status value; throws if missing.
  std::uint64_t counter(const std::string& key);

 private:
  void start(const Options& options);
  void wait_for_mount();
  void attach_loop();
  void cleanup() noexcept;
  bool release_faults() noexcept;
  void detach_loop() noexcept;
  void unmount() noexcept;
  void stop_daemon() noexcept;
  void remove_temp_dir() noexcept;
  bool abort_connection() noexcept;
  bool is_mounted() const;
  std::string daemon_log() const;

  std::string temp_dir_;
  std::string mountpoint_;
  std::string log_path_;
  std::string disk_path_;
  std::string ctl_path_;
  std::uint64_t size_bytes_ = 0;
  std::unique_ptr<ChildProcess> daemon_;
  std::optional<unsigned> connection_id_;  // /sys/fs/fuse/connections/<id>
  std::string loop_device_;
  dev_t rdev_ = 0;
  bool cleanup_trouble_ = false;
};

}  // namespace sanwatch::test
