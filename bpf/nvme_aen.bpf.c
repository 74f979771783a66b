// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/* NVMe asynchronous events (nvme:nvme_async_event, nvme_core): one ring
 * record per AEN, so the agent re-reads ana_state as soon as the kernel has
 * been told of an ANA change, instead of at its next poll. The controller
 * pointer is not read: the agent re-reads every NVMe path (a few files), so
 * no nvme_core type (module BTF) is needed here. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "aen_event.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} aen_events SEC(".maps");

/* raw_tp: module tracepoints attach by name; TP_PROTO(struct nvme_ctrl *ctrl, u32 result). */
SEC("raw_tp/nvme_async_event")
int BPF_PROG(sw_nvme_aen, void *ctrl, __u32 result)
{
	struct sw_aen *e = bpf_ringbuf_reserve(&aen_events, sizeof(*e), 0);

	if (!e)
		return 0; /* the poll still finds the change */
	e->ts_ns = bpf_ktime_get_ns();
	e->result = result;
	e->pad = 0;
	bpf_ringbuf_submit(e, 0);
	return 0;
}
