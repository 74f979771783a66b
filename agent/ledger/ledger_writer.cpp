// SPDX-License-Identifier: Apache-2.0
#include "ledger/ledger_writer.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <pthread.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>

#include "base/clock.h"
#include "ledger/compaction.h"
#include "ledger/latency_hours.h"
#include "ledger/ledger_store.h"

namespace sanwatch {
namespace {

using namespace std::chrono_literals;
constexpr auto kReopenEvery = 4s;  // at most, between attempts to open
constexpr auto kCloseAfter = 3s;   // of failed commits: reopen the file
constexpr auto kRetryEvery = 1s;
constexpr auto kProbeEvery = 1s;  // an idle writer's look at its filesystem
constexpr auto kMaintainEvery = std::chrono::hours(24);

// The newest coverage row says whether the run before ours ended cleanly:
// a start without its stop is an agent killed or a host that went down.
// Its end is the last row it wrote; the time after that is unmeasured.
Result<std::optional<LedgerRow>> unclean_end(LedgerStore& store, const std::string& my_run) {
  auto st = store.db().prepare(
      "SELECT ts_ms, json_extract(body, '$.run_id'), kind FROM entries WHERE chain = 'events' "
      "AND kind IN ('start', 'stop', 'unclean_end') ORDER BY seq DESC LIMIT 1");
  if (!st) return st.error();
  auto row = st->step();
  if (!row) return row.error();
  if (!*row || st->text(2) != "start" || st->text(1) == my_run) return std::optional<LedgerRow>();
  const std::string run = st->text(1);
  const std::int64_t started = st->int64(0);
  auto last = store.db().prepare(
      "SELECT MAX(ts_ms) FROM (SELECT ts_ms FROM entries WHERE chain = 'minutes' AND kind = "
      "'alive' AND json_extract(body, '$.run_id') = ?1 AND ts_ms >= ?2 UNION ALL SELECT ts_ms "
      "FROM entries WHERE chain = 'events' AND kind = 'state' AND json_extract(body, "
      "'$.run_id') = ?1 AND ts_ms >= ?2)");
  if (!last) return last.error();
  last->bind(1, run).bind(2, started);
  if (auto r = last->step(); !r) return r.error();
  const std::int64_t seen = last->is_null(0) ? started : std::max(started, last->int64(0));
  return std::optional(LedgerRow{kChainEvents,
                                 0,
                                 "unclean_end",
                                 seen,
                                 "",
                                 {{"run_id", run},
                                  {"started_ms", started},
                                  {"last_seen_ms", seen},
                                  {"found_by_run", my_run},
                                  {"found_ms", wall_ms()}}});
}

}  // namespace

LedgerWriter::LedgerWriter(LedgerWriterOptions opts, EventLog& log)
    : shared_(std::make_shared<Shared>(std::move(opts), log)) {
  thread_ = std::thread(run, shared_);
  pthread_setname_np(thread_.native_handle(), "sanwatch-ledger");
}

LedgerWriter::~LedgerWriter() { stop(std::chrono::milliseconds(2000)); }

bool LedgerWriter::push(LedgerRow row) {
  Shared& s = *shared_;
  bool accepted = false, started = false;
  std::uint64_t ended = 0;  // rows of the drop episode this push ends
  {
    std::lock_guard lk(s.mu);
    // Rows the writer holds count too: a disk that fails every commit must
    // not grow the writer's memory without bound.
    accepted = s.queue.size() + s.in_writer < s.opts.queue_rows;
    if (!accepted) {
      ++s.counters.dropped;
      started = s.gap.empty();
      s.gap.add(row, wall_ms());
    } else {
      if (!s.gap.empty()) {
        // The bound is exceeded by this one row: the gap must be on record.
        ended = s.gap.rows;
        s.queue.push_back(s.gap.row(s.opts.run_id));
        s.gap = {};
      }
      s.queue.push_back(std::move(row));
    }
    s.counters.queued = s.queue.size() + s.in_writer;
  }
  // One line per episode, at its start and at its end.
  if (started)
    s.log.error("ledger queue full: rows are being dropped (the ledger's disk is not keeping up)",
                {{"ledger", s.opts.path}, {"queue", s.opts.queue_rows}});
  if (!accepted) return false;
  s.cv.notify_one();
  if (ended)
    s.log.warn(fmt::format("ledger queue accepting rows again; {} rows were dropped", ended),
               {{"ledger", s.opts.path}, {"dropped", ended}});
  return true;
}

BaselineInbox LedgerWriter::take_baseline() {
  std::lock_guard lk(shared_->mu);
  return std::exchange(shared_->baseline, {});
}

void LedgerWriter::stop(std::chrono::milliseconds grace) {
  if (!thread_.joinable()) return;
  Shared& s = *shared_;
  std::unique_lock lk(s.mu);
  if (!s.gap.empty()) {  // still dropping: the stop row itself may be among them
    s.queue.push_back(s.gap.row(s.opts.run_id));
    s.gap = {};
  }
  s.stopping = true;
  s.cv.notify_all();
  const bool done = s.done_cv.wait_for(lk, grace, [&] { return s.done; });
  const std::size_t left = s.queue.size();
  lk.unlock();
  if (done) {
    thread_.join();
    return;
  }
  s.log.error(fmt::format("ledger writer did not finish within {} ms (its disk is stuck?): "
                          "{} queued rows not written",
                          grace.count(), left),
              {{"ledger", s.opts.path}});
  thread_.detach();  // holds its own reference to the shared state
}

namespace {

// True when the agent stops within `d`.
bool stopping_within(LedgerWriter::Shared& s, std::chrono::milliseconds d) {
  std::unique_lock lk(s.mu);
  return s.cv.wait_for(lk, d, [&] { return s.stopping; });
}

// Opens the ledger, retrying while the agent runs: a ledger that cannot be
// opened (full or read-only disk, wrong permissions) is logged once, never
// fatal; rows wait in the queue meanwhile. A reopen (`existing`) never
// creates the file: a missing one is a filesystem not mounted (yet) again,
// and a new file there would start a second ledger the mount then hides.
std::optional<LedgerStore> open_store(LedgerWriter::Shared& s, bool existing) {
  std::string last_error;
  std::chrono::milliseconds wait = kRetryEvery;
  // A reopen waits first, so the file is not held between failed attempts.
  if (existing && stopping_within(s, wait)) return std::nullopt;
  for (;;) {
    Result<LedgerStore> store = Error{ENOENT,
                                      "the ledger file is missing (its filesystem is "
                                      "not mounted?); not creating a new one"};
    if (!existing || access(s.opts.path.c_str(), F_OK) == 0) store = LedgerStore::open(s.opts.path);
    if (store) {
      if (!last_error.empty()) s.log.info("ledger opened", {{"ledger", s.opts.path}});
      return std::move(store).value();
    }
    if (store.error().message() != last_error) {
      last_error = store.error().message();
      s.log.error("cannot open the ledger; retrying", {{"error", last_error}});
    }
    if (stopping_within(s, wait)) return std::nullopt;
    wait = std::min<std::chrono::milliseconds>(wait * 2, kReopenEvery);
  }
}

void log_heads(LedgerWriter::Shared& s, LedgerStore& store, const char* why) {
  nlohmann::ordered_json heads;
  for (const char* chain : {kChainEvents, kChainMinutes, kChainHours}) {
    auto h = store.head(chain);
    if (h && *h) heads[chain] = {{"seq", (*h)->seq}, {"hash", (*h)->hash}};
  }
  s.log.info(fmt::format("ledger chain heads ({})", why),
             {{"ledger", s.opts.path}, {"heads", heads}});
}

// One step of the daily maintenance, so that queued rows are committed in
// between: an hour of minute rows folded into hours; once none is left,
// retention pruning and the chain heads. True while there is more to do.
bool maintain_step(LedgerWriter::Shared& s, LedgerStore& store, std::int64_t& compacted) {
  const std::int64_t now = wall_ms();
  auto n = compact_minutes(store, now - s.opts.minute_keep_ms, now);
  if (!n) s.log.error("ledger compaction failed", {{"error", n.error().message()}});
  if (n && *n) {
    compacted += *n;
    return true;
  }
  if (compacted) s.log.info(fmt::format("ledger: {} minute rows compacted into hours", compacted));
  compacted = 0;
  const std::pair<const char*, std::int64_t> cuts[] = {{kChainEvents, s.opts.retention_ms},
                                                       {kChainHours, s.opts.retention_ms}};
  for (const auto& [chain, keep] : cuts) {
    auto p = store.prune(chain, now - keep, now, "retention");
    if (!p)
      s.log.error("ledger pruning failed", {{"chain", chain}, {"error", p.error().message()}});
    else if (*p)
      s.log.info(fmt::format("ledger: {} {} rows past retention pruned", *p, chain));
  }
  if (s.opts.latency_keep_ms > 0) {
    if (auto p = latency_hours_prune(store, now - s.opts.latency_keep_ms); !p)
      s.log.error("ledger: pruning latency_hours failed", {{"error", p.error().message()}});
  }
  log_heads(s, store, "daily");
  return false;
}

void hand_over(LedgerWriter::Shared& s, std::vector<BaselineHour> hours,
               std::vector<BaselineRestore> restores) {
  std::lock_guard lk(s.mu);
  auto& in = s.baseline;
  in.hours.insert(in.hours.end(), std::make_move_iterator(hours.begin()),
                  std::make_move_iterator(hours.end()));
  in.restores.insert(in.restores.end(), restores.begin(), restores.end());
}

// The baseline's side of the writer: latency_hours kept up with the minute
// rows; the whole history handed to the event loop once caught up after
// the open, then every hour that changes.
struct Upkeep {
  bool on = false;
  bool behind = false;   // catching up with rows the cache has not seen
  bool loaded = false;   // the whole history was handed over
  bool failing = false;  // a failure was logged; the next success says so

  // The minute rows just committed, when the cache had seen all before them.
  void committed(LedgerWriter::Shared& s, LedgerStore& store, const std::vector<LedgerRow>& rows) {
    if (!on || behind) return;
    auto u = latency_hours_add(store, rows, wall_ms() - s.opts.latency_keep_ms);
    if (!u) failed(s, "ledger: latency_hours update failed; catching up", u.error());
    if (!u || u->behind) {
      behind = true;
      return;
    }
    if (loaded && !u->hours.empty()) hand_over(s, std::move(u->hours), {});
  }

  // One catch-up step; true while there is more to do.
  bool step(LedgerWriter::Shared& s, LedgerStore& store) {
    const std::int64_t from = wall_ms() - s.opts.latency_keep_ms;
    std::vector<BaselineHour> changed;
    auto n = latency_hours_catch_up(store, from, 2000, &changed);
    if (!n) {
      // Given up until the daily maintenance; a gap it leaves is found then.
      failed(s, "ledger: rebuilding latency_hours failed; the baseline waits", n.error());
      return false;
    }
    if (loaded && !changed.empty()) hand_over(s, std::move(changed), {});
    if (*n > 0) return true;
    if (std::exchange(failing, false)) s.log.info("ledger: latency_hours caught up again");
    if (!std::exchange(loaded, true)) load(s, store, from);
    return false;
  }

  void load(LedgerWriter::Shared& s, LedgerStore& store, std::int64_t from) {
    auto hours = latency_hours_load(store, from);
    if (!hours) {
      loaded = false;
      failed(s, "ledger: loading the baseline history failed", hours.error());
      return;
    }
    s.log.info(fmt::format("ledger: baseline history of {} target-hours loaded", hours->size()));
    hand_over(s, std::move(hours).value(), {});
  }

  void failed(LedgerWriter::Shared& s, const char* what, const Error& e) {
    if (!std::exchange(failing, true)) s.log.error(what, {{"error", e.message()}});
  }

  void restore(LedgerWriter::Shared& s, LedgerStore& store) {
    if (!on) return;
    auto r = baseline_restores(store, wall_ms() - s.opts.restore_within_ms);
    if (!r)
      s.log.error("ledger: cannot read the last baseline rows", {{"error", r.error().message()}});
    else if (!r->empty())
      hand_over(s, {}, std::move(r).value());
  }
};

// One commit of everything pending; on failure the rows stay pending.
bool commit(LedgerWriter::Shared& s, LedgerStore& store, std::vector<LedgerRow>& pending,
            bool& failing, Upkeep& upkeep) {
  if (auto st = store.append(pending); !st) {
    ++s.counters.write_errors;
    if (!failing)
      s.log.error("ledger write failed; keeping the rows and retrying",
                  {{"error", st.error().message()}, {"rows", pending.size()}});
    failing = true;
    return false;
  }
  if (failing) s.log.info("ledger writes succeed again", {{"ledger", s.opts.path}});
  failing = false;
  s.counters.rows += pending.size();
  ++s.counters.commits;
  s.counters.head_ts_ms = pending.back().ts_ms;
  upkeep.committed(s, store, pending);
  pending.clear();
  s.counters.writer_cpu_ns = thread_cpu_ns();
  return true;
}

}  // namespace

namespace {

// The first open: the previous run's unclean end goes in before our rows.
std::optional<LedgerStore> first_open(LedgerWriter::Shared& s) {
  auto store = open_store(s, false);
  if (!store) return store;
  s.counters.open = true;
  if (auto u = unclean_end(*store, s.opts.run_id); !u) {
    s.log.error("ledger: cannot check how the last run ended", {{"error", u.error().message()}});
  } else if (*u) {
    s.log.warn(
        "ledger: the previous run ended without a clean stop; the time since its last "
        "record is unmeasured",
        {{"run_id", (**u).body["run_id"]}, {"last_seen", utc_ms((**u).ts_ms)}});
    std::vector<LedgerRow> one{std::move(**u)};
    (void)store->append(one);
  }
  return store;
}

// A ledger whose commits keep failing is closed, and opened again for each
// retry. SQLite's handle pins the filesystem it was opened on: after the
// kernel made it read-only for I/O errors, only an unmount and a new mount
// bring it back, and neither is possible while the agent holds its files.
std::optional<LedgerStore> reopen(LedgerWriter::Shared& s, std::optional<LedgerStore> store,
                                  bool announce) {
  if (announce)
    s.log.warn("ledger: closing the ledger after failing writes; reopening it until writes succeed",
               {{"ledger", s.opts.path}});
  store.reset();
  s.counters.open = false;
  auto again = open_store(s, true);
  if (again) s.counters.open = true;
  return again;
}

// Whether the ledger's filesystem refuses writes now, with no disk I/O. An
// idle writer learns it only here: no commit fails while there is nothing to
// write, and the open file would keep the operator from unmounting and
// repairing the filesystem until the next row (up to a minute). statvfs
// sees a read-only superblock; ext4's emergency read-only state after I/O
// errors (6.x) shows only as EROFS/EIO when a file is opened for writing:
// the WAL file, which SQLite keeps (persist_wal) and never locks, because
// closing a second descriptor of the database file would drop SQLite's
// POSIX locks on it.
bool refuses_writes(const std::string& path) {
  struct statvfs v {};
  if (::statvfs(path.c_str(), &v) == 0 && (v.f_flag & ST_RDONLY) != 0) return true;
  const int fd = ::open((path + "-wal").c_str(), O_WRONLY | O_CLOEXEC | O_NOCTTY);
  if (fd >= 0) {
    ::close(fd);
    return false;
  }
  return errno == EROFS || errno == EIO;
}

// With nothing pending the writer fails only while its filesystem refuses
// writes; then it closes the file after kCloseAfter, as after failed commits.
bool idle_probe(LedgerWriter::Shared& s, bool failing) {
  const bool ro = refuses_writes(s.opts.path);
  if (ro && !failing)
    s.log.error("ledger: its filesystem refuses writes; retrying until it takes them",
                {{"ledger", s.opts.path}});
  else if (!ro && failing)
    s.log.info("ledger: its filesystem takes writes again", {{"ledger", s.opts.path}});
  return ro;
}

// Waits until `wake` or rows to write, then moves the queue to `pending`;
// true when the agent is stopping. While failing, new rows wait for the next
// retry rather than each starting a commit.
bool take_queue(LedgerWriter::Shared& s, std::chrono::steady_clock::time_point wake, bool failing,
                std::vector<LedgerRow>& pending) {
  std::unique_lock lk(s.mu);
  s.cv.wait_until(lk, wake, [&] { return s.stopping || (!failing && !s.queue.empty()); });
  for (auto& r : s.queue) pending.push_back(std::move(r));
  s.queue.clear();
  s.in_writer = pending.size();
  return s.stopping;
}

// Rows still held when the writer ends (stopped while failing or closed).
void log_unwritten(LedgerWriter::Shared& s, std::size_t pending) {
  std::size_t left;
  {
    std::lock_guard lk(s.mu);
    left = pending + s.queue.size();
  }
  if (left)
    s.log.error(fmt::format("ledger: {} rows not written at stop (the ledger is failing)", left),
                {{"ledger", s.opts.path}});
}

}  // namespace

void LedgerWriter::run(std::shared_ptr<Shared> sp) {
  Shared& s = *sp;
  auto store = first_open(s);
  Upkeep upkeep{s.opts.latency_keep_ms > 0};
  upkeep.behind = upkeep.on;  // first catch up: compaction must not fold minutes it has not seen
  if (store) upkeep.restore(s, *store);
  std::vector<LedgerRow> pending;
  bool failing = false, announced = false, retry_now = false;
  bool maintaining = true;  // at open, then daily
  std::int64_t compacted = 0;
  auto next_maintenance = std::chrono::steady_clock::now() + kMaintainEvery;
  auto fail_start = std::chrono::steady_clock::now();
  while (store) {
    const auto now0 = std::chrono::steady_clock::now();
    const auto wake = std::exchange(retry_now, false) ? now0
                      : failing                       ? now0 + kRetryEvery
                      : maintaining || upkeep.behind
                          ? now0
                          : std::min(next_maintenance, now0 + kProbeEvery);
    const bool stopping = take_queue(s, wake, failing, pending);
    const bool was_failing = failing;
    if (!pending.empty())
      commit(s, *store, pending, failing, upkeep);
    else if (!stopping && !maintaining && !upkeep.behind)
      failing = idle_probe(s, failing);
    {
      std::lock_guard lk(s.mu);
      s.in_writer = pending.size();
      s.counters.queued = s.queue.size() + s.in_writer;
    }
    if (stopping && (pending.empty() || failing)) break;
    const auto now = std::chrono::steady_clock::now();
    if (!failing) announced = false;
    if (failing && !was_failing) fail_start = now;
    if (failing && now - fail_start >= kCloseAfter) {
      // Closed again at once if the commit fails: a reopened file is held
      // only for one attempt a second, so the filesystem can be unmounted.
      store = reopen(s, std::move(store), !std::exchange(announced, true));
      retry_now = true;
      upkeep.behind = upkeep.on;  // whatever the cache missed meanwhile
      continue;
    }
    if (!maintaining && now >= next_maintenance) {
      maintaining = true;
      upkeep.behind = upkeep.on;  // a failed update waits for this at most
      next_maintenance += kMaintainEvery;
    }
    // The cache first: compaction drops minute rows once folded.
    if (upkeep.behind && !failing)
      upkeep.behind = upkeep.step(s, *store);
    else if (maintaining && !failing)
      maintaining = maintain_step(s, *store, compacted);
  }
  if (store) log_heads(s, *store, "stop");
  log_unwritten(s, pending.size());
  std::lock_guard lk(s.mu);
  s.done = true;
  s.done_cv.notify_all();
}

}  // namespace sanwatch
