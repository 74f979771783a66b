// SPDX-License-Identifier: Apache-2.0
// Opening and sizing the block-latency object (bpf/iolat.bpf.c) before
// load: shared by the engine, which loads it, and map_footprint(), which
// only reads the sizes. Private to this library (includes the skeleton).
#pragma once

#include <memory>
#include <vector>

#include "base/result.h"
#include "iolat.skel.h"
#include "kernel/bpf_engine.h"
#include "kernel/btf_probe.h"
#include "kernel/io_stats.h"

namespace sanwatch {

struct SkelDeleter {
  void operator()(iolat_bpf* s) const { iolat_bpf__destroy(s); }
};
using SkelPtr = std::unique_ptr<iolat_bpf, SkelDeleter>;

// The four programs of one set, in kProgNames order: insert, issue,
// requeue, complete (`raw`: the raw_tp set, else tp_btf).
std::vector<bpf_program*> programs(iolat_bpf* s, bool raw);

// Statistics shards per (device, op) on a host with that many possible
// CPUs: a power of two, at most SW_MAX_SHARDS, at most one per CPU.
unsigned stat_shards(unsigned possible_cpus);

// Sets rodata and map sizes of an opened, not yet loaded object, and turns
// off the program set that is not used (`raw`: raw_tp, else tp_btf). The
// statistics shards follow from `possible_cpus` (stat_shards).
Status configure_iolat(iolat_bpf* s, const BpfEngine::Options& o, const SloThresholds& slo,
                       const KernelLayout& k, bool raw, unsigned possible_cpus);

}  // namespace sanwatch
