// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/* The floor of block-layer tracing for bench/run.sh: one tp_btf program on
 * block_rq_complete that reads the clock once and stores it. Any latency
 * tracer needs at least this per I/O; the benchmark runs it beside sanwatch
 * so the IOPS ratio of the floor is measured, not assumed. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

/* GPL-2.0-only OR BSD-2-Clause, the kernel's "Dual BSD/GPL" (GPL-compatible,
 * like sanwatch's own programs in bpf/); README.md, License. */
char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} last SEC(".maps");

SEC("tp_btf/block_rq_complete")
int BPF_PROG(floor_complete)
{
	__u32 key = 0;
	__u64 *v = bpf_map_lookup_elem(&last, &key);

	if (v)
		*v = bpf_ktime_get_ns();
	return 0;
}
