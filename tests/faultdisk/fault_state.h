// SPDX-License-Identifier: Apache-2.0
// The fault state of sanwatch-faultdisk: the ctl commands that change it,
// the gate every disk read and write passes, the status read from ctl.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace faultdisk {

using Micros = std::chrono::microseconds;
using Clock = std::chrono::steady_clock;

// ---------------------------------------------------------------------------
// Parsing helpers

std::optional<std::uint64_t> parse_u64(std::string_view s);
std::vector<std::string> split_words(std::string_view line);

// ---------------------------------------------------------------------------
// Fault state shared by all FUSE worker threads.

enum class Dir { kRead, kWrite };

struct EioRange {
  std::uint64_t offset;
  std::uint64_t length;
  bool reads;
  bool writes;
};

class FaultState {
 public:
  // Applies one ctl line; returns an error message for a bad command.
  std::optional<std::string> apply(const std::vector<std::string>& w);
  // Called before every disk read/write: waits out stalls and delays, then
  // returns 0 or -EIO.
  int gate(Dir dir, std::uint64_t offset, std::uint64_t length);
  std::string render(std::uint64_t size_bytes);
  // Ends all waits for good; used when the daemon is going away.
  void shutdown();

 private:
  std::optional<std::string> apply_locked(const std::vector<std::string>& w);
  std::optional<std::string> apply_eio_range(const std::vector<std::string>& w);
  bool fails_locked(Dir dir, std::uint64_t offset, std::uint64_t length) const;
  void release_locked();

  std::mutex mu_;
  std::condition_variable cv_;
  Micros read_delay_{0};
  Micros write_delay_{0};
  bool stalled_ = false;
  // Bumped by every release so a waiter cannot miss a release followed by a
  // new stall before it got to run.
  std::uint64_t release_gen_ = 0;
  // Bumped by reset: requests sleeping out a delay finish early, so a test's
  // teardown never waits for a long injected delay.
  std::uint64_t reset_gen_ = 0;
  bool eio_all_ = false;
  std::vector<EioRange> eio_ranges_;
  bool shutting_down_ = false;
  std::uint64_t reads_ = 0;
  std::uint64_t writes_ = 0;
  std::uint64_t held_ = 0;
  std::uint64_t eio_returned_ = 0;
};

}  // namespace faultdisk
