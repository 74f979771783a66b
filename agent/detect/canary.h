// SPDX-License-Identifier: Apache-2.0
// Canary prober: O_DIRECT reads through io_uring on each target at its own
// period, at most one outstanding per target, never blocking the caller. A
// hung target keeps its single read outstanding (io_uring cannot cancel a
// request already in the block layer) while the others keep probing. Each
// probe opens, reads and closes through io_uring (opening a block device can
// sleep), so the agent never holds a device open between probes. Where the
// kernel allows (5.17+), the three are one linked chain on a fixed-file slot
// that posts a single completion; targets sharing a period probe together.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "base/result.h"
#include "base/unique_fd.h"
#include "detect/config.h"
#include "kernel/histogram.h"

// liburing stays private to canary.cpp: includers see only this name.
struct io_uring_sqe;

namespace sanwatch {

struct CanaryStats {
  std::uint64_t reads = 0;
  std::uint64_t errors = 0;
  std::uint64_t timeouts = 0;  // reads that passed their deadline (counted once each)
  LatencyHistogram latency;    // successful reads
  std::uint64_t latency_ns_sum = 0;
};

struct CanaryTarget {
  std::string path;  // /dev/dm-0
  std::uint64_t size_bytes = 0;
  unsigned logical_block = 512;
  CanarySettings settings;
};

class CanaryProber {
 public:
  struct Callbacks {
    std::function<void(int id, std::uint64_t now)> submitted;
    // err is a positive errno, 0 on success.
    std::function<void(int id, std::uint64_t now, std::uint64_t latency_ns, int err)> done;
    // Open failed (reported once per failure streak); retried with backoff.
    std::function<void(int id, int err)> open_failed;
    // A probe reported by `submitted` never became a read (its open failed).
    std::function<void(int id)> abandoned;
  };

  static Result<std::unique_ptr<CanaryProber>> create(unsigned max_targets, Callbacks cb);
  ~CanaryProber();

  int event_fd() const { return efd_.get(); }
  Result<int> add(const CanaryTarget& t);
  void remove(int id);
  void update(int id, const CanarySettings& s, std::uint64_t size_bytes);

  // Submits every due read; returns the next instant it needs to be called.
  std::uint64_t run_due(std::uint64_t now);
  // Reaps completions (call when event_fd is readable).
  void reap();

  const CanaryStats* stats(int id) const;
  bool outstanding(int id) const;
  // Submit time of the outstanding read, if any.
  std::optional<std::uint64_t> outstanding_since(int id) const;

 private:
  struct Slot;
  explicit CanaryProber(Callbacks cb);
  void submit_open(int id, std::uint64_t now);
  void submit_read(int id, std::uint64_t now);
  void submit_close(int fd);
  io_uring_sqe* sqe();
  void complete(std::uint64_t data, int res);
  void submit_chain(int id, std::uint64_t now);
  void start_read(Slot& s, int id, std::uint64_t now);
  void open_done(Slot& s, int id, int res, std::uint64_t now);
  void read_done(Slot& s, int id, int res, std::uint64_t now);
  std::uint64_t random_offset(const Slot& s);
  static std::uint64_t aligned_due(std::uint64_t now, Duration period);

  struct Ring;  // the io_uring, defined in canary.cpp
  Callbacks cb_;
  std::unique_ptr<Ring> ring_;
  bool ring_ok_ = false;
  bool chained_ = false;      // linked open/read/close on fixed files
  unsigned max_targets_ = 0;  // fixed-file room: ids beyond it probe the legacy way
  bool chained(int id) const { return chained_ && static_cast<unsigned>(id) < max_targets_; }
  UniqueFd efd_;
  std::vector<std::unique_ptr<Slot>> slots_;
  std::mt19937_64 rng_{std::random_device{}()};
};

}  // namespace sanwatch
