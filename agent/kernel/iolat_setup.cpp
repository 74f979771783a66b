// SPDX-License-Identifier: Apache-2.0
#include "kernel/iolat_setup.h"

#include <bpf/libbpf.h>

namespace sanwatch {

using namespace bpf;  // the shared ABI names (SW_*)

std::vector<bpf_program*> programs(iolat_bpf* s, bool raw) {
  if (raw)
    return {s->progs.sw_insert_raw, s->progs.sw_issue_raw, s->progs.sw_requeue_raw,
            s->progs.sw_complete_raw};
  return {s->progs.sw_insert_btf, s->progs.sw_issue_btf, s->progs.sw_requeue_btf,
          s->progs.sw_complete_btf};
}

unsigned stat_shards(unsigned possible_cpus) {
  unsigned n = 1;
  while (n * 2 <= SW_MAX_SHARDS && n * 2 <= possible_cpus) n *= 2;
  return n;
}

Status configure_iolat(iolat_bpf* s, const BpfEngine::Options& o, const SloThresholds& slo,
                       const KernelLayout& k, bool raw, unsigned possible_cpus) {
  const unsigned shards = stat_shards(possible_cpus);
  s->rodata->rq_single_arg = k.rq_single_arg;
  s->rodata->complete_status = k.complete_status;
  s->rodata->max_watch = o.max_watch;
  s->rodata->rqf_io_stat = k.rqf_io_stat;
  static_assert(sizeof(s->rodata->slo_ns) == sizeof(SloThresholds));
  for (std::size_t i = 0; i < slo.size(); ++i) s->rodata->slo_ns[i] = slo[i];
  s->rodata->shard_mask = shards - 1;
  s->rodata->shared_shards = shards < possible_cpus;
  const unsigned stat_entries = o.max_watch * SW_NR_OPS * shards;
  int err = bpf_map__set_max_entries(s->maps.watch_idx, o.max_watch);
  err = err ?: bpf_map__set_max_entries(s->maps.devices, o.max_watch);
  err = err ?: bpf_map__set_max_entries(s->maps.stats, stat_entries);
  err = err ?: bpf_map__set_max_entries(s->maps.maxima, stat_entries);
  err = err ?: bpf_map__set_max_entries(s->maps.inflight, o.inflight_slots);
  err = err ?: bpf_map__set_max_entries(s->maps.events, o.ring_buffer_bytes);
  if (err) return Error{-err, "sizing BPF maps"};
  for (auto* p : programs(s, !raw)) bpf_program__set_autoload(p, false);
  return {};
}

}  // namespace sanwatch
