// SPDX-License-Identifier: Apache-2.0
#include "detect/canary.h"

#include <fcntl.h>
#include <liburing.h>
#include <sys/eventfd.h>

#include <algorithm>
#include <cstdlib>

#include "base/clock.h"

namespace sanwatch {

struct CanaryProber::Ring {
  io_uring r{};
};
namespace {

enum class Op : std::uint64_t { kOpen = 1, kRead = 2, kClose = 3 };

// user_data: op in the top byte, slot id and generation below, so a late
// completion of a removed target is recognised and dropped.
std::uint64_t pack(Op op, int id, std::uint32_t gen) {
  return (static_cast<std::uint64_t>(op) << 56) |
         (static_cast<std::uint64_t>(gen & 0xffffff) << 32) | static_cast<std::uint32_t>(id);
}

constexpr std::uint64_t kBackoffMin = 1'000'000'000ull, kBackoffMax = 60'000'000'000ull;

// Two fixed-file slots per target, used alternately: a probe's linked close
// may still be pending when the next probe's open is submitted.
constexpr unsigned kFilesPerTarget = 2;

}  // namespace

struct CanaryProber::Slot {
  CanaryTarget target;
  std::uint32_t gen = 0;
  bool active = false;  // false: removed, waiting for in-flight ops to finish
  int fd = -1;          // legacy mode: the open fd between open and read
  bool opening = false;
  bool reading = false;  // a probe is in flight (chained mode: from submission)
  bool open_failed = false;
  std::uint64_t read_start = 0;
  bool timeout_counted = false;
  std::uint64_t next_due = 0;
  std::uint64_t backoff = kBackoffMin;
  bool open_error_reported = false;
  unsigned file_flip = 0;
  void* buf = nullptr;
  std::uint32_t io_size = 0;
  CanaryStats stats;

  ~Slot() { std::free(buf); }
  bool busy() const { return opening || reading; }
};

CanaryProber::CanaryProber(Callbacks cb) : cb_(std::move(cb)), ring_(std::make_unique<Ring>()) {}

Result<std::unique_ptr<CanaryProber>> CanaryProber::create(unsigned max_targets, Callbacks cb) {
  std::unique_ptr<CanaryProber> p(new CanaryProber(std::move(cb)));
  // Room for one open, read and close per target at once, up to a point:
  // beyond it run_due submits in several rounds.
  unsigned entries = 8;
  while (entries < 3 * max_targets + 8 && entries < 1024) entries <<= 1;
  io_uring_params params{};
  params.flags = IORING_SETUP_CQSIZE;
  params.cq_entries = entries * 2;
  if (int err = io_uring_queue_init_params(entries, &p->ring_->r, &params))
    return Error{-err, "io_uring_queue_init"};
  p->ring_ok_ = true;
  p->efd_.reset(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!p->efd_.valid()) return errno_error("eventfd");
  if (int err = io_uring_register_eventfd(&p->ring_->r, p->efd_.get()))
    return Error{-err, "io_uring_register_eventfd"};
  // Linked open -> read -> close on a fixed-file slot, with only the read
  // posting a completion: one submission and one wake-up per probe. Kernels
  // before 5.17 (no CQE skipping) get the three-step legacy sequence.
  p->max_targets_ = max_targets;
  if ((params.features & IORING_FEAT_CQE_SKIP) &&
      io_uring_register_files_sparse(&p->ring_->r, kFilesPerTarget * max_targets) == 0)
    p->chained_ = true;
  return p;
}

CanaryProber::~CanaryProber() {
  for (auto& s : slots_)
    if (s && s->fd >= 0 && !s->reading) ::close(s->fd);
  // Exiting the ring waits for nothing: requests stuck in the block layer
  // are left to the kernel, which keeps the buffers it pinned.
  if (ring_ok_) io_uring_queue_exit(&ring_->r);
  // The kernel may still write into the buffer of a read in flight: such
  // slots are never freed. They are kept reachable (not just released) so
  // that a leak checker sees them as held on purpose.
  static auto* const in_flight_forever = new std::vector<std::unique_ptr<Slot>>;
  for (auto& s : slots_)
    if (s && s->reading) in_flight_forever->push_back(std::move(s));
}

Result<int> CanaryProber::add(const CanaryTarget& t) {
  int id = -1;
  for (std::size_t i = 0; i < slots_.size() && id < 0; ++i)
    if (!slots_[i]) id = static_cast<int>(i);
  if (id < 0) {
    // Beyond the fixed-file table (sized at start; it cannot grow while a
    // read may hang on it) a target probes the legacy way, with its own fd
    // for the probe: devices hot-added past it still get canaries.
    id = static_cast<int>(slots_.size());
    slots_.emplace_back();
  }
  auto s = std::make_unique<Slot>();
  s->target = t;
  s->active = true;
  s->gen = static_cast<std::uint32_t>(rng_());
  const std::uint32_t block = std::max(512u, t.logical_block);
  s->io_size = (t.settings.size + block - 1) / block * block;
  if (posix_memalign(&s->buf, 4096, s->io_size)) return Error{ENOMEM, "canary buffer"};
  s->next_due = aligned_due(monotonic_ns(), t.settings.period);
  slots_[id] = std::move(s);
  return id;
}

// Targets that share a period probe together, on multiples of it: one timer
// wake-up and one submission per period for all of them, instead of one per
// target. A 4 KiB read per path at once is nothing to an array.
std::uint64_t CanaryProber::aligned_due(std::uint64_t now, Duration period) {
  const auto p = static_cast<std::uint64_t>(std::max<std::int64_t>(period.count(), 1));
  return (now / p + 1) * p;
}

void CanaryProber::remove(int id) {
  if (id < 0 || static_cast<std::size_t>(id) >= slots_.size() || !slots_[id]) return;
  Slot& s = *slots_[id];
  s.active = false;
  if (!s.busy()) {
    if (s.fd >= 0) submit_close(s.fd);
    slots_[id].reset();
  }
}

void CanaryProber::update(int id, const CanarySettings& cs, std::uint64_t size_bytes) {
  if (id < 0 || static_cast<std::size_t>(id) >= slots_.size() || !slots_[id]) return;
  Slot& s = *slots_[id];
  if (cs.period != s.target.settings.period) s.next_due = aligned_due(monotonic_ns(), cs.period);
  s.target.settings = cs;
  s.target.size_bytes = size_bytes;
}

io_uring_sqe* CanaryProber::sqe() {
  io_uring_sqe* e = io_uring_get_sqe(&ring_->r);
  if (!e) {
    io_uring_submit(&ring_->r);
    e = io_uring_get_sqe(&ring_->r);
  }
  return e;
}

void CanaryProber::submit_open(int id, std::uint64_t) {
  Slot& s = *slots_[id];
  io_uring_sqe* e = sqe();
  if (!e) return;
  io_uring_prep_openat(e, AT_FDCWD, s.target.path.c_str(), O_RDONLY | O_DIRECT | O_CLOEXEC, 0);
  io_uring_sqe_set_data64(e, pack(Op::kOpen, id, s.gen));
  s.opening = true;
}

void CanaryProber::submit_close(int fd) {
  if (io_uring_sqe* e = sqe()) {
    io_uring_prep_close(e, fd);
    io_uring_sqe_set_data64(e, pack(Op::kClose, 0, 0));
  }
}

std::uint64_t CanaryProber::random_offset(const Slot& s) {
  const auto& cs = s.target.settings;
  const std::uint64_t block = std::max(512u, s.target.logical_block);
  const std::uint64_t end = cs.region_length
                                ? std::min(s.target.size_bytes, cs.region_offset + cs.region_length)
                                : s.target.size_bytes;
  const std::uint64_t start = cs.region_offset / block * block;
  if (end < start + s.io_size) return start;
  const std::uint64_t choices = (end - start - s.io_size) / block + 1;
  return start + (rng_() % choices) * block;
}

void CanaryProber::start_read(Slot& s, int id, std::uint64_t now) {
  s.reading = true;
  s.open_failed = false;
  s.read_start = now;
  s.timeout_counted = false;
  if (cb_.submitted) cb_.submitted(id, now);
}

void CanaryProber::submit_read(int id, std::uint64_t now) {
  Slot& s = *slots_[id];
  io_uring_sqe* e = sqe();
  if (!e) return;
  io_uring_prep_read(e, s.fd, s.buf, s.io_size, random_offset(s));
  io_uring_sqe_set_data64(e, pack(Op::kRead, id, s.gen));
  start_read(s, id, now);
}

// open -> read -> close as one chain. The read is hard-linked to the close, so
// the file is closed whatever the read returns; only failures and the read
// post completions.
void CanaryProber::submit_chain(int id, std::uint64_t now) {
  Slot& s = *slots_[id];
  if (io_uring_sq_space_left(&ring_->r) < 3) io_uring_submit(&ring_->r);
  if (io_uring_sq_space_left(&ring_->r) < 3) return;
  const unsigned file = kFilesPerTarget * static_cast<unsigned>(id) + (s.file_flip++ & 1);
  io_uring_sqe* open = io_uring_get_sqe(&ring_->r);
  // No O_CLOEXEC: a fixed file has no descriptor to inherit (EINVAL).
  io_uring_prep_openat_direct(open, AT_FDCWD, s.target.path.c_str(), O_RDONLY | O_DIRECT, 0, file);
  open->flags |= IOSQE_IO_LINK | IOSQE_CQE_SKIP_SUCCESS;
  io_uring_sqe_set_data64(open, pack(Op::kOpen, id, s.gen));
  io_uring_sqe* rd = io_uring_get_sqe(&ring_->r);
  io_uring_prep_read(rd, static_cast<int>(file), s.buf, s.io_size, random_offset(s));
  rd->flags |= IOSQE_FIXED_FILE | IOSQE_IO_HARDLINK;
  io_uring_sqe_set_data64(rd, pack(Op::kRead, id, s.gen));
  io_uring_sqe* cl = io_uring_get_sqe(&ring_->r);
  io_uring_prep_close_direct(cl, file);
  cl->flags |= IOSQE_CQE_SKIP_SUCCESS;
  io_uring_sqe_set_data64(cl, pack(Op::kClose, id, s.gen));
  start_read(s, id, now);
}

std::uint64_t CanaryProber::run_due(std::uint64_t now) {
  std::uint64_t next = now + 1'000'000'000ull;
  for (std::size_t i = 0; i < slots_.size(); ++i) {
    if (!slots_[i] || !slots_[i]->active) continue;
    Slot& s = *slots_[i];
    const auto deadline = static_cast<std::uint64_t>(s.target.settings.deadline.count());
    if (s.reading && !s.timeout_counted && now - s.read_start > deadline) {
      s.timeout_counted = true;
      ++s.stats.timeouts;
    }
    if (s.reading && !s.timeout_counted) next = std::min(next, s.read_start + deadline + 1);
    if (now >= s.next_due && !s.busy()) {
      if (chained(static_cast<int>(i)))
        submit_chain(static_cast<int>(i), now);
      else
        submit_open(static_cast<int>(i), now);  // the read follows the open's completion
      s.next_due = aligned_due(now, s.target.settings.period);
    }
    next = std::min(next, s.next_due);
  }
  io_uring_submit(&ring_->r);
  return next;
}

void CanaryProber::reap() {
  std::uint64_t n;
  while (read(efd_.get(), &n, sizeof(n)) > 0) {
  }
  io_uring_cqe* cqe;
  while (io_uring_peek_cqe(&ring_->r, &cqe) == 0) {
    const std::uint64_t data = io_uring_cqe_get_data64(cqe);
    const int res = cqe->res;
    io_uring_cqe_seen(&ring_->r, cqe);
    complete(data, res);
  }
  io_uring_submit(&ring_->r);
}

void CanaryProber::complete(std::uint64_t data, int res) {
  const Op op = static_cast<Op>(data >> 56);
  const int id = static_cast<int>(data & 0xffffffff);
  const std::uint32_t gen = static_cast<std::uint32_t>((data >> 32) & 0xffffff);
  if (op == Op::kClose || id < 0 || static_cast<std::size_t>(id) >= slots_.size()) return;
  if (!slots_[id] || (slots_[id]->gen & 0xffffff) != gen) return;
  Slot& s = *slots_[id];
  const std::uint64_t now = monotonic_ns();
  if (op == Op::kOpen)
    open_done(s, id, res, now);
  else if (op == Op::kRead)
    read_done(s, id, res, now);
  if (!s.active && !s.busy()) {
    if (s.fd >= 0) submit_close(s.fd);
    slots_[id].reset();
  }
}

void CanaryProber::open_done(Slot& s, int id, int res, std::uint64_t now) {
  s.opening = false;
  if (res >= 0) {  // legacy mode only: chained opens post nothing on success
    s.fd = res;
    submit_read(id, now);  // read_done ends the failure streak, in both modes
    return;
  }
  // Chained mode: the read went in with the open and was cancelled. A failed
  // request with CQE_SKIP_SUCCESS also skips its cancelled links' completions
  // (REQ_F_SKIP_LINK_CQES), so no read completion follows; should one come
  // anyway, open_failed makes read_done drop it.
  s.open_failed = true;
  if (chained(id)) {
    s.reading = false;
    if (cb_.abandoned) cb_.abandoned(id);
  }
  if (!s.open_error_reported && cb_.open_failed) cb_.open_failed(id, -res);
  s.open_error_reported = true;
  s.next_due = now + s.backoff;
  s.backoff = std::min(s.backoff * 2, kBackoffMax);
}

void CanaryProber::read_done(Slot& s, int id, int res, std::uint64_t now) {
  if (s.open_failed && res == -ECANCELED) return;  // behind a failed open
  s.reading = false;
  s.backoff = kBackoffMin;
  s.open_error_reported = false;
  const std::uint64_t lat = now - s.read_start;
  const int err = res < 0 ? -res : (static_cast<std::uint32_t>(res) < s.io_size ? EIO : 0);
  ++s.stats.reads;
  if (err) {
    ++s.stats.errors;
  } else {
    s.stats.latency.record(lat);
    s.stats.latency_ns_sum += lat;
  }
  if (!s.timeout_counted && lat > static_cast<std::uint64_t>(s.target.settings.deadline.count()))
    ++s.stats.timeouts;
  if (s.active && cb_.done) cb_.done(id, now, lat, err);
  // Legacy mode closes after every read: a monitor must not hold devices open
  // (an open fd keeps a detached loop bound and makes `dmsetup remove` fail).
  if (s.fd >= 0) submit_close(s.fd);
  s.fd = -1;
}

const CanaryStats* CanaryProber::stats(int id) const {
  if (id < 0 || static_cast<std::size_t>(id) >= slots_.size() || !slots_[id]) return nullptr;
  return &slots_[id]->stats;
}

bool CanaryProber::outstanding(int id) const {
  return id >= 0 && static_cast<std::size_t>(id) < slots_.size() && slots_[id] &&
         slots_[id]->reading;
}

std::optional<std::uint64_t> CanaryProber::outstanding_since(int id) const {
  if (!outstanding(id)) return std::nullopt;
  return slots_[id]->read_start;
}

}  // namespace sanwatch
