// SPDX-License-Identifier: Apache-2.0
// The ledger's filesystem in the ledger-disk fault test (ledger_disk_test.cpp):
// a small tmpfs that a filler file takes to ENOSPC, or ext4 on a fault disk,
// which the test stalls, or whose writes it fails until the kernel makes
// the filesystem read-only (errors=remount-ro), repaired the way an operator
// does it: umount, e2fsck, mount.
#pragma once

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "fault_disk.h"
#include "process.h"
#include "test_util.h"

namespace sanwatch::test {

inline void run_or_throw(const std::vector<std::string>& argv) {
  auto r = run_command(argv, std::chrono::seconds(30));
  if (r.exit_code != 0)
    throw std::runtime_error(format_command(argv) + " failed: " + r.err + r.out);
}

// errno of creating, writing and fsyncing a small file in `dir`; 0 when it
// worked (the file is removed then).
inline int write_errno(const std::string& dir) {
  const std::string path = dir + "/write-probe";
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0) return errno;
  int err = 0;
  const char buf[512] = {};
  if (::write(fd, buf, sizeof buf) != static_cast<ssize_t>(sizeof buf) || ::fsync(fd) != 0)
    err = errno ? errno : EIO;
  ::close(fd);
  if (!err) ::unlink(path.c_str());
  return err;
}

class TmpfsLedger {
 public:
  explicit TmpfsLedger(unsigned size_mib) : dir_("sanwatch-ledger-tmpfs") {
    run_or_throw({"mount", "-t", "tmpfs", "-o", fmt::format("size={}m,mode=0700", size_mib),
                  "sanwatch-ledger-test", dir_.path()});
  }
  ~TmpfsLedger() { run_command({"umount", "-l", dir_.path()}); }
  TmpfsLedger(const TmpfsLedger&) = delete;
  TmpfsLedger& operator=(const TmpfsLedger&) = delete;

  std::string path(const std::string& name) const { return dir_.path() + "/" + name; }

  // Writes a filler file until ENOSPC (1 MiB, then 4 KiB at a time);
  // returns its size in bytes.
  std::uint64_t fill() {
    const int fd = ::open(path("filler").c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    if (fd < 0) throw std::runtime_error("cannot create the filler file");
    std::vector<char> buf(1 << 20, 'x');
    std::uint64_t bytes = 0;
    for (std::size_t chunk : {buf.size(), std::size_t{4096}})
      for (;;) {
        const ssize_t n = ::write(fd, buf.data(), chunk);
        if (n <= 0) break;
        bytes += static_cast<std::uint64_t>(n);
      }
    ::close(fd);
    return bytes;
  }
  void unfill() { ::unlink(path("filler").c_str()); }

 private:
  TempDir dir_;
};

class Ext4Ledger {
 public:
  Ext4Ledger() : dir_("sanwatch-ledger-ext4") {
    run_or_throw({"mkfs.ext4", "-q", "-F", disk_.loop_device()});
    mount();
  }
  ~Ext4Ledger() {
    disk_.reset();
    run_command({"umount", "-l", dir_.path()});
  }
  Ext4Ledger(const Ext4Ledger&) = delete;
  Ext4Ledger& operator=(const Ext4Ledger&) = delete;

  FaultDisk& disk() { return disk_; }
  const std::string& dir() const { return dir_.path(); }
  std::string path(const std::string& name) const { return dir_.path() + "/" + name; }

  // The operator's repair of a filesystem the kernel made read-only: umount
  // (refused while a process holds a file open on it, so retried until
  // `within`), e2fsck, mount. Returns how long the umount was refused, in
  // ms; throws when it never succeeded.
  double repair(std::chrono::milliseconds within) {
    const auto t0 = std::chrono::steady_clock::now();
    const auto elapsed_ms = [&] {
      return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
          .count();
    };
    while (run_command({"umount", dir_.path()}).exit_code != 0) {
      if (elapsed_ms() > static_cast<double>(within.count()))
        throw std::runtime_error("umount of the read-only ledger filesystem refused for " +
                                 std::to_string(within.count()) +
                                 " ms: something still holds a file open on it");
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    const double refused_ms = elapsed_ms();
    auto fsck = run_command({"e2fsck", "-f", "-y", disk_.loop_device()}, std::chrono::seconds(30));
    if (fsck.exit_code < 0 || fsck.exit_code >= 4)
      throw std::runtime_error("e2fsck failed: " + fsck.out + fsck.err);
    mount();
    return refused_ms;
  }

 private:
  void mount() {
    run_or_throw({"mount", "-o", "errors=remount-ro", disk_.loop_device(), dir_.path()});
  }
  FaultDisk disk_;
  TempDir dir_;
};

}  // namespace sanwatch::test
