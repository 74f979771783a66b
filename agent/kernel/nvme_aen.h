// SPDX-License-Identifier: Apache-2.0
// NVMe asynchronous event notifications traced from nvme_core's
// nvme:nvme_async_event tracepoint (bpf/nvme_aen.bpf.c): the earliest
// moment user space can learn that a controller reported an ANA change
// (the kernel sends no uevent for it).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>

#include "base/result.h"

namespace sanwatch {

class NvmeAenTracer {
 public:
  // Fails (ENOENT) when the tracepoint is not there: nvme_core not loaded,
  // or a kernel without it, as its module BTF says (no version checks).
  static Result<std::unique_ptr<NvmeAenTracer>> open();
  ~NvmeAenTracer();

  int event_fd() const;  // readable when events are waiting
  // Calls fn(result, ts_ns) for each event waiting (ts_ns: CLOCK_MONOTONIC
  // when the kernel traced it); returns how many.
  unsigned drain(const std::function<void(std::uint32_t result, std::uint64_t ts_ns)>& fn);

  struct Impl;

 private:
  explicit NvmeAenTracer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace sanwatch
