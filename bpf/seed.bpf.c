// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/* sanwatch in-flight seeding: requests already outstanding when a device is
 * watched.
 *
 * The live programs (iolat.bpf.c) fill a request's in-flight slot when it is
 * inserted or issued, so I/O issued before they attached has no slot: the
 * stall an operator starts sanwatch for would be invisible. This program
 * finds such requests in the device's blk-mq tag tables and writes their
 * start times (rq->start_time_ns, the kernel's own) into the same slots.
 *
 * It runs as a task_file iterator over the agent's own files, and starts from
 * the fd of the disk's sysfs directory that the agent holds open for the
 * call: that reaches the disk without opening the device (opening a sick
 * SCSI disk can wait out its error handling) and without fentry, which some
 * kernels refuse (no BPF trampolines). It does nothing unless armed, and
 * only for that fd of the agent's process.
 *
 * Everything reached through the tag tables is a plain kernel address, so
 * every field is read with bpf_probe_read_kernel (BPF_CORE_READ): a request
 * freed under us reads as garbage, never a fault, and every request is
 * re-checked after its slot is written. See docs/architecture.md, "Seeding".
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

const volatile __u32 agent_tgid = 0;
const volatile __u32 rqf_io_stat = 0; /* as in iolat.bpf.c */

struct sw_seed_ctl seed_ctl;

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1); /* as many as inflight */
	__type(key, __u32);
	__type(value, struct sw_seed_shadow);
} shadow SEC(".maps");

#define NO_TAG (-1)
/* Hardware queues walked per call: bounds the time spent with preemption
 * off (userspace calls again for the next ones). */
#define HCTX_PER_CALL 16

struct walk {
	__u64 q;       /* the request_queue */
	__u64 table;   /* struct request ** walked */
	__u64 now;
	__u32 nr_tags; /* entries in table */
	__u32 widx;
	bool owner;    /* table is static_rqs (no scheduler): IDLE queued requests count too */
};

static __always_inline __u32 rd32(__u64 addr)
{
	__u32 v = 0;

	bpf_probe_read_kernel(&v, sizeof(v), (void *)addr);
	return v;
}

/* A request of this queue that the live programs would hold a slot for:
 * driver-owned (IN_FLIGHT), or, when we walk the requests' owning table,
 * queued with data but not (or no longer) issued: requeue and dispatch
 * lists. Free requests have a zero reference count. */
static __always_inline bool outstanding(struct request *rq, struct walk *w, int tag)
{
	__u32 state, ref;

	if ((__u64)BPF_CORE_READ(rq, q) != w->q)
		return false;
	if (BPF_CORE_READ(rq, tag) != tag)
		return false;
	ref = rd32((__u64)rq + bpf_core_field_offset(struct request, ref));
	if (!ref)
		return false;
	state = rd32((__u64)rq + bpf_core_field_offset(struct request, state));
	if (state == MQ_RQ_IN_FLIGHT)
		return true;
	return w->owner && state == MQ_RQ_IDLE && BPF_CORE_READ(rq, bio);
}

static __always_inline __u64 start_of(struct request *rq)
{
	if (rqf_io_stat && !(BPF_CORE_READ(rq, rq_flags) & rqf_io_stat))
		return 0;
	return BPF_CORE_READ(rq, start_time_ns);
}

/* Slot index the live programs use for this request (iolat.bpf.c slot_of),
 * or -1 when it is out of the device's range. */
static __always_inline long slot_index(struct request *rq, struct sw_dev_cfg *cfg)
{
	int tag = BPF_CORE_READ(rq, internal_tag);
	__u32 hctx = BPF_CORE_READ(rq, mq_hctx, queue_num);

	if (tag == NO_TAG)
		tag = BPF_CORE_READ(rq, tag);
	if (tag < 0 || (__u32)tag >= cfg->slots_per_hctx || hctx >= cfg->nr_hctx)
		return -1;
	return cfg->slot_base + hctx * cfg->slots_per_hctx + (__u32)tag;
}

static __always_inline void seed_one(struct request *rq, struct walk *w, int tag)
{
	struct sw_seed_ctl *c = &seed_ctl;
	struct sw_seed_shadow *sh;
	struct sw_inflight *s;
	struct sw_dev_cfg *cfg;
	__u64 start, val;
	__u32 idx;
	long i;

	cfg = bpf_map_lookup_elem(&devices, &w->widx);
	if (!cfg)
		return;
	i = slot_index(rq, cfg);
	if (i < 0)
		return;
	idx = (__u32)i;
	s = bpf_map_lookup_elem(&inflight, &idx);
	sh = bpf_map_lookup_elem(&shadow, &idx);
	if (!s || !sh)
		return;
	c->found++;
	start = start_of(rq);
	val = start && start < w->now ? start : w->now;
	/* Only an empty slot: a live hook that already filled it knows better. */
	if (__sync_val_compare_and_swap(&s->start_ns, 0, val) != 0)
		return;
	/* Re-check: a request that ended (or was reused) between the first
	 * reads and the write must not leave its start behind as a phantom. */
	if (!outstanding(rq, w, tag) || start_of(rq) != start) {
		__sync_val_compare_and_swap(&s->start_ns, val, 0);
		c->raced++;
		return;
	}
	sh->rq = (__u64)rq;
	sh->start_ns = val;
	sh->rq_start_ns = start;
	c->seeded++;
	if (val != start)
		c->untimed++;
	if (!c->oldest_ns || val < c->oldest_ns)
		c->oldest_ns = val;
}

static long walk_tag(__u32 j, void *ctx)
{
	struct walk *w = ctx;
	__u64 rq = 0;

	bpf_probe_read_kernel(&rq, sizeof(rq), (void *)(w->table + (__u64)j * sizeof(rq)));
	seed_ctl.scanned++;
	if (rq && outstanding((struct request *)rq, w, (int)j))
		seed_one((struct request *)rq, w, (int)j);
	return 0;
}

/* Hardware queues [first, first + count) of the tag set. With a scheduler,
 * requests belong to the scheduler's tables and only the driver's rqs[]
 * (what holds a driver tag now) is reachable from the set; without one,
 * static_rqs[] is every request the queue owns. */
static __always_inline void walk_tables(struct blk_mq_tag_set *set, struct walk *w)
{
	struct sw_seed_ctl *c = &seed_ctl;
	__u64 tags_arr = (__u64)BPF_CORE_READ(set, tags), first_tags = 0;
	__u32 nr_hw = BPF_CORE_READ(set, nr_hw_queues);

	c->nr_hw_queues = nr_hw;
	bpf_probe_read_kernel(&first_tags, sizeof(first_tags), (void *)tags_arr);
	for (__u32 k = 0; k < HCTX_PER_CALL; k++) {
		__u32 i = c->hctx_first + k;
		struct blk_mq_tags *tags = NULL;

		if (k >= c->hctx_count || i >= nr_hw)
			break;
		bpf_probe_read_kernel(&tags, sizeof(tags), (void *)(tags_arr + (__u64)i * 8));
		/* NULL: a queue with no CPU mapped; equal to queue 0's: one
		 * table shared by every queue (BLK_MQ_F_TAG_HCTX_SHARED). */
		if (!tags || (i > 0 && (__u64)tags == first_tags))
			continue;
		w->table = (__u64)(w->owner ? BPF_CORE_READ(tags, static_rqs) : BPF_CORE_READ(tags, rqs));
		w->nr_tags = BPF_CORE_READ(tags, nr_tags);
		if (w->table && w->nr_tags)
			bpf_loop(w->nr_tags, walk_tag, w, 0);
	}
}

/* Without a scheduler the request that owns slot (hctx, tag) is
 * static_rqs[tag] of that queue's table: a start time in a slot whose owner
 * is not outstanding, or started at another (trustworthy) time, is stale,
 * whatever wrote it (a seed that raced its completion, a lost completion).
 * A request caught completing is cleared too: its completion then finds the
 * slot empty and still counts it, by its own start time. */
static __always_inline void audit_slot(struct walk *w, struct sw_inflight *s, __u32 j,
				       __u32 per)
{
	__u64 v = s->start_ns, tags = 0, rq = 0, st;
	__u32 tag = j % per;

	if (!v || !per)
		return;
	bpf_probe_read_kernel(&tags, sizeof(tags), (void *)(w->table + (__u64)(j / per) * 8));
	if (!tags || tag >= BPF_CORE_READ((struct blk_mq_tags *)tags, nr_tags))
		return;
	rq = (__u64)BPF_CORE_READ((struct blk_mq_tags *)tags, static_rqs);
	if (rq)
		bpf_probe_read_kernel(&rq, sizeof(rq), (void *)(rq + (__u64)tag * 8));
	if (rq && outstanding((struct request *)rq, w, (int)tag)) {
		st = start_of((struct request *)rq);
		if (!st || st == v)
			return;
	}
	if (__sync_val_compare_and_swap(&s->start_ns, v, 0) == v)
		seed_ctl.cleared++;
}

static long verify_slot(__u32 j, void *ctx)
{
	struct walk *w = ctx;
	struct sw_seed_ctl *c = &seed_ctl;
	struct sw_dev_cfg *cfg = bpf_map_lookup_elem(&devices, &w->widx);
	struct sw_seed_shadow *sh;
	struct sw_inflight *s;
	struct request *rq;
	__u32 idx;
	int tag;

	if (!cfg)
		return 1;
	idx = cfg->slot_base + j;
	s = bpf_map_lookup_elem(&inflight, &idx);
	sh = bpf_map_lookup_elem(&shadow, &idx);
	if (!s || !sh)
		return 0;
	if (!sh->rq) {
		if (w->owner)
			audit_slot(w, s, j, cfg->slots_per_hctx);
		return 0;
	}
	if (s->start_ns != sh->start_ns) {
		sh->rq = 0; /* completed (the live hook cleared it) or reused */
		return 0;
	}
	rq = (struct request *)sh->rq;
	tag = BPF_CORE_READ(rq, tag);
	if (outstanding(rq, w, tag) && start_of(rq) == sh->rq_start_ns) {
		c->remaining++;
		return 0;
	}
	/* Its completion was missed (it raced the walk): not a stall. */
	__sync_val_compare_and_swap(&s->start_ns, sh->start_ns, 0);
	sh->rq = 0;
	c->cleared++;
	return 0;
}

SEC("iter/task_file")
int sw_seed(struct bpf_iter__task_file *ctx)
{
	struct sw_seed_ctl *c = &seed_ctl;
	struct task_struct *task = ctx->task;
	struct blk_mq_tag_set *set;
	struct file *file = ctx->file;
	struct sw_dev_cfg *cfg;
	struct request_queue *q;
	struct gendisk *disk;
	struct walk w = {};
	__u64 kn, kobj, bdev, t0;

	if (!c->armed || !task || !file || ctx->fd != c->fd ||
	    (__u32)BPF_CORE_READ(task, tgid) != agent_tgid)
		return 0;
	t0 = bpf_ktime_get_ns();
	c->armed = 0;
	if (!bpf_core_field_exists(struct block_device, bd_device)) {
		c->status = SW_SEED_UNSUPPORTED; /* before 5.11: hd_struct */
		goto out;
	}
	kn = (__u64)BPF_CORE_READ(file, f_inode, i_private);
	kobj = (__u64)BPF_CORE_READ((struct kernfs_node *)kn, priv);
	bdev = kobj - bpf_core_field_offset(struct device, kobj) -
	       bpf_core_field_offset(struct block_device, bd_device);
	disk = BPF_CORE_READ((struct block_device *)bdev, bd_disk);
	if (!kobj || !disk ||
	    (((__u32)BPF_CORE_READ(disk, major) << 20) | (__u32)BPF_CORE_READ(disk, first_minor)) != c->dev) {
		c->status = SW_SEED_NO_DEVICE;
		goto out;
	}
	w.widx = c->widx;
	cfg = bpf_map_lookup_elem(&devices, &w.widx);
	if (!cfg || cfg->dev != c->dev) {
		c->status = SW_SEED_NO_DEVICE;
		goto out;
	}
	q = BPF_CORE_READ(disk, queue);
	set = BPF_CORE_READ(q, tag_set);
	if (!set) {
		c->status = SW_SEED_NOT_MQ;
		goto out;
	}
	w.q = (__u64)q;
	w.now = t0;
	w.owner = !BPF_CORE_READ(q, elevator);
	if (c->mode == SW_SEED_VERIFY) {
		w.table = (__u64)BPF_CORE_READ(set, tags); /* the audit's per-queue tables */
		bpf_loop(cfg->nr_hctx * cfg->slots_per_hctx, verify_slot, &w, 0);
	}
	else
		walk_tables(set, &w);
	c->status = SW_SEED_DONE;
out:
	c->walk_ns += bpf_ktime_get_ns() - t0;
	return 0;
}
