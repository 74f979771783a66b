// SPDX-License-Identifier: Apache-2.0
#include "kernel/btf_probe.h"

#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include <cstring>
#include <memory>
#include <optional>

namespace sanwatch {
namespace {

struct BtfDeleter {
  void operator()(btf* b) const { btf__free(b); }
};
using BtfPtr = std::unique_ptr<btf, BtfDeleter>;

// The tracepoint's function prototype: btf_trace_<name> is a typedef of a
// pointer to a func proto whose first parameter is the context.
const btf_type* trace_proto(const btf* b, const std::string& tp) {
  const int id = btf__find_by_name_kind(b, ("btf_trace_" + tp).c_str(), BTF_KIND_TYPEDEF);
  if (id < 0) return nullptr;
  const btf_type* t = btf__type_by_id(b, id);
  t = btf__type_by_id(b, t->type);  // pointer
  if (!t || !btf_is_ptr(t)) return nullptr;
  t = btf__type_by_id(b, t->type);  // func proto
  return t && btf_is_func_proto(t) ? t : nullptr;
}

std::string param_type_name(const btf* b, const btf_type* proto, int i) {
  if (i >= btf_vlen(proto)) return {};
  const btf_type* t = btf__type_by_id(b, btf_params(proto)[i].type);
  return t ? btf__name_by_offset(b, t->name_off) : "";
}

// Value of an enumerator of an anonymous (or any) enum, which libbpf cannot
// relocate from the BPF side.
std::optional<long long> enumerator(const btf* b, const char* name) {
  const std::uint32_t n = btf__type_cnt(b);
  for (std::uint32_t id = 1; id < n; ++id) {
    const btf_type* t = btf__type_by_id(b, id);
    if (!btf_is_enum(t)) continue;
    const struct btf_enum* e = btf_enum(t);
    for (int i = 0; i < btf_vlen(t); ++i)
      if (std::strcmp(btf__name_by_offset(b, e[i].name_off), name) == 0) return e[i].val;
  }
  return std::nullopt;
}

}  // namespace

Result<KernelLayout> probe_kernel_layout() {
  BtfPtr b(btf__load_vmlinux_btf());
  if (!b)
    return Error{errno,
                 "kernel BTF not available (/sys/kernel/btf/vmlinux; needs "
                 "CONFIG_DEBUG_INFO_BTF=y)"};
  KernelLayout k;
  for (const char* tp : {"block_rq_issue", "block_rq_insert", "block_rq_requeue"}) {
    const btf_type* p = trace_proto(b.get(), tp);
    if (!p) return Error{ENOENT, std::string("kernel has no tracepoint block:") + tp};
    if (std::string(tp) == "block_rq_issue") k.rq_single_arg = btf_vlen(p) == 2;
  }
  const btf_type* c = trace_proto(b.get(), "block_rq_complete");
  if (!c) return Error{ENOENT, "kernel has no tracepoint block:block_rq_complete"};
  k.complete_status = param_type_name(b.get(), c, 2) == "blk_status_t";
  k.has_rq_remap = trace_proto(b.get(), "block_rq_remap") != nullptr;
  if (auto bit = enumerator(b.get(), "__RQF_IO_STAT"); bit && *bit >= 0 && *bit < 32)
    k.rqf_io_stat = 1u << *bit;
  return k;
}

}  // namespace sanwatch
