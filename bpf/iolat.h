// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/* Shared between iolat.bpf.c and the C++ engine (agent/bpf_engine.*).
 * Fixed-width types only; the layout is the ABI between the two sides.
 */
#ifndef SANWATCH_IOLAT_H
#define SANWATCH_IOLAT_H

#ifdef __cplusplus
#include <cstdint>
namespace sanwatch::bpf
{
typedef std::uint8_t __u8;
typedef std::uint16_t __u16;
typedef std::uint32_t __u32;
typedef std::uint64_t __u64;
typedef std::int32_t __s32;
#endif

/* Operations, from rq->cmd_flags & REQ_OP_MASK (read 0, write 1, flush 2,
 * discard 3; everything else is "other"). */
enum sw_op {
	SW_OP_READ = 0,
	SW_OP_WRITE = 1,
	SW_OP_FLUSH = 2,
	SW_OP_DISCARD = 3,
	SW_OP_OTHER = 4,
	SW_NR_OPS = 5,
};

/* Log-linear latency buckets over nanoseconds: 8 linear sub-buckets per
 * power of two (12.5 % relative width) from 2^10 ns (~1 us) to 2^37 ns
 * (~137 s). Bucket 0 holds everything below 1024 ns, the last bucket
 * everything from 2^37 ns up. */
#define SW_SUB_BITS 3
#define SW_SUBS (1u << SW_SUB_BITS)
#define SW_MIN_SHIFT 10
#define SW_MAX_SHIFT 37
#define SW_NR_BUCKETS (2 + (SW_MAX_SHIFT - SW_MIN_SHIFT) * SW_SUBS)
/* Storage per histogram: SW_NR_BUCKETS rounded up to a multiple of 8. */
#define SW_HIST_SLOTS 224

/* blk_status_t codes are small; errors are counted per status code. */
#define SW_NR_STATUS 32

/* Latency SLO thresholds (rodata slo_ns[]): exact counts of completions over
 * each, which buckets 12.5 % wide cannot give at an arbitrary 10 ms. */
#define SW_NR_SLO 4

/* Statistics shards per (device, op): the CPUs share them, shard =
 * cpu & (shards - 1), shards a power of two up to this, set from the
 * possible CPUs (rodata shard_mask). Not per CPU: a per-CPU copy costs its
 * size times every possible CPU (1.2 MiB per device at 128 CPUs); two
 * shared copies cost ~20 KiB whatever the CPU count (docs/architecture.md,
 * "Map memory"). */
#define SW_MAX_SHARDS 2

/* Per (device, op, shard) statistics, updated with atomic adds by the CPUs
 * of the shard and summed over shards in userspace. The event counters are
 * 32-bit: their sum over shards wraps modulo 2^32 exactly as the true total
 * does, so a reader that looks at least once per 2^32 events of a counter
 * (the agent reads every second) recovers the 64-bit totals from the change
 * since its last read. Byte and time sums grow too fast for that and stay
 * 64-bit. The number of completions is not counted apart: it is the sum of
 * total_hist's buckets (device_hist's for device_count), plus the counters
 * below for a device whose histograms are off (SW_DEV_NO_HIST): one atomic
 * add per completion fewer. */
struct sw_io_stats {
	__u64 bytes;
	__u64 total_ns_sum;
	__u64 device_ns_sum;
	__u32 count;	    /* completions not in total_hist (SW_DEV_NO_HIST) */
	__u32 device_count; /* completions with an issue time not in device_hist */
	__u32 requeues;
	__u32 slow; /* completions without error whose total latency reached the
		     * device's slow_ns: what the SLOW events report, counted here
		     * as well because the ring drops events when it is full */
	__u32 errors[SW_NR_STATUS];
	__u32 slo_over[SW_NR_SLO]; /* completions with total latency > slo_ns[i] */
	__u32 total_hist[SW_HIST_SLOTS];
	__u32 device_hist[SW_HIST_SLOTS];
};

/* Per (device, op, shard) maxima. Reset by the reader between intervals;
 * kept apart from sw_io_stats so the reset never races with the counters.
 * BPF has no atomic max: two CPUs of a shard raising it at the same moment
 * can leave the smaller of their two values. */
struct sw_io_max {
	__u64 total_ns;
	__u64 device_ns;
};

/* Written by userspace for each watched device slot. */
struct sw_dev_cfg {
	__u32 dev;	      /* MKDEV(major, minor) in kernel encoding */
	__u32 slot_base;      /* first index in the inflight array */
	__u32 slots_per_hctx; /* tag space per hardware queue */
	__u32 nr_hctx;
	__u64 slow_ns; /* emit a SLOW event above this total latency; 0 = never */
	__u32 flags;   /* SW_DEV_* */
	__u32 pad;
};

/* Set by the programs when a completion had no io_start_time_ns: the queue
 * keeps no issue timestamps, so the issue hook takes its own. */
#define SW_DEV_ISSUE_CLOCK 1u
/* Set by userspace: no latency histograms for this device (multipath paths
 * unless metrics.path_histograms); completions go to count/device_count. */
#define SW_DEV_NO_HIST 2u

/* One outstanding request: what the oldest-outstanding scan reads. */
struct sw_inflight {
	__u64 start_ns; /* allocation time (rq->start_time_ns); 0 = free slot */
	__u64 issue_ns; /* own issue timestamp, only with SW_DEV_ISSUE_CLOCK */
};

/* Per-CPU cache: request_queue id -> watched slot, so the hot path needs no
 * hash lookup. Valid while gen equals the global watch generation. */
struct sw_qcache {
	__u32 dev;
	__u32 gen;
	__s32 widx; /* -1 = not watched */
	__u32 pad;
};
#define SW_QCACHE_SIZE 4096

enum sw_counter {
	SW_CTR_RB_DROPS = 0,	/* ring buffer full, event lost */
	SW_CTR_UNTRACKED,	/* tag outside the slot range: no in-flight tracking */
	SW_CTR_DUP_COMPLETE,	/* completion of a request already completed */
	SW_CTR_UNSEEN_COMPLETE, /* completion of a request not seen starting (counted by its
				 * own start time when the kernel's is trustworthy) */
	SW_CTR_QCACHE_MISS,
	SW_NR_COUNTERS,
};

enum sw_event_kind {
	SW_EV_SLOW = 1,
	SW_EV_ERROR = 2,
};

struct sw_event {
	__u64 ts_ns; /* completion time, CLOCK_MONOTONIC */
	__u64 sector;
	__u64 total_ns;	 /* allocation -> completion */
	__u64 device_ns; /* issue -> completion; 0 if unknown */
	__u32 dev;
	__u32 bytes;
	__s32 widx;
	__u16 status; /* blk_status_t code */
	__u8 op;
	__u8 kind;
};

/* Seeding (bpf/seed.bpf.c): requests already outstanding when a device is
 * watched are found by walking its blk-mq tag tables once, from a task_file
 * iterator that finds the disk through the agent's own open fd of its
 * sysfs directory. */
enum sw_seed_mode {
	SW_SEED_WALK = 1,   /* find outstanding requests, seed their slots */
	SW_SEED_VERIFY = 2, /* clear seeded slots whose request has ended */
};

enum sw_seed_status {
	SW_SEED_PENDING = 0, /* the program did not find the fd */
	SW_SEED_DONE = 1,
	SW_SEED_NOT_MQ = 2,	 /* bio-based queue: no tag tables */
	SW_SEED_UNSUPPORTED = 3, /* kernel layout the walker does not know */
	SW_SEED_NO_DEVICE = 4,	 /* fd is not the watched disk's sysfs directory */
};

/* Request and result of one walk, in the seeder's .bss. Userspace fills the
 * request and sets armed; the program clears armed when it is done. */
struct sw_seed_ctl {
	__u32 armed;
	__u32 mode;	  /* enum sw_seed_mode */
	__u32 dev;	  /* disk whose inflight file is read, kernel encoding */
	__u32 widx;	  /* its watch slot */
	__u32 fd;	  /* the agent's fd of the disk's sysfs directory */
	__u32 hctx_first; /* walk: hardware queues [first, first + count) */
	__u32 hctx_count;
	/* results */
	__u32 status;	    /* enum sw_seed_status */
	__u32 nr_hw_queues; /* of the tag set */
	__u32 scanned;	    /* tag table entries read */
	__u32 found;	    /* outstanding requests found */
	__u32 seeded;	    /* of those, slots written (the rest were tracked already) */
	__u32 untimed;	    /* seeded with the walk's time: no trustworthy start time */
	__u32 raced;	    /* ended while being seeded: undone */
	__u32 remaining;    /* verify: seeded slots still outstanding */
	__u32 cleared;	    /* verify: seeded slots whose request had ended */
	__u64 oldest_ns;    /* oldest start time seeded in this call, 0 = none */
	__u64 walk_ns;	    /* time spent in the program */
};

/* Per in-flight slot, what a walk seeded there, so a later verify can tell a
 * seed whose completion was missed from a request still outstanding. */
struct sw_seed_shadow {
	__u64 rq;	   /* the request's address; 0 = nothing seeded */
	__u64 start_ns;	   /* value written to the slot */
	__u64 rq_start_ns; /* rq->start_time_ns as read (differs when untimed) */
};

/* Highest set bit, branch-free enough for the verifier; v > 0. */
static inline __u32 sw_log2(__u64 v)
{
	__u32 r = 0, s;
	s = (v > 0xFFFFFFFFull) << 5;
	v >>= s;
	r |= s;
	s = (v > 0xFFFFull) << 4;
	v >>= s;
	r |= s;
	s = (v > 0xFFull) << 3;
	v >>= s;
	r |= s;
	s = (v > 0xFull) << 2;
	v >>= s;
	r |= s;
	s = (v > 0x3ull) << 1;
	v >>= s;
	r |= s;
	r |= (__u32)(v >> 1);
	return r;
}

/* Bucket index for a latency in nanoseconds. */
static inline __u32 sw_bucket(__u64 ns)
{
	__u32 msb, sub;

	if (ns < (1ull << SW_MIN_SHIFT))
		return 0;
	msb = sw_log2(ns);
	if (msb >= SW_MAX_SHIFT)
		return SW_NR_BUCKETS - 1;
	sub = (__u32)(ns >> (msb - SW_SUB_BITS)) & (SW_SUBS - 1);
	return 1 + (msb - SW_MIN_SHIFT) * SW_SUBS + sub;
}

/* Exclusive upper bound of a bucket in nanoseconds (the last bucket has none:
 * returns ~0). */
static inline __u64 sw_bucket_upper_ns(__u32 idx)
{
	__u32 octave, sub;

	if (idx == 0)
		return 1ull << SW_MIN_SHIFT;
	if (idx >= SW_NR_BUCKETS - 1)
		return ~0ull;
	octave = (idx - 1) / SW_SUBS;
	sub = (idx - 1) % SW_SUBS;
	return (__u64)(SW_SUBS + sub + 1) << (SW_MIN_SHIFT + octave - SW_SUB_BITS);
}

#ifdef __cplusplus
} // namespace sanwatch::bpf
#endif

#endif /* SANWATCH_IOLAT_H */
