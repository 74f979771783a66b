// SPDX-License-Identifier: Apache-2.0
#include "kernel/inflight_seeder.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "base/clock.h"
#include "iolat.h"
#include "kernel/libbpf_log.h"
#include "kernel/preexisting.h"
// The skeleton names the .bss struct at global scope: the shared type is it.
using sanwatch::bpf::sw_seed_ctl;
#include "base/unique_fd.h"
#include "seed.skel.h"

namespace sanwatch {

namespace {

struct SkelDeleter {
  void operator()(seed_bpf* s) const { seed_bpf__destroy(s); }
};

const char* status_text(std::uint32_t status) {
  switch (status) {
    case bpf::SW_SEED_PENDING:
      return "the seeding program did not see the device's sysfs directory";
    case bpf::SW_SEED_NOT_MQ:
      return "bio-based queue: no tag tables to walk";
    case bpf::SW_SEED_UNSUPPORTED:
      return "kernel layout not supported by the walker (before 5.11)";
    case bpf::SW_SEED_NO_DEVICE:
      return "the sysfs directory is not the watched disk's";
    default:
      return "unknown walker status";
  }
}

}  // namespace

std::optional<std::string> read_small_file(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return std::nullopt;
  char buf[512];
  const ssize_t n = ::read(fd.get(), buf, sizeof(buf));
  if (n < 0) return std::nullopt;
  return std::string(buf, static_cast<std::size_t>(n));
}

struct LinkDeleter {
  void operator()(bpf_link* l) const { bpf_link__destroy(l); }
};

struct InflightSeeder::Impl {
  std::unique_ptr<seed_bpf, SkelDeleter> skel;
  std::unique_ptr<bpf_link, LinkDeleter> link;

  // One program run over the agent's files: holds the disk's sysfs
  // directory open, arms the request, runs the iterator in this thread and
  // returns the control block as the program left it.
  sw_seed_ctl run(sw_seed_ctl req, const std::string& dir) {
    UniqueFd d(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!d.valid()) {
      req.status = bpf::SW_SEED_PENDING;
      return req;
    }
    req.fd = static_cast<std::uint32_t>(d.get());
    req.armed = 1;
    auto* ctl = &skel->bss->seed_ctl;
    std::memcpy(ctl, &req, sizeof(req));
    UniqueFd it(bpf_iter_create(bpf_link__fd(link.get())));
    if (it.valid()) {
      char buf[64];
      while (::read(it.get(), buf, sizeof(buf)) > 0) {
      }
    }
    sw_seed_ctl out;
    std::memcpy(&out, ctl, sizeof(out));
    ctl->armed = 0;
    return out;
  }
};

Result<std::unique_ptr<InflightSeeder>> InflightSeeder::open(const Maps& maps,
                                                             std::uint32_t rqf_io_stat,
                                                             const LibbpfLog& log) {
  std::unique_ptr<seed_bpf, SkelDeleter> s(seed_bpf__open());
  if (!s) return errno_error("opening the seeding program");
  s->rodata->agent_tgid = static_cast<std::uint32_t>(getpid());
  s->rodata->rqf_io_stat = rqf_io_stat;
  int err = bpf_map__reuse_fd(s->maps.devices, maps.devices_fd);
  err = err ?: bpf_map__reuse_fd(s->maps.inflight, maps.inflight_fd);
  err = err ?: bpf_map__set_max_entries(s->maps.shadow, std::max(1u, maps.inflight_slots));
  if (err) return Error{-err, "sharing the engine's maps with the seeding program"};
  if ((err = seed_bpf__load(s.get())))
    return Error{-err, "loading the seeding program (" + log.last_line() + ")"};
  // Only this process's files (6.1+); older kernels iterate every task's,
  // which the program filters.
  union bpf_iter_link_info info = {};
  info.task.pid = static_cast<std::uint32_t>(getpid());
  DECLARE_LIBBPF_OPTS(bpf_iter_attach_opts, opts, .link_info = &info,
                      .link_info_len = sizeof(info));
  bpf_link* link = bpf_program__attach_iter(s->progs.sw_seed, &opts);
  if (!link) link = bpf_program__attach_iter(s->progs.sw_seed, nullptr);
  if (!link) return errno_error("attaching the seeding iterator (" + log.last_line() + ")");
  auto impl = std::make_unique<Impl>();
  impl->skel = std::move(s);
  impl->link.reset(link);
  return std::unique_ptr<InflightSeeder>(new InflightSeeder(std::move(impl)));
}

InflightSeeder::InflightSeeder(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
InflightSeeder::~InflightSeeder() = default;

SeedReport InflightSeeder::seed(const std::string& dir, std::uint32_t dev, int widx) {
  SeedReport r;
  const std::uint64_t t0 = monotonic_ns();
  if (auto text = read_small_file(dir + "/inflight")) r.kernel_inflight = parse_inflight(*text);
  sw_seed_ctl req{};
  req.mode = bpf::SW_SEED_WALK;
  req.dev = dev;
  req.widx = static_cast<std::uint32_t>(widx);
  // 16 hardware queues per call (HCTX_PER_CALL): the program runs with
  // preemption off, so a 64-queue NVMe controller is walked in 4 calls.
  for (std::uint32_t first = 0;; first += 16) {
    req.hctx_first = first;
    req.hctx_count = 16;
    const sw_seed_ctl c = impl_->run(req, dir);
    if (c.status != bpf::SW_SEED_DONE) {
      r.why_not = status_text(c.status);
      break;
    }
    r.walked = true;
    r.found += c.found;
    r.seeded += c.seeded;
    r.untimed += c.untimed;
    r.raced += c.raced;
    r.scanned += c.scanned;
    r.bpf_ns += c.walk_ns;
    r.nr_hw_queues = c.nr_hw_queues;
    if (c.oldest_ns && (!r.oldest_ns || c.oldest_ns < r.oldest_ns)) r.oldest_ns = c.oldest_ns;
    if (first + 16 >= c.nr_hw_queues) break;
  }
  r.elapsed_ns = monotonic_ns() - t0;
  return r;
}

Result<unsigned> InflightSeeder::verify(const std::string& dir, std::uint32_t dev, int widx) {
  sw_seed_ctl req{};
  req.mode = bpf::SW_SEED_VERIFY;
  req.dev = dev;
  req.widx = static_cast<std::uint32_t>(widx);
  const sw_seed_ctl c = impl_->run(req, dir);
  if (c.status != bpf::SW_SEED_DONE) return Error{0, status_text(c.status)};
  return c.remaining;
}

}  // namespace sanwatch
