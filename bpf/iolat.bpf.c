// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/* sanwatch block-latency engine.
 *
 * Per watched device and operation: total latency (request allocation ->
 * completion, from rq->start_time_ns), device latency (issue -> completion,
 * from rq->io_start_time_ns), counts, bytes, errors by status, requeues and
 * completions over each latency SLO threshold, in arrays shared by the CPUs
 * (a shard or two per device and op, updated with atomic adds); the
 * start time of every outstanding request in a slot indexed by (hardware
 * queue, tag), so userspace can read the age of the oldest outstanding I/O at
 * any moment; slow-I/O and error events through a ring buffer.
 *
 * Hot-path budget: one clock read per I/O (at completion), no hash map,
 * array lookups only. See docs/architecture.md for the measured cost.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include "iolat.h"
#include "slots.bpf.h"

/* GPL-2.0-only OR BSD-2-Clause. The kernel's license_is_gpl_compatible()
 * accepts "Dual BSD/GPL", as the GPL-only helpers need (bpf_probe_read_kernel,
 * behind BPF_CORE_READ); README.md, License. */
char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Set by userspace from BTF probes before load. */
const volatile bool rq_single_arg = true;   /* block_rq_issue(rq) vs (q, rq) */
const volatile bool complete_status = true; /* blk_status_t vs -errno */
const volatile __u32 max_watch = 1;
/* RQF_IO_STAT's bit where the kernel sets rq->start_time_ns only with it
 * (6.18+ keeps the previous user's value otherwise); 0 = any non-zero value
 * is this request's. */
const volatile __u32 rqf_io_stat = 0;
/* Latency SLO thresholds in ns, strictly increasing, unused ones 0 and last
 * (userspace checks both): the scan stops at the first one not exceeded. */
const volatile __u64 slo_ns[SW_NR_SLO] = {};
/* Statistics shards per (device, op) minus 1, a power of two minus 1. */
const volatile __u32 shard_mask = 0;
/* More possible CPUs than shards: CPUs share a shard and must add atomically. */
const volatile bool shared_shards = true;

/* Bumped by userspace whenever the watch set changes: invalidates qcache. */
volatile __u32 watch_gen = 1;

#define REQ_OP_MASK 0xff
#define NO_TAG (-1)

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1); /* resized to max_watch before load */
	__type(key, __u32);     /* dev */
	__type(value, __u32);   /* watched slot */
} watch_idx SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SW_QCACHE_SIZE);
	__type(key, __u32);
	__type(value, struct sw_qcache);
} qcache SEC(".maps");

/* Keyed by stats_key(): (slot * SW_NR_OPS + op) * shards + shard. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1); /* max_watch * SW_NR_OPS * shards */
	__type(key, __u32);
	__type(value, struct sw_io_stats);
} stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1); /* max_watch * SW_NR_OPS * shards */
	__type(key, __u32);
	__type(value, struct sw_io_max);
} maxima SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SW_NR_COUNTERS);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024); /* tracing.ring_buffer_bytes, set before load */
} events SEC(".maps");

/* Shared counters: the CPUs of a shard add to the same words. The result is
 * unused, so clang emits the plain atomic add (BPF_XADD, any kernel). With a
 * shard per CPU no other CPU writes it and a plain add does, as in a per-CPU
 * map; the rodata is frozen, so the verifier drops the branch not taken. */
#define ADD(p, v)                                   \
	do {                                        \
		if (shared_shards)                  \
			__sync_fetch_and_add(p, v); \
		else                                \
			*(p) += (v);                \
	} while (0)

static __always_inline __u32 stats_key(__u32 widx, __u32 op)
{
	return (widx * SW_NR_OPS + op) * (shard_mask + 1) + (bpf_get_smp_processor_id() & shard_mask);
}

static __always_inline void count(__u32 which)
{
	__u64 *c = bpf_map_lookup_elem(&counters, &which);

	if (c)
		*c += 1;
}

/* Field reads: tp_btf programs dereference BTF-typed pointers directly;
 * raw_tp programs must go through bpf_probe_read (BPF_CORE_READ). Each
 * handler is inlined with a constant `direct`, so each variant keeps one. */
#define RD(direct, src, a, ...) \
	((direct) ? (src)->a __VA_OPT__(->__VA_ARGS__) : BPF_CORE_READ(src, a __VA_OPT__(, __VA_ARGS__)))

static __always_inline __u32 rq_dev(struct request *rq, bool direct)
{
	struct gendisk *disk;

	if (bpf_core_field_exists(rq->q->disk))
		disk = RD(direct, rq, q, disk);
	else
		disk = BPF_CORE_READ((struct request___old *)rq, rq_disk);
	if (!disk)
		return 0;
	return ((__u32)RD(direct, disk, major) << 20) | (__u32)RD(direct, disk, first_minor);
}

/* Watched slot of the request's device, or -1. A per-CPU cache keyed by the
 * dense request_queue id keeps the hash lookup off the hot path. */
static __always_inline int watched(struct request *rq, bool direct)
{
	__u32 qid = (__u32)RD(direct, rq, q, id) & (SW_QCACHE_SIZE - 1);
	__u32 dev = rq_dev(rq, direct);
	__u32 gen = watch_gen;
	struct sw_qcache *c = bpf_map_lookup_elem(&qcache, &qid);
	__u32 *w;

	if (!c)
		return -1;
	if (c->dev == dev && c->gen == gen)
		return c->widx;
	count(SW_CTR_QCACHE_MISS);
	w = bpf_map_lookup_elem(&watch_idx, &dev);
	c->dev = dev;
	c->gen = gen;
	c->widx = w ? (int)*w : -1;
	return c->widx;
}

/* The request's in-flight slot. The tag is stable for the request's whole
 * life: the scheduler tag when a scheduler is attached (the driver tag comes
 * and goes across requeues), else the driver tag (kept across requeues). */
static __always_inline struct sw_inflight *slot_of(struct request *rq, struct sw_dev_cfg *cfg,
						   bool direct)
{
	int tag = RD(direct, rq, internal_tag);
	__u32 hctx, idx;

	if (tag == NO_TAG)
		tag = RD(direct, rq, tag);
	hctx = RD(direct, rq, mq_hctx, queue_num);
	if (tag < 0 || (__u32)tag >= cfg->slots_per_hctx || hctx >= cfg->nr_hctx) {
		count(SW_CTR_UNTRACKED);
		return NULL;
	}
	idx = cfg->slot_base + hctx * cfg->slots_per_hctx + (__u32)tag;
	return bpf_map_lookup_elem(&inflight, &idx);
}

static __always_inline __u32 op_of(__u32 cmd_flags)
{
	__u32 op = cmd_flags & REQ_OP_MASK;

	return op < SW_OP_OTHER ? op : SW_OP_OTHER;
}

/* The request's allocation time, or 0 when the kernel did not set it for
 * this request (iostats off; on 6.18+ the field then holds a previous
 * request's value). */
static __always_inline __u64 rq_start(struct request *rq, bool direct)
{
	if (rqf_io_stat && !(RD(direct, rq, rq_flags) & rqf_io_stat))
		return 0;
	return RD(direct, rq, start_time_ns);
}

/* insert and issue: mark the request outstanding (idempotent, so a re-issue
 * after a requeue keeps the original start time). */
static __always_inline int on_start(struct request *rq, bool issue, bool direct)
{
	int widx = watched(rq, direct);
	struct sw_dev_cfg *cfg;
	struct sw_inflight *s;
	__u64 start;
	__u32 w;

	if (widx < 0)
		return 0;
	w = (__u32)widx;
	cfg = bpf_map_lookup_elem(&devices, &w);
	if (!cfg)
		return 0;
	s = slot_of(rq, cfg, direct);
	if (!s)
		return 0;
	start = rq_start(rq, direct);
	if (issue && (cfg->flags & SW_DEV_ISSUE_CLOCK)) {
		s->issue_ns = bpf_ktime_get_ns();
		if (!start)
			start = s->start_ns ? s->start_ns : s->issue_ns;
	} else if (!start) {
		/* iostats off and no scheduler: the kernel keeps no start time. */
		if (s->start_ns)
			return 0;
		start = bpf_ktime_get_ns();
	}
	if (s->start_ns != start)
		s->start_ns = start;
	return 0;
}

static __always_inline __u16 status_of(__u64 raw)
{
	int err;

	if (complete_status)
		return (__u8)raw;
	/* Old kernels pass -errno: map the common ones back to blk_status_t. */
	err = -(int)raw;
	switch (err) {
	case 0: return 0;
	case 95: return 1;  /* EOPNOTSUPP -> NOTSUPP */
	case 110: return 2; /* ETIMEDOUT -> TIMEOUT */
	case 28: return 3;  /* ENOSPC -> NOSPC */
	case 67: return 4;  /* ENOLINK -> TRANSPORT */
	case 121: return 5; /* EREMOTEIO -> TARGET */
	case 61: return 7;  /* ENODATA -> MEDIUM */
	case 84: return 8;  /* EILSEQ -> PROTECTION */
	case 12: return 9;  /* ENOMEM -> RESOURCE */
	case 11: return 12; /* EAGAIN -> AGAIN */
	case 19: return 16; /* ENODEV -> OFFLINE */
	default: return 10; /* EIO -> IOERR */
	}
}

static __always_inline void emit(struct request *rq, struct sw_event *proto, bool direct)
{
	struct sw_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);

	if (!e) {
		count(SW_CTR_RB_DROPS);
		return;
	}
	*e = *proto;
	e->sector = RD(direct, rq, __sector);
	bpf_ringbuf_submit(e, 0);
}

/* sw_bucket() never returns more than SW_NR_BUCKETS - 1; the clamp is for
 * the verifier, which cannot follow sw_log2's arithmetic. */
static __always_inline __u64 hist_idx(__u64 ns)
{
	__u64 b = sw_bucket(ns);

	if (b > SW_NR_BUCKETS - 1)
		b = SW_NR_BUCKETS - 1;
	/* Materialise the clamped value in one register, so the index the
	 * verifier sees is the one that was bounded. */
	asm volatile("" : "+r"(b));
	return b;
}

/* Every completion `count` counts, failed ones too: an error that took 30 s
 * broke the SLO as much as a slow success. The thresholds ascend, so a fast
 * I/O costs one comparison; the constant bound lets clang unroll the loop. */
static __always_inline void count_slo(struct sw_io_stats *st, __u64 total)
{
#pragma unroll
	for (int i = 0; i < SW_NR_SLO; i++) {
		__u64 limit = slo_ns[i]; /* one load: slo_ns is volatile */

		if (!limit || total <= limit)
			break;
		ADD(&st->slo_over[i], 1);
	}
}

/* A histogram bucket, or the plain counter of a device without histograms:
 * either way one atomic add, and the reader's count is their sum. */
static __always_inline void account(__u32 key, struct sw_io_stats *st, bool hist, __u64 total,
				    __u64 device)
{
	struct sw_io_max *mx = bpf_map_lookup_elem(&maxima, &key);

	if (!mx)
		return;
	ADD(&st->total_ns_sum, total);
	if (hist)
		ADD(&st->total_hist[hist_idx(total)], 1);
	else
		ADD(&st->count, 1);
	count_slo(st, total);
	if (total > mx->total_ns)
		mx->total_ns = total;
	if (!device)
		return;
	ADD(&st->device_ns_sum, device);
	if (hist)
		ADD(&st->device_hist[hist_idx(device)], 1);
	else
		ADD(&st->device_count, 1);
	if (device > mx->device_ns)
		mx->device_ns = device;
}

/* Returns the start time to measure this completion from, 0 if it must not
 * be counted. A tag belongs to one request at a time, so whatever its slot
 * holds is this request's, or stale: the completion always ends it. A
 * request the programs never saw start (issued before they attached, and not
 * found by the seeding walk) still counts, by the kernel's own start time.
 * dm-multipath's request-based path completes each request twice, the
 * second time with nr_bytes and __data_len 0 after the first cleared the
 * slot: that one never counts. */
static __always_inline __u64 claim(struct sw_inflight *s, __u64 start, __u64 now,
				   __u32 nr_bytes, __u32 data_len)
{
	if (start >= now)
		start = 0; /* not a time we can measure from */
	if (s && s->start_ns && (!start || s->start_ns == start))
		return s->start_ns;
	if (!nr_bytes && !data_len && (!s || !s->start_ns)) {
		if (s)
			count(SW_CTR_DUP_COMPLETE);
		return 0;
	}
	if (s)
		count(SW_CTR_UNSEEN_COMPLETE);
	return start;
}

static __always_inline int on_complete(struct request *rq, __u64 raw_err, __u32 nr_bytes,
				       bool direct)
{
	int widx = watched(rq, direct);
	__u64 start, now, io_start, total, device = 0;
	__u32 w, op, data_len, key;
	struct sw_io_stats *st;
	struct sw_dev_cfg *cfg;
	struct sw_inflight *s;
	__u16 status;

	if (widx < 0)
		return 0;
	w = (__u32)widx;
	cfg = bpf_map_lookup_elem(&devices, &w);
	if (!cfg)
		return 0;
	s = slot_of(rq, cfg, direct);
	data_len = RD(direct, rq, __data_len);
	now = bpf_ktime_get_ns();
	start = claim(s, rq_start(rq, direct), now, nr_bytes, data_len);
	if (!start)
		return 0;
	op = op_of(RD(direct, rq, cmd_flags));
	key = stats_key(w, op);
	status = status_of(raw_err);
	st = bpf_map_lookup_elem(&stats, &key);
	if (!st)
		return 0;
	if (nr_bytes)
		ADD(&st->bytes, nr_bytes);
	if (status)
		ADD(&st->errors[status & (SW_NR_STATUS - 1)], 1);
	/* A partial completion (nr_bytes short of what remains) is not the end
	 * of the request: keep it outstanding. */
	if (nr_bytes < data_len && !status)
		return 0;

	total = now - start;
	io_start = RD(direct, rq, io_start_time_ns);
	if (io_start)
		device = now - io_start;
	else if (s && s->issue_ns)
		device = now - s->issue_ns;
	if (!io_start && !(cfg->flags & SW_DEV_ISSUE_CLOCK))
		cfg->flags |= SW_DEV_ISSUE_CLOCK; /* only bit BPF sets: a lost race re-sets it */
	account(key, st, !(cfg->flags & SW_DEV_NO_HIST), total, device);
	if (s) {
		s->start_ns = 0;
		s->issue_ns = 0;
	}

	if (!status && cfg->slow_ns && total >= cfg->slow_ns)
		ADD(&st->slow, 1);
	if (status || (cfg->slow_ns && total >= cfg->slow_ns)) {
		struct sw_event ev = {
			.ts_ns = now,
			.total_ns = total,
			.device_ns = device,
			.dev = cfg->dev,
			.bytes = nr_bytes ? nr_bytes : data_len,
			.widx = widx,
			.status = status,
			.op = (__u8)op,
			.kind = status ? SW_EV_ERROR : SW_EV_SLOW,
		};
		emit(rq, &ev, direct);
	}
	return 0;
}

static __always_inline int on_requeue(struct request *rq, bool direct)
{
	int widx = watched(rq, direct);
	__u32 key;
	struct sw_io_stats *st;

	if (widx < 0)
		return 0;
	key = stats_key((__u32)widx, op_of(RD(direct, rq, cmd_flags)));
	st = bpf_map_lookup_elem(&stats, &key);
	if (st)
		ADD(&st->requeues, 1);
	return 0;
}

/* Tracepoints before 5.11 (and 5.10.y before .137) passed (q, rq). */
#define RQ_ARG(ctx) ((struct request *)(rq_single_arg ? (ctx)[0] : (ctx)[1]))

/* The four handlers, once as tp_btf (direct BTF-typed loads) and once as
 * raw_tp (bpf_probe_read); userspace loads one set. */
#define SW_HANDLERS(kind, suffix, direct)                                                   \
	SEC(#kind "/block_rq_insert")                                                       \
	int BPF_PROG(sw_insert_##suffix)                                                    \
	{                                                                                   \
		return on_start(RQ_ARG(ctx), false, direct);                                \
	}                                                                                   \
	SEC(#kind "/block_rq_issue")                                                        \
	int BPF_PROG(sw_issue_##suffix)                                                     \
	{                                                                                   \
		return on_start(RQ_ARG(ctx), true, direct);                                 \
	}                                                                                   \
	SEC(#kind "/block_rq_requeue")                                                      \
	int BPF_PROG(sw_requeue_##suffix)                                                   \
	{                                                                                   \
		return on_requeue(RQ_ARG(ctx), direct);                                     \
	}                                                                                   \
	SEC(#kind "/block_rq_complete")                                                     \
	int BPF_PROG(sw_complete_##suffix)                                                  \
	{                                                                                   \
		return on_complete((struct request *)ctx[0], ctx[1], (__u32)ctx[2], direct); \
	}

SW_HANDLERS(tp_btf, btf, true)
SW_HANDLERS(raw_tp, raw, false)
