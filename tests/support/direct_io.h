// SPDX-License-Identifier: Apache-2.0
// O_DIRECT single-block I/O on a block device, for integration tests.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <thread>

namespace sanwatch::test {

class DirectIo {
 public:
  explicit DirectIo(const std::string& path, std::size_t block = 4096);
  ~DirectIo();
  DirectIo(const DirectIo&) = delete;
  DirectIo& operator=(const DirectIo&) = delete;

  // Bytes transferred, or -errno.
  long read(std::uint64_t offset);
  long write(std::uint64_t offset);
  // Seconds one read took (throws on error).
  double timed_read(std::uint64_t offset);

 private:
  int fd_ = -1;
  std::size_t block_;
  void* buf_ = nullptr;
};

// Reads one block after another (32 MiB round robin, 1 ms apart) on its
// own thread until destroyed: I/O is outstanding whenever a fault begins.
class BackgroundReader {
 public:
  explicit BackgroundReader(const std::string& dev);
  ~BackgroundReader();
  BackgroundReader(const BackgroundReader&) = delete;
  BackgroundReader& operator=(const BackgroundReader&) = delete;

 private:
  std::atomic<bool> stop_{false};
  std::thread t_;
};

}  // namespace sanwatch::test
