// SPDX-License-Identifier: Apache-2.0
#include "kernel/bpf_engine.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdarg>
#include <cstdio>
#include <map>

#include "base/clock.h"
#include "kernel/btf_probe.h"
#include "kernel/iolat_setup.h"
#include "kernel/libbpf_log.h"
#include "kernel/preexisting.h"
#include "kernel/slot_allocator.h"
#include "kernel/stats_fold.h"

namespace sanwatch {

using namespace bpf;  // the shared ABI names (SW_*)

namespace {

struct RingDeleter {
  void operator()(ring_buffer* r) const { ring_buffer__free(r); }
};

// Shared mapping of the BPF_F_MMAPABLE in-flight slot array.
class MappedSlots {
 public:
  MappedSlots() = default;
  MappedSlots(void* p, std::size_t len) : p_(p), len_(len) {}
  MappedSlots(MappedSlots&& o) noexcept : p_(std::exchange(o.p_, nullptr)), len_(o.len_) {}
  MappedSlots& operator=(MappedSlots&& o) noexcept {
    std::swap(p_, o.p_);
    std::swap(len_, o.len_);
    return *this;
  }
  ~MappedSlots() {
    if (p_) munmap(p_, len_);
  }
  bpf::sw_inflight* slots() const { return static_cast<bpf::sw_inflight*>(p_); }

 private:
  void* p_ = nullptr;
  std::size_t len_ = 0;
};

const char* const kProgNames[] = {"sw_insert", "sw_issue", "sw_requeue", "sw_complete"};

Error load_error(int err, const std::string& what, const LibbpfLog& log) {
  // EACCES is the verifier's refusal; only EPERM means missing privileges.
  if (err == EPERM)
    return Error{err, what +
                          ": permission denied (run as root, or grant CAP_BPF and "
                          "CAP_PERFMON)"};
  std::string ctx = what;
  if (auto hint = log.last_line(); !hint.empty()) ctx += " (" + hint + "; -v shows libbpf's log)";
  return Error{err, ctx};
}

Error not_watched(int slot) {
  return Error{EINVAL, "no watched device in slot " + std::to_string(slot)};
}

}  // namespace

struct BpfEngine::Impl {
  SkelPtr skel;
  bool raw = false;
  int ncpus = 1;
  unsigned shards = 1;  // statistics entries per (slot, op)
  unsigned max_watch = 0;
  SloThresholds slo_ns{};  // copied into every DeviceStats
  MappedSlots inflight;
  SlotAllocator slots;
  std::vector<std::optional<bpf::sw_dev_cfg>> devices;  // by watch slot
  std::vector<std::unique_ptr<DeviceStats>> totals;     // by watch slot, while watched
  std::vector<bpf::sw_io_stats> stats_buf;              // read buffers, reused
  std::vector<bpf::sw_io_max> max_buf;
  bool batch_ok = true;  // kernel has BPF_MAP_LOOKUP_BATCH
  std::unique_ptr<ring_buffer, RingDeleter> ring;
  EventFn on_event;
  // Pre-existing I/O (seeding).
  std::unique_ptr<InflightSeeder> seeder;
  std::string seeder_error;  // why there is none
  std::string sysfs_root;
  struct Outstanding {
    std::string dir;     // /sys/block/<name>
    unsigned seeds = 0;  // seeded requests not yet seen to end
    PreexistingIo pre;   // fallback: counted, not found
  };
  std::vector<Outstanding> outstanding;  // by watch slot

  unsigned inflight_capacity = 0;

  explicit Impl(unsigned inflight_slots)
      : slots(inflight_slots), inflight_capacity(inflight_slots) {}
  int map_fd(bpf_map* m) const { return bpf_map__fd(m); }
  void bump_generation() {
    std::atomic_ref<__u32>(skel->data->watch_gen).fetch_add(1, std::memory_order_release);
  }
  bool watched(int slot) const;
  Status write_cfg(int slot, const bpf::sw_dev_cfg& cfg);
  // Statistics entries of a slot: its ops' shards, consecutive keys.
  __u32 entries_per_slot() const { return SW_NR_OPS * shards; }
  __u32 first_key(int slot) const { return static_cast<__u32>(slot) * entries_per_slot(); }
  Status zero_entries(bpf_map* map, int slot, const char* what);
  Status read_entries(__u32 first, __u32 count);
  std::string sysfs(const std::string& dir, const char* file) const { return dir + "/" + file; }
  void fold(int slot, __u32 first);
};

namespace {

Result<SkelPtr> open_and_load(const BpfEngine::Options& o, const SloThresholds& slo,
                              const KernelLayout& k, bool raw, unsigned cpus,
                              const LibbpfLog& log) {
  SkelPtr s(iolat_bpf__open());
  if (!s) return load_error(errno, "opening BPF object", log);
  if (auto st = configure_iolat(s.get(), o, slo, k, raw, cpus); !st) return st.error();
  if (int err = iolat_bpf__load(s.get()))
    return load_error(
        -err, std::string("loading BPF programs (") + (raw ? "raw_tp" : "tp_btf") + ")", log);
  if (int err = iolat_bpf__attach(s.get())) return load_error(-err, "attaching tracepoints", log);
  return s;
}

int on_ring_event(void* ctx, void* data, std::size_t size) {
  auto* impl = static_cast<BpfEngine::Impl*>(ctx);
  if (size < sizeof(IoEvent) || !impl->on_event) return 0;
  IoEvent ev;
  std::memcpy(&ev, data, sizeof(ev));
  impl->on_event(ev);
  return 0;
}

}  // namespace

Result<std::unique_ptr<BpfEngine>> BpfEngine::open(const Options& opts) {
  auto slo = make_slo_thresholds(opts.latency_slos_ns);
  if (!slo) return slo.error();
  auto layout = probe_kernel_layout();
  if (!layout) return layout.error();
  LibbpfLog log(opts.verbose);
  auto impl = std::make_unique<Impl>(opts.inflight_slots);
  impl->ncpus = std::max(libbpf_num_possible_cpus(), 1);
  impl->shards = stat_shards(static_cast<unsigned>(impl->ncpus));
  auto skel = opts.force_raw_tp ? Result<SkelPtr>(Error{0, "raw_tp forced"})
                                : open_and_load(opts, *slo, *layout, false,
                                                static_cast<unsigned>(impl->ncpus), log);
  impl->raw = !skel.ok();
  if (!skel.ok()) {
    if (skel.error().err == EPERM) return skel.error();
    // tp_btf needs BTF-typed attach; older setups still offer raw tracepoints.
    skel = open_and_load(opts, *slo, *layout, true, static_cast<unsigned>(impl->ncpus), log);
    if (!skel) return skel.error();
  }
  impl->skel = std::move(skel).value();
  impl->max_watch = opts.max_watch;
  impl->slo_ns = *slo;
  impl->devices.resize(opts.max_watch);
  impl->totals.resize(opts.max_watch);
  const std::size_t len = sizeof(bpf::sw_inflight) * opts.inflight_slots;
  void* p = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_SHARED,
                 bpf_map__fd(impl->skel->maps.inflight), 0);
  if (p == MAP_FAILED) return errno_error("mapping the in-flight slot array");
  impl->inflight = MappedSlots(p, len);
  impl->sysfs_root = opts.sysfs_root;
  impl->outstanding.resize(opts.max_watch);
  if (opts.no_seed) {
    impl->seeder_error = "seeding disabled";
  } else {
    InflightSeeder::Maps maps{bpf_map__fd(impl->skel->maps.devices),
                              bpf_map__fd(impl->skel->maps.inflight), opts.inflight_slots};
    auto seeder = InflightSeeder::open(maps, layout->rqf_io_stat, log);
    if (seeder)
      impl->seeder = std::move(seeder).value();
    else
      impl->seeder_error = seeder.error().message();
  }
  impl->ring.reset(
      ring_buffer__new(bpf_map__fd(impl->skel->maps.events), on_ring_event, impl.get(), nullptr));
  if (!impl->ring) return errno_error("creating the ring buffer reader");
  return std::unique_ptr<BpfEngine>(new BpfEngine(std::move(impl)));
}

BpfEngine::BpfEngine(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
BpfEngine::~BpfEngine() = default;

std::string BpfEngine::attach_mode() const { return impl_->raw ? "raw_tp" : "tp_btf"; }

Status BpfEngine::Impl::write_cfg(int slot, const bpf::sw_dev_cfg& cfg) {
  const __u32 key = static_cast<__u32>(slot);
  if (bpf_map_update_elem(map_fd(skel->maps.devices), &key, &cfg, BPF_ANY))
    return errno_error("updating device slot " + std::to_string(slot));
  return {};
}

Result<int> BpfEngine::watch(const TracedDevice& dev, std::uint64_t slow_ns, bool partial_ok) {
  auto& im = *impl_;
  int slot = -1;
  for (unsigned i = 0; i < im.max_watch; ++i) {
    if (im.devices[i] && im.devices[i]->dev == dev.kernel_dev)
      return Error{EEXIST, dev.name + " is already watched"};
    if (!im.devices[i] && slot < 0) slot = static_cast<int>(i);
  }
  if (slot < 0)
    return Error{ENOSPC, "cannot watch " + dev.name + ": all " + std::to_string(im.max_watch) +
                             " device slots in use"};
  bpf::sw_dev_cfg cfg{};
  cfg.dev = dev.kernel_dev;
  cfg.slow_ns = slow_ns;
  if (!dev.histograms) cfg.flags |= SW_DEV_NO_HIST;
  // A device that needs more tag slots than are free is still watched when
  // partial_ok; the programs count its out-of-range tags as untracked.
  auto range = im.slots.allocate(dev.nr_hw_queues, dev.tags_per_queue);
  if (!partial_ok && dev.tags_per_queue && range.queues < dev.nr_hw_queues) {
    im.slots.release(range.base);
    return Error{ENOBUFS, "cannot watch " + dev.name + ": " +
                              std::to_string(dev.nr_hw_queues * dev.tags_per_queue) +
                              " in-flight slots needed, " + std::to_string(im.slots.free_slots()) +
                              " free"};
  }
  cfg.slot_base = range.base;
  cfg.nr_hctx = range.queues;
  cfg.slots_per_hctx = range.per_queue;
  for (__u32 i = 0; i < range.queues * range.per_queue; ++i)
    im.inflight.slots()[range.base + i] = {};
  if (auto st = im.write_cfg(slot, cfg); !st) {
    im.slots.release(range.base);
    return st.error();
  }
  const __u32 key = cfg.dev, val = static_cast<__u32>(slot);
  if (bpf_map_update_elem(im.map_fd(im.skel->maps.watch_idx), &key, &val, BPF_ANY)) {
    im.slots.release(range.base);
    return errno_error("registering " + dev.name + " (watch map full?)");
  }
  im.devices[slot] = cfg;
  im.totals[slot] = std::make_unique<DeviceStats>();
  im.totals[slot]->slo_ns = im.slo_ns;
  const std::string root = im.sysfs_root == "/" ? "" : im.sysfs_root;
  im.outstanding[slot] = {root + "/sys/block/" + dev.name, 0, {}};
  im.bump_generation();
  return slot;
}

// Zeroes `slot`'s entries (every op and shard) in `map` (stats or maxima).
// Tries them all; the first failure is returned.
Status BpfEngine::Impl::zero_entries(bpf_map* map, int slot, const char* what) {
  std::vector<char> zero(bpf_map__value_size(map));
  Status first;
  for (__u32 k = first_key(slot); k < first_key(slot) + entries_per_slot(); ++k) {
    if (bpf_map_update_elem(map_fd(map), &k, zero.data(), BPF_ANY) && first)
      first = errno_error("zeroing BPF " + std::string(what) + " entry " + std::to_string(k) +
                          " (slot " + std::to_string(slot) + ")");
  }
  return first;
}

bool BpfEngine::Impl::watched(int slot) const {
  return slot >= 0 && static_cast<unsigned>(slot) < max_watch && devices[slot];
}

Status BpfEngine::unwatch(int slot) {
  auto& im = *impl_;
  if (!im.watched(slot)) return not_watched(slot);
  // Every step runs even when one fails: the slot is free afterwards either
  // way, and the first failure is what the caller hears about.
  Status st;
  const __u32 key = im.devices[slot]->dev;
  if (bpf_map_delete_elem(im.map_fd(im.skel->maps.watch_idx), &key))
    st = errno_error("unregistering device slot " + std::to_string(slot) + " from the watch map");
  im.bump_generation();
  im.slots.release(im.devices[slot]->slot_base);
  // Zero the slot's counters so a later device in it starts clean.
  auto zs = im.zero_entries(im.skel->maps.stats, slot, "statistics");
  auto zm = im.zero_entries(im.skel->maps.maxima, slot, "maxima");
  for (const Status* z : {&zs, &zm})
    if (st && !*z) st = *z;
  im.devices[slot].reset();
  im.totals[slot].reset();
  im.outstanding[slot] = {};
  return st;
}

Status BpfEngine::configure(int slot, std::uint64_t slow_ns, bool histograms) {
  auto& im = *impl_;
  if (!im.watched(slot)) return not_watched(slot);
  // Keep flags the programs set themselves (SW_DEV_ISSUE_CLOCK).
  const __u32 key = static_cast<__u32>(slot);
  bpf::sw_dev_cfg cur{};
  if (bpf_map_lookup_elem(im.map_fd(im.skel->maps.devices), &key, &cur) == 0)
    im.devices[slot]->flags = cur.flags;
  auto& cfg = *im.devices[slot];
  cfg.slow_ns = slow_ns;
  cfg.flags = histograms ? cfg.flags & ~SW_DEV_NO_HIST : cfg.flags | SW_DEV_NO_HIST;
  return im.write_cfg(slot, cfg);
}

// Reads `count` consecutive (slot, op) entries of the stats and maxima maps,
// from key `first`, into stats_buf/max_buf.
Status BpfEngine::Impl::read_entries(__u32 first, __u32 count) {
  stats_buf.resize(count);
  max_buf.resize(count);
  const std::pair<bpf_map*, void*> maps[] = {{skel->maps.stats, stats_buf.data()},
                                             {skel->maps.maxima, max_buf.data()}};
  for (auto [map, buf] : maps) {
    const std::size_t value = bpf_map__value_size(map);
    if (batch_ok && count > 1) {
      std::vector<__u32> keys(count);
      // in_batch is the key *before* the first one wanted; none = from 0.
      __u32 in = first - 1, out = 0, n = count;
      DECLARE_LIBBPF_OPTS(bpf_map_batch_opts, opts);
      const int err = bpf_map_lookup_batch(map_fd(map), first ? &in : nullptr, &out, keys.data(),
                                           buf, &n, &opts);
      if (err == 0 || (errno == ENOENT && n == count)) continue;
      batch_ok = false;  // old kernel (< 5.6): one by one from now on
    }
    for (__u32 i = 0; i < count; ++i) {
      const __u32 key = first + i;
      if (bpf_map_lookup_elem(map_fd(map), &key, static_cast<char*>(buf) + i * value))
        return errno_error("reading BPF statistics entry " + std::to_string(key));
    }
  }
  return {};
}

// Folds the entries of `slot` (starting at index `first` of the buffers).
void BpfEngine::Impl::fold(int slot, __u32 first) {
  if (!totals[slot]) return;
  for (int op = 0; op < kNrOps; ++op) {
    const std::size_t at = first + static_cast<std::size_t>(op) * shards;
    fold_shards(totals[slot]->ops[op], {stats_buf.data() + at, shards},
                {max_buf.data() + at, shards});
  }
}

Result<DeviceStats> BpfEngine::read_stats(int slot) {
  auto& im = *impl_;
  if (!im.watched(slot)) return not_watched(slot);
  if (auto st = im.read_entries(im.first_key(slot), im.entries_per_slot()); !st)
    return Error{st.error().err, st.error().context + " (slot " + std::to_string(slot) + ")"};
  im.fold(slot, 0);
  return *im.totals[slot];
}

Status BpfEngine::refresh() {
  auto& im = *impl_;
  int last = -1;
  for (unsigned i = 0; i < im.max_watch; ++i)
    if (im.totals[i]) last = static_cast<int>(i);
  // Slots are handed out lowest first, so ranges of consecutive slots cover
  // them all; a range's values fill at most ~128 KiB of buffer.
  const std::size_t slot_bytes = sizeof(bpf::sw_io_stats) * im.entries_per_slot();
  const int chunk = static_cast<int>(std::max<std::size_t>(1, (128u << 10) / slot_bytes));
  for (int first = 0; first <= last; first += chunk) {
    const int n = std::min(chunk, last + 1 - first);
    const __u32 per_slot = im.entries_per_slot();
    if (auto st = im.read_entries(im.first_key(first), static_cast<__u32>(n) * per_slot); !st)
      return st;
    for (int i = 0; i < n; ++i) im.fold(first + i, static_cast<__u32>(i) * per_slot);
  }
  return {};
}

const DeviceStats* BpfEngine::stats(int slot) const {
  if (slot < 0 || static_cast<unsigned>(slot) >= impl_->max_watch) return nullptr;
  return impl_->totals[slot].get();
}

Status BpfEngine::reset_maxima(int slot) {
  auto& im = *impl_;
  if (!im.watched(slot)) return not_watched(slot);
  return im.zero_entries(im.skel->maps.maxima, slot, "maxima");
}

std::optional<BpfEngine::Oldest> BpfEngine::oldest(int slot) const {
  auto& im = *impl_;
  if (!im.watched(slot)) return std::nullopt;
  const auto& cfg = *im.devices[slot];
  const bpf::sw_inflight* s = im.inflight.slots() + cfg.slot_base;
  std::uint64_t oldest = 0;
  for (__u32 i = 0; i < cfg.nr_hctx * cfg.slots_per_hctx; ++i) {
    // The programs write these words concurrently; a relaxed atomic load
    // reads a whole value, never a torn one.
    const std::uint64_t t =
        std::atomic_ref<const std::uint64_t>(s[i].start_ns).load(std::memory_order_relaxed);
    if (t && (!oldest || t < oldest)) oldest = t;
  }
  Oldest o{oldest, false, 0};
  const PreexistingIo& pre = im.outstanding[slot].pre;
  if (pre.count()) {
    o.preexisting = pre.count();
    if (!oldest || pre.since_ns() < oldest) o = {pre.since_ns(), true, pre.count()};
  }
  if (!o.start_ns) return std::nullopt;
  return o;
}

std::optional<std::uint64_t> BpfEngine::oldest_outstanding_ns(int slot) const {
  auto o = oldest(slot);
  if (!o) return std::nullopt;
  return o->start_ns;
}

SeedReport BpfEngine::seed(int slot) {
  auto& im = *impl_;
  SeedReport r;
  if (!im.watched(slot)) {
    r.why_not = not_watched(slot).context;
    return r;
  }
  auto& x = im.outstanding[slot];
  if (im.seeder) {
    r = im.seeder->seed(x.dir, im.devices[slot]->dev, slot);
  } else {
    r.why_not = im.seeder_error;
    if (auto text = read_small_file(im.sysfs(x.dir, "inflight")))
      r.kernel_inflight = parse_inflight(*text);
  }
  x.seeds = r.seeded;
  // Found nothing to walk: what the kernel counts is all there is to know.
  if (!r.walked && r.kernel_inflight && *r.kernel_inflight) {
    auto stat = read_small_file(im.sysfs(x.dir, "stat"));
    x.pre.begin(*r.kernel_inflight, monotonic_ns(), stat ? parse_io_ticks_ms(*stat) : std::nullopt);
  }
  return r;
}

void BpfEngine::recheck_outstanding() {
  auto& im = *impl_;
  for (unsigned slot = 0; slot < im.max_watch; ++slot) {
    if (!im.devices[slot]) continue;
    auto& x = im.outstanding[slot];
    if (x.seeds && im.seeder) {
      auto left = im.seeder->verify(x.dir, im.devices[slot]->dev, static_cast<int>(slot));
      x.seeds = left ? *left : 0;
    }
    if (x.pre.count()) {
      auto inflight = read_small_file(im.sysfs(x.dir, "inflight"));
      auto stat = read_small_file(im.sysfs(x.dir, "stat"));
      x.pre.update(inflight ? parse_inflight(*inflight) : std::nullopt, monotonic_ns(),
                   stat ? parse_io_ticks_ms(*stat) : std::nullopt);
    }
  }
}

bool BpfEngine::audit(int slot) {
  auto& im = *impl_;
  if (!im.seeder || slot < 0 || static_cast<unsigned>(slot) >= im.max_watch || !im.devices[slot])
    return false;
  auto& x = im.outstanding[slot];
  auto left = im.seeder->verify(x.dir, im.devices[slot]->dev, slot);
  if (!left) return false;
  x.seeds = *left;
  return true;
}

const std::string& BpfEngine::seeding_unavailable() const { return impl_->seeder_error; }

EngineCounters BpfEngine::counters() const {
  auto& im = *impl_;
  std::vector<__u64> v(im.ncpus);
  std::array<std::uint64_t, SW_NR_COUNTERS> sum{};
  for (__u32 k = 0; k < SW_NR_COUNTERS; ++k) {
    if (bpf_map_lookup_elem(im.map_fd(im.skel->maps.counters), &k, v.data())) continue;
    for (auto x : v) sum[k] += x;
  }
  return EngineCounters{sum[SW_CTR_RB_DROPS], sum[SW_CTR_UNTRACKED], sum[SW_CTR_DUP_COMPLETE],
                        sum[SW_CTR_UNSEEN_COMPLETE], sum[SW_CTR_QCACHE_MISS]};
}

SlotUsage BpfEngine::slot_usage() const {
  const auto& im = *impl_;
  SlotUsage u;
  u.device_capacity = im.max_watch;
  u.device_used = static_cast<unsigned>(std::count_if(im.devices.begin(), im.devices.end(),
                                                      [](const auto& d) { return d.has_value(); }));
  u.inflight_capacity = im.inflight_capacity;
  u.inflight_used = im.inflight_capacity - im.slots.free_slots();
  return u;
}

std::vector<ProgramStats> BpfEngine::program_stats() const {
  std::vector<ProgramStats> out;
  auto progs = programs(impl_->skel.get(), impl_->raw);
  for (std::size_t i = 0; i < progs.size(); ++i) {
    bpf_prog_info info{};
    __u32 len = sizeof(info);
    if (bpf_obj_get_info_by_fd(bpf_program__fd(progs[i]), &info, &len)) continue;
    out.push_back({kProgNames[i], info.run_time_ns, info.run_cnt});
  }
  return out;
}

int BpfEngine::event_fd() const { return ring_buffer__epoll_fd(impl_->ring.get()); }

void BpfEngine::set_event_handler(EventFn fn) { impl_->on_event = std::move(fn); }

int BpfEngine::drain_events() { return ring_buffer__consume(impl_->ring.get()); }

}  // namespace sanwatch
