// SPDX-License-Identifier: Apache-2.0
#include "direct_io.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

namespace sanwatch::test {

DirectIo::DirectIo(const std::string& path, std::size_t block) : block_(block) {
  fd_ = ::open(path.c_str(), O_RDWR | O_DIRECT | O_CLOEXEC);
  if (fd_ < 0) throw std::runtime_error("open " + path + ": " + std::strerror(errno));
  if (posix_memalign(&buf_, 4096, block_)) throw std::runtime_error("posix_memalign");
  std::memset(buf_, 0xa5, block_);
}

DirectIo::~DirectIo() {
  if (fd_ >= 0) ::close(fd_);
  std::free(buf_);
}

long DirectIo::read(std::uint64_t offset) {
  const ssize_t n = ::pread(fd_, buf_, block_, static_cast<off_t>(offset));
  return n < 0 ? -errno : n;
}

long DirectIo::write(std::uint64_t offset) {
  const ssize_t n = ::pwrite(fd_, buf_, block_, static_cast<off_t>(offset));
  return n < 0 ? -errno : n;
}

double DirectIo::timed_read(std::uint64_t offset) {
  const auto t0 = std::chrono::steady_clock::now();
  const long n = read(offset);
  const auto t1 = std::chrono::steady_clock::now();
  if (n < 0) throw std::runtime_error(std::string("pread: ") + std::strerror(static_cast<int>(-n)));
  return std::chrono::duration<double>(t1 - t0).count();
}

BackgroundReader::BackgroundReader(const std::string& dev)
    : t_([this, dev] {
        DirectIo io(dev);
        std::uint64_t off = 0;
        while (!stop_) {
          io.read(off);
          off = (off + 4096) % (32 << 20);
          std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
      }) {}

BackgroundReader::~BackgroundReader() {
  stop_ = true;
  t_.join();
}

}  // namespace sanwatch::test
