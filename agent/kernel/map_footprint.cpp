// SPDX-License-Identifier: Apache-2.0
// BpfEngine::map_footprint: kernel memory of the block-latency maps, from
// the object's own definitions sized as the engine sizes them.
#include <bpf/libbpf.h>

#include "kernel/bpf_engine.h"
#include "kernel/iolat_setup.h"

namespace sanwatch {

namespace {

std::uint64_t round8(std::uint64_t n) { return (n + 7) / 8 * 8; }

// Bytes the kernel allocates for a map's entries (6.x allocation rules,
// kernel/bpf/arraymap.c, hashtab.c, ringbuf.c; headers of a few hundred
// bytes per map left out).
std::uint64_t map_bytes(const MapFootprint& m, bpf_map_type type, unsigned cpus) {
  const std::uint64_t n = m.max_entries, value = round8(m.value_size);
  switch (type) {
    case BPF_MAP_TYPE_PERCPU_ARRAY:
      return n * (value * cpus + 8);  // a per-CPU pointer per entry
    case BPF_MAP_TYPE_HASH:
      // struct htab_elem (48 bytes) + key + value per element, and one
      // 16-byte bucket per element (buckets: entries rounded up to 2^k).
      return n * (48 + round8(m.key_size) + value + 16);
    case BPF_MAP_TYPE_PERCPU_HASH:
      return n * (48 + round8(m.key_size) + 8 + value * cpus + 16);
    case BPF_MAP_TYPE_RINGBUF:
      return n;
    default:  // arrays
      return n * value;
  }
}

}  // namespace

Result<std::vector<MapFootprint>> BpfEngine::map_footprint(const Options& opts,
                                                           unsigned possible_cpus) {
  auto slo = make_slo_thresholds(opts.latency_slos_ns);
  if (!slo) return slo.error();
  SkelPtr s(iolat_bpf__open());
  if (!s) return errno_error("opening BPF object");
  if (auto st = configure_iolat(s.get(), opts, *slo, KernelLayout{}, false, possible_cpus); !st)
    return st.error();
  std::vector<MapFootprint> out;
  bpf_map* m = nullptr;
  bpf_object__for_each_map(m, s->obj) {
    const auto type = bpf_map__type(m);
    // .rodata/.data/.bss: one copy, independent of the devices.
    MapFootprint f{bpf_map__name(m),
                   type == BPF_MAP_TYPE_PERCPU_ARRAY || type == BPF_MAP_TYPE_PERCPU_HASH,
                   bpf_map__key_size(m),
                   bpf_map__value_size(m),
                   bpf_map__max_entries(m),
                   0};
    f.bytes = map_bytes(f, type, possible_cpus);
    out.push_back(std::move(f));
  }
  return out;
}

}  // namespace sanwatch
