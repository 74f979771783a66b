// SPDX-License-Identifier: Apache-2.0
// Folding the BPF side's statistics shards (bpf/iolat.h) into 64-bit
// cumulative totals. The event counters are 32-bit: their sum over shards
// wraps modulo 2^32 exactly as the true total does, so the change since the
// last fold is (sum - low 32 bits of the total) modulo 2^32, provided fewer
// than 2^32 events happened in between. Pure: no BPF, no syscalls.
#pragma once

#include <cstdint>
#include <span>

#include "iolat.h"
#include "kernel/io_stats.h"

namespace sanwatch {

// advance_mod32(total, low) is in histogram.h, whose buckets use it too.

// Folds one (device, op)'s shards into acc (cumulative since the slot was
// zeroed); acc's maxima become the largest of the shards' maxima. The count
// is the histogram's sum plus the counter of completions kept out of it.
void fold_shards(OpStats& acc, std::span<const bpf::sw_io_stats> shards,
                 std::span<const bpf::sw_io_max> max_shards);

}  // namespace sanwatch
