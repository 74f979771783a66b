// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/* Minimal CO-RE kernel type header for sanwatch's BPF programs.
 *
 * Only the types and fields the programs read are declared. Every struct
 * carries preserve_access_index, so libbpf relocates each field access
 * against the running kernel's BTF at load time: offsets and sizes here
 * do not need to match any particular kernel. See README.md beside this file.
 */
#ifndef SANWATCH_VMLINUX_H
#define SANWATCH_VMLINUX_H

typedef unsigned char __u8;
typedef signed char __s8;
typedef unsigned short __u16;
typedef short __s16;
typedef unsigned int __u32;
typedef int __s32;
typedef unsigned long long __u64;
typedef long long __s64;
typedef __u8 u8;
typedef __u16 u16;
typedef __u32 u32;
typedef __s32 s32;
typedef __u64 u64;
typedef __s64 s64;
typedef __u16 __be16;
typedef __u32 __be32;
typedef __u32 __wsum;
typedef _Bool bool;
enum { false = 0, true = 1 };
typedef __u32 dev_t;
typedef __u64 sector_t;
typedef __u32 blk_opf_t;
typedef __u8 blk_status_t;

#ifndef BPF_NO_PRESERVE_ACCESS_INDEX
#pragma clang attribute push(__attribute__((preserve_access_index)), apply_to = record)
#endif

typedef __u32 req_flags_t;
typedef struct {
	int counter;
} atomic_t;

struct gendisk {
	int major;
	int first_minor;
	struct request_queue *queue;
};

/* Only ever reached through a pointer. */
struct elevator_queue;
struct bio;

/* blk-mq tag tables, walked once at attach (seed.bpf.c). */
struct blk_mq_tags {
	unsigned int nr_tags;
	unsigned int nr_reserved_tags;
	struct request **rqs;
	struct request **static_rqs;
};

struct blk_mq_tag_set {
	unsigned int nr_hw_queues;
	unsigned int flags;
	struct blk_mq_tags **tags;
};

struct request_queue {
	struct gendisk *disk; /* since 5.15 */
	int id;
	struct blk_mq_tag_set *tag_set; /* NULL for bio-based queues */
	struct elevator_queue *elevator;
};

struct blk_mq_hw_ctx {
	unsigned int queue_num;
};

/* The seeder reaches a disk from the agent's fd of its sysfs directory:
 * file -> inode -> kernfs_node -> kobject (struct device) -> block_device. */
struct kobject {
	const char *name;
};

struct device {
	struct kobject kobj;
};

struct kernfs_node {
	void *priv; /* a directory's kobject */
};

struct inode {
	void *i_private; /* kernfs_node on sysfs */
};

struct file {
	struct inode *f_inode;
};

struct task_struct {
	int tgid;
};

struct bpf_iter_meta {
	__u64 seq_num;
};

struct bpf_iter__task_file {
	struct bpf_iter_meta *meta;
	struct task_struct *task;
	u32 fd;
	struct file *file;
};

struct block_device {
	dev_t bd_dev;
	struct device bd_device; /* since 5.11 */
	struct gendisk *bd_disk;
};

enum mq_rq_state {
	MQ_RQ_IDLE = 0,
	MQ_RQ_IN_FLIGHT = 1,
	MQ_RQ_COMPLETE = 2,
};

struct request {
	struct request_queue *q;
	struct blk_mq_hw_ctx *mq_hctx;
	blk_opf_t cmd_flags;
	int tag;
	int internal_tag;
	unsigned int __data_len;
	sector_t __sector;
	req_flags_t rq_flags;
	struct bio *bio;
	struct block_device *part;
	u64 start_time_ns;
	u64 io_start_time_ns;
	enum mq_rq_state state;
	atomic_t ref; /* refcount_t before 5.16: same 4 bytes at the same place */
};

/* Kernels before 5.15 kept the disk in the request itself. */
struct request___old {
	struct gendisk *rq_disk;
};

#ifndef BPF_NO_PRESERVE_ACCESS_INDEX
#pragma clang attribute pop
#endif

/* Program type constants that bpf_helper_defs.h refers to by value. */
enum bpf_map_type {
	BPF_MAP_TYPE_HASH = 1,
	BPF_MAP_TYPE_ARRAY = 2,
	BPF_MAP_TYPE_PERCPU_ARRAY = 6,
	BPF_MAP_TYPE_RINGBUF = 27,
};

enum {
	BPF_ANY = 0,
	BPF_NOEXIST = 1,
	BPF_EXIST = 2,
	BPF_F_MMAPABLE = (1U << 10),
	BPF_F_NO_PREALLOC = (1U << 0),
};

#endif /* SANWATCH_VMLINUX_H */
