// SPDX-License-Identifier: Apache-2.0
#include "kernel/nvme_aen.h"

#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include <cerrno>
#include <cstring>

#include "aen_event.h"
#include "nvme_aen.skel.h"

namespace sanwatch {
namespace {

struct SkelDeleter {
  void operator()(nvme_aen_bpf* s) const { nvme_aen_bpf__destroy(s); }
};
struct RingDeleter {
  void operator()(ring_buffer* r) const { ring_buffer__free(r); }
};
struct BtfDeleter {
  void operator()(btf* b) const { btf__free(b); }
};
using BtfPtr = std::unique_ptr<btf, BtfDeleter>;

// The tracepoint exists when nvme_core's module BTF has its prototype
// typedef (btf_trace_<name>): present exactly where the tracepoint is.
Status probe_tracepoint() {
  BtfPtr vmlinux(btf__load_vmlinux_btf());
  if (!vmlinux) return Error{errno ? errno : ENOENT, "no kernel BTF"};
  BtfPtr mod(btf__load_module_btf("nvme_core", vmlinux.get()));
  if (!mod) return Error{ENOENT, "nvme_core is not loaded (no /sys/kernel/btf/nvme_core)"};
  if (btf__find_by_name_kind(mod.get(), "btf_trace_nvme_async_event", BTF_KIND_TYPEDEF) < 0)
    return Error{ENOENT, "nvme_core has no nvme_async_event tracepoint"};
  return {};
}

int on_event(void* ctx, void* data, std::size_t size) {
  auto* fn = static_cast<const std::function<void(std::uint32_t, std::uint64_t)>*>(ctx);
  if (size < sizeof(bpf::sw_aen) || !*fn) return 0;
  bpf::sw_aen e;
  std::memcpy(&e, data, sizeof e);
  (*fn)(e.result, e.ts_ns);
  return 0;
}

}  // namespace

struct NvmeAenTracer::Impl {
  std::unique_ptr<nvme_aen_bpf, SkelDeleter> skel;
  std::unique_ptr<ring_buffer, RingDeleter> ring;
  // What drain() was given, reached by the ring callback through ctx.
  std::function<void(std::uint32_t, std::uint64_t)> fn;
};

Result<std::unique_ptr<NvmeAenTracer>> NvmeAenTracer::open() {
  if (auto st = probe_tracepoint(); !st) return st.error();
  auto impl = std::make_unique<Impl>();
  impl->skel.reset(nvme_aen_bpf__open_and_load());
  if (!impl->skel) return Error{errno, "loading the NVMe AEN program"};
  if (int err = nvme_aen_bpf__attach(impl->skel.get()))
    return Error{-err, "attaching nvme:nvme_async_event"};
  impl->ring.reset(
      ring_buffer__new(bpf_map__fd(impl->skel->maps.aen_events), on_event, &impl->fn, nullptr));
  if (!impl->ring) return Error{errno, "creating the NVMe AEN ring reader"};
  return std::unique_ptr<NvmeAenTracer>(new NvmeAenTracer(std::move(impl)));
}

NvmeAenTracer::NvmeAenTracer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
NvmeAenTracer::~NvmeAenTracer() = default;

int NvmeAenTracer::event_fd() const { return ring_buffer__epoll_fd(impl_->ring.get()); }

unsigned NvmeAenTracer::drain(const std::function<void(std::uint32_t, std::uint64_t)>& fn) {
  unsigned n = 0;
  impl_->fn = [&](std::uint32_t r, std::uint64_t ts) {
    ++n;
    fn(r, ts);
  };
  ring_buffer__consume(impl_->ring.get());
  impl_->fn = nullptr;
  return n;
}

}  // namespace sanwatch
