// SPDX-License-Identifier: Apache-2.0
// Owner of the block-latency BPF programs (bpf/iolat.bpf.c): loads and
// attaches them, registers watched devices, reads their statistics and the
// age of their oldest outstanding I/O, and delivers slow/error events.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "iolat.h"
#include "kernel/inflight_seeder.h"
#include "kernel/io_stats.h"

namespace sanwatch {

struct ProgramStats {
  std::string name;
  std::uint64_t run_time_ns = 0;
  std::uint64_t run_cnt = 0;
};

struct EngineCounters {
  std::uint64_t ringbuf_drops = 0;
  std::uint64_t untracked = 0;
  std::uint64_t duplicate_completions = 0;
  std::uint64_t unseen_completions = 0;
  std::uint64_t qcache_misses = 0;
};

// Slots in use and allocated: device slots (one per watched device) and
// in-flight slots (hardware queues x tags of every watched device). Used
// returns to where it was when devices go; capacity only grows (reloads).
struct SlotUsage {
  unsigned device_used = 0, device_capacity = 0;
  unsigned inflight_used = 0, inflight_capacity = 0;
};

using IoEvent = bpf::sw_event;

// Kernel memory of one map of the block-latency object as the engine sizes
// it: what its definition (type, key and value size, entries) costs on a
// host with a given number of possible CPUs, from the kernel's allocation
// rules (values rounded up to 8 bytes; per-CPU maps hold one per CPU).
struct MapFootprint {
  std::string name;
  bool per_cpu = false;
  std::uint32_t key_size = 0, value_size = 0, max_entries = 0;
  std::uint64_t bytes = 0;
};

// What the engine needs to know of a block device to trace it (the host
// layer describes devices; this layer does not depend on it).
struct TracedDevice {
  std::string name;              // kernel name: sdb, dm-3 (its /sys/block directory)
  std::uint32_t kernel_dev = 0;  // MKDEV(major, minor) in the kernel's encoding
  unsigned nr_hw_queues = 0;     // blk-mq hardware queues (0: bio-based)
  unsigned tags_per_queue = 0;   // in-flight slots each needs
  bool histograms = true;        // keep latency histograms (SW_DEV_NO_HIST when not)
};

class BpfEngine {
 public:
  struct Options {
    unsigned max_watch = 64;          // device slots
    unsigned inflight_slots = 16384;  // total tag slots across devices
    bool verbose = false;             // pass libbpf's own log to stderr
    bool force_raw_tp = false;        // testing: skip tp_btf
    bool no_seed = false;             // testing: behave as if the kernel had no seeding walk
    std::string sysfs_root = "/";     // where sys/block lives (fixture trees in tests)
    // Slow/error event ring, bytes: a power of two (libbpf rounds it up to
    // a page). Events beyond it are dropped and counted (ringbuf_drops).
    unsigned ring_buffer_bytes = 256 * 1024;
    // Latency SLO thresholds (ns): every completion whose total latency
    // exceeds one is counted exactly, per device and op (OpStats::slo_over).
    // At most SW_NR_SLO, each > 0, strictly increasing, else open() fails
    // with EINVAL. Fixed for the programs' life: changing them takes a new
    // engine (counters restart).
    std::vector<std::uint64_t> latency_slos_ns;
  };
  // The oldest outstanding I/O of a device. at_least: it started before
  // tracing did and the kernel would not say when (bio-based queues): the
  // age is a lower bound, and `preexisting` such requests may be left.
  struct Oldest {
    std::uint64_t start_ns = 0;  // CLOCK_MONOTONIC
    bool at_least = false;
    unsigned preexisting = 0;
  };
  using EventFn = std::function<void(const IoEvent&)>;

  static Result<std::unique_ptr<BpfEngine>> open(const Options& opts);
  // The maps of the object opened and sized for `opts` as open() would load
  // them on a host with `possible_cpus` CPUs; nothing is loaded (no
  // privileges needed).
  static Result<std::vector<MapFootprint>> map_footprint(const Options& opts,
                                                         unsigned possible_cpus);
  ~BpfEngine();
  BpfEngine(const BpfEngine&) = delete;
  BpfEngine& operator=(const BpfEngine&) = delete;

  // Starts recording a device. slow_ns > 0 emits an event for every I/O whose
  // total latency reaches it. Returns the device's slot. Without room for
  // every hardware queue's in-flight slots: ENOBUFS, or with `partial_ok`
  // fewer queues tracked (their requests count as untracked). All device
  // slots taken: ENOSPC.
  Result<int> watch(const TracedDevice& dev, std::uint64_t slow_ns = 0, bool partial_ok = true);
  // Frees the slot. A failed map update is reported (the first one, with its
  // errno) after the rest of the cleanup ran: the slot is free either way.
  Status unwatch(int slot);
  // Slow threshold and whether the kernel keeps latency histograms for the
  // device (without them its counts, errors, bytes and sums go on; its
  // histograms stay as they were).
  Status configure(int slot, std::uint64_t slow_ns, bool histograms);

  // Cumulative counters (maxima since the last reset_maxima), read now.
  // Some per-CPU counters are 32-bit (bpf/iolat.h): every watched slot must
  // be read, by this or refresh(), at least once per 2^32 of its events
  // (71 minutes at a million IOPS); the agent reads every second.
  Result<DeviceStats> read_stats(int slot);
  // Reads every watched slot in one batch (one syscall per map where the
  // kernel supports it); stats() then returns the figures of that read.
  Status refresh();
  const DeviceStats* stats(int slot) const;
  // Starts the slot's maxima afresh. EINVAL when no device is watched there.
  Status reset_maxima(int slot);
  // Allocation time (CLOCK_MONOTONIC ns) of the oldest request of the device
  // still outstanding, if any.
  std::optional<std::uint64_t> oldest_outstanding_ns(int slot) const;
  std::optional<Oldest> oldest(int slot) const;

  // I/O already outstanding when the device was watched: found in its tag
  // tables and seeded with the kernel's own start times (call right after
  // watch()); where the kernel gives no walk, counted from sysfs instead.
  SeedReport seed(int slot);
  // Each tick: clears seeds whose request ended unseen (the walk raced its
  // completion) and re-reads the sysfs counts of the fallback.
  void recheck_outstanding();
  // Checks every slot of the device against the request that owns it
  // (queues without a scheduler) and clears stale starts, whatever wrote
  // them. For a device whose oldest start looks old enough to matter, before
  // that age is believed. False when nothing was checked.
  bool audit(int slot);
  // Why pre-existing I/O is only counted, not found; empty when it is found.
  const std::string& seeding_unavailable() const;
  EngineCounters counters() const;
  SlotUsage slot_usage() const;
  // run_time_ns/run_cnt per attached program (needs kernel.bpf_stats_enabled).
  std::vector<ProgramStats> program_stats() const;
  std::string attach_mode() const;

  // Ring buffer: poll this fd for readability, then drain().
  int event_fd() const;
  void set_event_handler(EventFn fn);
  int drain_events();

  struct Impl;

 private:
  explicit BpfEngine(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace sanwatch
