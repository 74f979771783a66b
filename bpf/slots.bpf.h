// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/* Maps shared by iolat.bpf.c and seed.bpf.c: the seeder reuses the engine's
 * file descriptors (bpf_map__reuse_fd), so both objects must declare them
 * identically. BPF side only. */
#ifndef SANWATCH_SLOTS_BPF_H
#define SANWATCH_SLOTS_BPF_H

#include "iolat.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1); /* max_watch */
	__type(key, __u32);
	__type(value, struct sw_dev_cfg);
} devices SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1); /* total slots of all watched devices */
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct sw_inflight);
} inflight SEC(".maps");

#endif /* SANWATCH_SLOTS_BPF_H */
