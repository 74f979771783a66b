// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/* Shared between nvme_aen.bpf.c and agent/kernel/nvme_aen.cpp. */
#ifndef SANWATCH_AEN_EVENT_H
#define SANWATCH_AEN_EVENT_H

#ifdef __cplusplus
#include <cstdint>
namespace sanwatch::bpf
{
typedef std::uint32_t __u32;
typedef std::uint64_t __u64;
#endif

struct sw_aen {
	__u64 ts_ns;  /* CLOCK_MONOTONIC when the AEN was traced */
	__u32 result; /* completion dword 0: type, info, log page (0x0c0302 = ANA change) */
	__u32 pad;
};

#ifdef __cplusplus
} // namespace sanwatch::bpf
#endif

#endif /* SANWATCH_AEN_EVENT_H */
