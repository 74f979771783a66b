// SPDX-License-Identifier: Apache-2.0
// Folding the BPF side's per-CPU statistics (bpf/iolat.h) into 64-bit
// cumulative totals. The per-CPU event counters are 32-bit: their sum over
// CPUs wraps modulo 2^32 exactly as the true total does, so the change since
// the last fold is (sum - low 32 bits of the total) modulo 2^32, provided
// fewer than 2^32 events happened in between. Pure: no BPF, no syscalls.
#pragma once

#include <cstdint>
#include <span>

#include "iolat.h"
#include "kernel/io_stats.h"

namespace sanwatch {

// advance_mod32(total, low) is in histogram.h, whose buckets use it too.

// Folds one (device, op) entry's per-CPU copies into acc (cumulative since
// the slot was zeroed); acc's maxima become the per-CPU maxima given.
void fold_per_cpu(OpStats& acc, std::span<const bpf::sw_io_stats> per_cpu,
                  std::span<const bpf::sw_io_max> max_per_cpu);

}  // namespace sanwatch
