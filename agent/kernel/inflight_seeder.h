// SPDX-License-Identifier: Apache-2.0
// Finds the I/O a device already had outstanding when it was watched, by
// walking its blk-mq tag tables from BPF (bpf/seed.bpf.c), and seeds the
// engine's in-flight slots with the requests' own start times. Optional: a
// kernel that cannot load it (before 5.17: no bpf_loop) gets no seeder, and
// the engine falls back to the sysfs count.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "base/result.h"

namespace sanwatch {
class LibbpfLog;
}

namespace sanwatch {

struct SeedReport {
  bool walked = false;   // the tag tables were read
  std::string why_not;   // when not walked
  unsigned found = 0;    // outstanding requests found (tracked already or seeded)
  unsigned seeded = 0;   // slots written by the walk
  unsigned untimed = 0;  // seeded with the walk's time: the kernel kept no start time
  unsigned raced = 0;    // ended while being seeded
  unsigned nr_hw_queues = 0;
  unsigned scanned = 0;                     // tag table entries read
  std::uint64_t oldest_ns = 0;              // oldest start seeded (CLOCK_MONOTONIC), 0 = none
  std::uint64_t bpf_ns = 0;                 // time inside the program
  std::uint64_t elapsed_ns = 0;             // the whole seeding, syscalls included
  std::optional<unsigned> kernel_inflight;  // the sysfs count read alongside
};

class InflightSeeder {
 public:
  struct Maps {
    int devices_fd = -1;  // the engine's maps, shared
    int inflight_fd = -1;
    unsigned inflight_slots = 0;
  };
  static Result<std::unique_ptr<InflightSeeder>> open(const Maps& maps, std::uint32_t rqf_io_stat,
                                                      const LibbpfLog& log);
  ~InflightSeeder();
  InflightSeeder(const InflightSeeder&) = delete;
  InflightSeeder& operator=(const InflightSeeder&) = delete;

  // Walks the disk whose sysfs directory (/sys/block/<name>) is `dir` and
  // whose device number (kernel encoding) and watch slot are given.
  SeedReport seed(const std::string& dir, std::uint32_t dev, int widx);
  // Clears seeded slots whose request ended without the live programs
  // seeing it end; returns how many seeded requests are still outstanding.
  Result<unsigned> verify(const std::string& dir, std::uint32_t dev, int widx);

  struct Impl;

 private:
  explicit InflightSeeder(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Reads a small sysfs file whole; nullopt when it cannot be read.
std::optional<std::string> read_small_file(const std::string& path);

}  // namespace sanwatch
