// SPDX-License-Identifier: Apache-2.0
// Kernel differences that decide how the BPF programs read their arguments,
// probed from the running kernel's BTF (never from the version string).
#pragma once

#include <cstdint>
#include <string>

#include "base/result.h"

namespace sanwatch {

struct KernelLayout {
  bool rq_single_arg = true;    // block_rq_issue(rq) rather than (q, rq)
  bool complete_status = true;  // block_rq_complete gets blk_status_t, not -errno
  bool has_rq_remap = false;    // block_rq_remap tracepoint exists
  // RQF_IO_STAT when it comes from an enum (6.12+), where rq->start_time_ns
  // is this request's only with that flag; 0 where any non-zero value is.
  std::uint32_t rqf_io_stat = 0;
};

// Fails with a one-line explanation when the kernel has no BTF or lacks the
// block_rq_* tracepoints.
Result<KernelLayout> probe_kernel_layout();

}  // namespace sanwatch
