// SPDX-License-Identifier: Apache-2.0
// The ledger's one writer thread behind a bounded queue. The event loop only
// ever pushes (a mutex held for a vector append); opening, committing with
// fsync, pruning and the unclean-end check all happen on the writer thread,
// so a slow or stalled ledger disk never delays detection. A full queue
// drops rows, counts them and records the gap (drop_tally.h); a failed
// commit keeps its rows and retries, and a ledger that keeps failing is
// closed and reopened (a filesystem remounted or repaired under it).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "detect/baseline.h"
#include "detect/event_log.h"
#include "ledger/drop_tally.h"
#include "ledger/ledger_row.h"

namespace sanwatch {

struct LedgerWriterOptions {
  std::string path;
  std::size_t queue_rows = 10000;
  std::int64_t retention_ms = 400LL * 86'400'000;   // events and hours
  std::int64_t minute_keep_ms = 35LL * 86'400'000;  // minute rows before they are dropped
  std::string run_id;                               // this run's: the unclean-end check skips it
  // The baseline's history: with latency_keep_ms > 0 the writer keeps
  // latency_hours (hours from now - latency_keep_ms on) and hands hour
  // summaries and carried-over degraded episodes to take_baseline().
  std::int64_t latency_keep_ms = 0;
  std::int64_t restore_within_ms = 7LL * 86'400'000;  // episodes older than this stay closed
};

// What the writer thread has for the baseline tracker since the last take.
struct BaselineInbox {
  std::vector<BaselineHour> hours;  // new or changed hours (all of them after a (re)load)
  std::vector<BaselineRestore> restores;
  bool empty() const { return hours.empty() && restores.empty(); }
};

// Read from any thread (the /metrics refresh).
struct LedgerCounters {
  std::atomic<std::uint64_t> rows{0};     // committed by this run
  std::atomic<std::uint64_t> dropped{0};  // lost to a full queue
  std::atomic<std::uint64_t> write_errors{0};
  std::atomic<std::uint64_t> commits{0};
  std::atomic<std::int64_t> head_ts_ms{0};  // ts of the newest committed row
  std::atomic<std::uint64_t> queued{0};
  std::atomic<std::uint64_t> writer_cpu_ns{0};  // CPU time of the writer thread
  std::atomic<bool> open{false};
};

class LedgerWriter {
 public:
  LedgerWriter(LedgerWriterOptions opts, EventLog& log);
  ~LedgerWriter();
  LedgerWriter(const LedgerWriter&) = delete;
  LedgerWriter& operator=(const LedgerWriter&) = delete;

  // Never blocks on the disk. False when the queue is full (row dropped).
  bool push(LedgerRow row);
  // Writes what is queued, waiting at most `grace`; a writer stuck on its
  // disk is left behind (the process is exiting) and the loss logged.
  void stop(std::chrono::milliseconds grace);
  const LedgerCounters& counters() const { return shared_->counters; }
  // Never blocks on the disk (the mutex guards a vector swap).
  BaselineInbox take_baseline();

  // What the queue and the thread share (public for the thread's helpers).
  struct Shared {
    LedgerWriterOptions opts;
    EventLog& log;
    std::mutex mu;
    std::condition_variable cv, done_cv;
    std::vector<LedgerRow> queue;
    bool stopping = false, done = false;
    // Rows the writer took from the queue and has not committed: the
    // queue bound counts them too.
    std::size_t in_writer = 0;
    DropTally gap;  // the drop episode going on, if any
    LedgerCounters counters;
    BaselineInbox baseline;  // to the event loop
    Shared(LedgerWriterOptions o, EventLog& l) : opts(std::move(o)), log(l) {}
  };

 private:
  static void run(std::shared_ptr<Shared> s);
  std::shared_ptr<Shared> shared_;
  std::thread thread_;
};

}  // namespace sanwatch
