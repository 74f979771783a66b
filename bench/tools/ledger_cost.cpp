// SPDX-License-Identifier: Apache-2.0
// sanwatch-ledger-cost: what the evidence ledger costs, measured on the real
// code. A simulated day (fake clocks, one sample a second) of N multipath
// LUNs — a map and its paths, canaries on all of them, I/O on the maps and
// through the paths — goes through the real LedgerRecorder into the real
// LedgerWriter, with a few incidents (stalls, path failures) through
// on_state. Then: rows per day by kind, file bytes per LUN per day, the
// writer thread's CPU, commit latency with synchronous=FULL on the
// directory's filesystem, and the same day once compact_minutes has turned
// it into hour rows. One JSON object on stdout (bench/ledger.py reads it),
// a summary on stderr.
//
//   sanwatch-ledger-cost --dir DIR [--luns 100] [--paths 2] [--hours 24]
//                        [--stalls 5] [--path-failures 2] [--commits 200]
//                        [--bursts 30] [--seed 1]
//   sanwatch-ledger-cost --dir DIR --commit-only [--commits 5] [--bursts 2]
//       commit latency only (a slow disk: a few commits take long enough)
//   sanwatch-ledger-cost --verify LEDGER
//       an agent's ledger: every chain recomputed, integrity_check, rows by
//       kind and target (bench/ledger.sh checks nothing was lost)
#include <sqlite3.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "base/clock.h"
#include "detect/baseline.h"
#include "ledger/compaction.h"
#include "ledger/ledger_store.h"
#include "ledger/ledger_writer.h"
#include "ledger/recorder.h"

using namespace sanwatch;
using json = nlohmann::json;
namespace fs = std::filesystem;

namespace {

constexpr std::int64_t kDayMs = 86'400'000;
constexpr std::uint64_t kM0 = 1'000'000'000'000ull;            // CLOCK_MONOTONIC at the day's start
constexpr std::uint64_t kSloNs[] = {10'000'000, 100'000'000};  // the default latency_slos

struct Options {
  std::string dir;
  int luns = 100, paths = 2;
  double hours = 24;
  int stalls = 5, path_failures = 2;
  int commits = 200, bursts = 30;
  unsigned seed = 1;
  bool commit_only = false;
  std::string verify;
  double stall_s = 2, recovery_s = 10;  // the agent's defaults
};

[[noreturn]] void die(const std::string& why) {
  std::fprintf(stderr, "sanwatch-ledger-cost: %s\n", why.c_str());
  std::exit(1);
}

template <typename T>
T must(Result<T> r, const char* what) {
  if (!r) die(std::string(what) + ": " + r.error().message());
  return std::move(r).value();
}

void must(const Status& s, const char* what) {
  if (!s) die(std::string(what) + ": " + s.error().message());
}

double pctl(std::vector<double> xs, double q) {
  if (xs.empty()) return 0;
  std::sort(xs.begin(), xs.end());
  const double k = (static_cast<double>(xs.size()) - 1) * q / 100.0;
  const auto lo = static_cast<std::size_t>(k);
  const std::size_t hi = std::min(lo + 1, xs.size() - 1);
  return xs[lo] + (xs[hi] - xs[lo]) * (k - static_cast<double>(lo));
}

// "a".."z", "aa".. as multipathd's user_friendly_names and sd names count.
std::string alpha(int i) {
  std::string s;
  for (++i; i > 0; i = (i - 1) / 26) s.insert(s.begin(), static_cast<char>('a' + (i - 1) % 26));
  return s;
}

std::int64_t status_kib(const char* key) {
  std::ifstream f("/proc/self/status");
  for (std::string line; std::getline(f, line);)
    if (line.rfind(key, 0) == 0) return std::atoll(line.c_str() + std::strlen(key) + 1);
  return 0;
}

// The filesystem a path lives on, from /proc/self/mountinfo (longest match).
json filesystem_of(const std::string& path) {
  const std::string p = fs::canonical(path).string();
  std::ifstream f("/proc/self/mountinfo");
  json best = {{"mount", ""}};
  for (std::string line; std::getline(f, line);) {
    std::istringstream in(line);
    std::string id, parent, dev, root, mnt, opts, w;
    in >> id >> parent >> dev >> root >> mnt >> opts;
    while (in >> w && w != "-") {
    }
    std::string type, source, sopts;
    in >> type >> source >> sopts;
    const bool under = p == mnt || (p.rfind(mnt, 0) == 0 && (mnt == "/" || p[mnt.size()] == '/'));
    if (under && mnt.size() >= best["mount"].get<std::string>().size())
      best = {{"mount", mnt}, {"type", type}, {"source", source}, {"options", opts}};
  }
  return best;
}

std::int64_t file_size(const std::string& p) {
  std::error_code ec;
  const auto n = fs::file_size(p, ec);
  return ec ? 0 : static_cast<std::int64_t>(n);
}

// ------------------------------------------------------------------ the fleet

// One incident: a stall of a LUN (its map and every path stop completing
// I/O and canaries) or a failed path (its map runs degraded on the rest).
struct Incident {
  int map = 0;
  int path = -1;  // -1: a stall of the whole LUN
  double start = 0, end = 0;
};

struct Timed {
  double at = 0;
  int target = 0;
  Health from = Health::kOk, to = Health::kOk;
  std::string reason;
  const Incident* inc = nullptr;
};

// N maps with their paths as the watchdog's snapshots show them, advanced
// one second at a time, and the state changes the incidents cause.
class Fleet {
 public:
  Fleet(const Options& o, std::mt19937& rng, double seconds, std::int64_t t0_ms)
      : o_(o), rng_(rng), t0_ms_(t0_ms) {
    const int stride = 1 + o.paths;
    snaps_.resize(static_cast<std::size_t>(o.luns * stride));
    std::uniform_real_distribution<double> iops(20, 400);  // a database's LUNs, mixed
    for (int i = 0; i < o.luns; ++i) {
      const std::string wwid = fmt_wwid(i);
      TargetSnapshot& m = snaps_[static_cast<std::size_t>(i * stride)];
      m.name = "dm-" + std::to_string(i);
      m.label = "mpath" + alpha(i);
      m.dm_name = m.label;
      m.target_type = "map";
      m.wwid = wwid;
      m.array = "3PARdata VV";
      m.valid_paths = m.total_paths = o.paths;
      init_io(m);
      iops_.push_back(iops(rng_));
      for (int j = 0; j < o.paths; ++j) {
        TargetSnapshot& p = snaps_[static_cast<std::size_t>(i * stride + 1 + j)];
        p.name = "sd" + alpha(1 + i * o.paths + j);
        p.label = p.name;
        p.target_type = "path";
        p.map = m.label;
        p.wwid = wwid;
        p.array = m.array;
        p.target_port = "0x2" + std::to_string(j) + "0100025ac0000" + std::to_string(j + 1);
        p.hctl = std::to_string(1 + j) + ":0:0:" + std::to_string(i);
        p.transport = "fc";
        p.histograms = false;  // [metrics] path_histograms = false, the default
        init_io(p);
      }
    }
    // Incidents spread over the window, on distinct LUNs.
    std::vector<int> order(static_cast<std::size_t>(o.luns));
    for (int i = 0; i < o.luns; ++i) order[static_cast<std::size_t>(i)] = i;
    std::shuffle(order.begin(), order.end(), rng_);
    std::size_t next = 0;
    const double stall_len[] = {5, 8, 15, 30, 60};
    for (int k = 0; k < o.stalls; ++k) {
      const double at = seconds * (k + 0.5) / o.stalls + 17.3;
      incidents_.push_back({order[next++ % order.size()], -1, at, at + stall_len[k % 5]});
    }
    const double fail_len[] = {120, 600};
    for (int k = 0; k < o.path_failures; ++k) {
      const double at = seconds * (k + 0.3) / o.path_failures + 41.9;
      incidents_.push_back({order[next++ % order.size()], k % o.paths, at, at + fail_len[k % 2]});
    }
    for (const Incident& inc : incidents_) schedule(inc);
    std::sort(timed_.begin(), timed_.end(),
              [](const Timed& a, const Timed& b) { return a.at < b.at; });
  }

  std::vector<TargetSnapshot>& snaps() { return snaps_; }
  const std::vector<Incident>& incidents() const { return incidents_; }

  // The state changes due by `t` (seconds into the window), in order.
  template <typename F>
  void due(double t, F&& fn) {
    for (; next_timed_ < timed_.size() && timed_[next_timed_].at <= t; ++next_timed_)
      fn(timed_[next_timed_], change(timed_[next_timed_]));
  }

  // Counters one second on, as of `t`.
  void advance(double t) {
    const int stride = 1 + o_.paths;
    for (int i = 0; i < o_.luns; ++i) {
      TargetSnapshot& m = snaps_[static_cast<std::size_t>(i * stride)];
      const Incident* stall = active(i, -1, t);
      const Incident* pf = active_failure(i, t);
      for (int k = 0; k < stride; ++k) {
        TargetSnapshot& s = snaps_[static_cast<std::size_t>(i * stride + k)];
        s.impairment = impairment_of(i, k - 1, t);
      }
      if (stall) {
        was_stalled_[i] = true;
        continue;  // nothing completes, canaries are outstanding
      }
      if (was_stalled_[i]) {  // the stuck I/O and canaries complete, late
        was_stalled_[i] = false;
        for (int k = 0; k < stride; ++k) {
          TargetSnapshot& s = snaps_[static_cast<std::size_t>(i * stride + k)];
          add_ios(s, 32, 32, 32);
          ++s.canary->timeouts;
        }
      }
      std::poisson_distribution<std::uint64_t> n_ios(iops_[static_cast<std::size_t>(i)]);
      const std::uint64_t n = n_ios(rng_) + 1;  // + the map's own canary read
      const std::uint64_t over10 = std::poisson_distribution<std::uint64_t>(n * 0.004)(rng_);
      const std::uint64_t over100 = std::poisson_distribution<std::uint64_t>(n * 0.0001)(rng_);
      add_ios(m, n, over10, over100);
      ++m.canary->reads;
      // The map's I/O through its live paths, plus each path's own canary.
      const int failed = pf ? pf->path : -1;
      const int live = o_.paths - (failed >= 0);
      int idx = 0;
      for (int j = 0; j < o_.paths; ++j) {
        TargetSnapshot& p = snaps_[static_cast<std::size_t>(i * stride + 1 + j)];
        if (j == failed) {
          ++p.canary->errors;  // EIO at once on a failed path
          continue;
        }
        const std::uint64_t share = n / live + (idx++ == 0 ? n % live : 0);
        add_ios(p, share + 1, idx == 1 ? over10 : 0, idx == 1 ? over100 : 0);
        ++p.canary->reads;
      }
    }
  }

 private:
  static std::string fmt_wwid(int i) {
    char b[40];
    std::snprintf(b, sizeof(b), "360002ac0000000000000%04x00021f6b", i);
    return b;
  }

  // Histograms allocated and non-empty, as a traced device's are: the
  // recorder copies every snapshot each second, so their size is its cost.
  static void init_io(TargetSnapshot& t) {
    DeviceStats io;
    io.slo_ns = {kSloNs[0], kSloNs[1], 0, 0};
    for (Op op : {Op::kRead, Op::kWrite}) {
      io.op(op).total.record(400'000);
      io.op(op).device.record(350'000);
    }
    t.io = io;
    CanaryStats c;
    c.latency.record(300'000);
    t.canary = c;
  }

  // A LUN's latency as the engine's fine buckets see it: log-normal around
  // 0.5 ms over 25 quarter-octave points (what a minute row's `lat` holds
  // on a busy LUN), n I/Os spread by weight, the rest at the median.
  static void record_latency(LatencyHistogram& h, std::uint64_t n) {
    static const auto shape = [] {
      std::vector<std::pair<std::uint64_t, double>> v;
      double sum = 0;
      for (int k = -12; k <= 12; ++k) {
        const double w = std::exp(-(k / 4.0) * (k / 4.0) / (2 * 0.6 * 0.6));
        v.emplace_back(static_cast<std::uint64_t>(500'000 * std::exp2(k / 4.0)), w);
        sum += w;
      }
      for (auto& e : v) e.second /= sum;
      return v;
    }();
    std::uint64_t left = n;
    for (const auto& [ns, w] : shape) {
      const auto k = static_cast<std::uint64_t>(static_cast<double>(n) * w);
      if (k && k <= left) {
        h.record(ns, k);
        left -= k;
      }
    }
    if (left) h.record(500'000, left);
  }

  static void add_ios(TargetSnapshot& t, std::uint64_t n, std::uint64_t o10, std::uint64_t o100) {
    OpStats& r = t.io->op(Op::kRead);
    OpStats& w = t.io->op(Op::kWrite);
    const std::uint64_t reads = n * 7 / 10;
    r.count += reads;
    w.count += n - reads;
    if (t.histograms) {
      record_latency(r.total, reads);
      record_latency(w.total, n - reads);
    }
    r.bytes += reads * 8192;
    w.bytes += (n - reads) * 8192;
    r.slo_over[0] += o10;
    r.slo_over[1] += o100;
  }

  const Incident* active(int map, int path, double t) const {
    for (const Incident& inc : incidents_)
      if (inc.map == map && inc.path == path && t >= inc.start && t < inc.end) return &inc;
    return nullptr;
  }
  const Incident* active_failure(int map, double t) const {
    for (const Incident& inc : incidents_)
      if (inc.map == map && inc.path >= 0 && t >= inc.start && t < inc.end) return &inc;
    return nullptr;
  }

  // The impairment a target's snapshot shows at t: hard from the fault's
  // start, until the fault ends, while the incident lasts (recovery incl.).
  Impairment impairment_of(int map, int path, double t) const {
    Impairment imp;
    for (const Incident& inc : incidents_) {
      if (inc.map != map || t < inc.start || t >= inc.end + o_.recovery_s + 1) continue;
      const bool mine = inc.path < 0 || inc.path == path;
      if (!mine) continue;  // a map runs degraded on its other paths: no hard evidence
      imp.hard.add(ns(inc.start), ns(std::min(t, inc.end)));
      imp.ongoing = t < inc.end;
      if (inc.path < 0) {
        imp.slow.add(ns(inc.start), ns(std::min(t, inc.end)));
        imp.peak_oldest_ns = static_cast<std::uint64_t>((std::min(t, inc.end) - inc.start) * 1e9);
        if (t >= inc.start + o_.stall_s) imp.stall_crossed_ns = ns(inc.start + o_.stall_s);
        if (t >= inc.end) imp.max_latency_ns = imp.peak_oldest_ns;
      } else {
        imp.canary_failures = static_cast<std::uint64_t>(std::min(t, inc.end) - inc.start);
      }
    }
    return imp;
  }

  static std::uint64_t ns(double s) { return kM0 + static_cast<std::uint64_t>(s * 1e9); }

  void schedule(const Incident& inc) {
    const int stride = 1 + o_.paths;
    const int map = inc.map * stride;
    const auto human = [](double s) { return std::to_string(static_cast<int>(s)) + "s"; };
    if (inc.path < 0) {
      for (int k = 0; k < stride; ++k) {
        // Paths cross the threshold with their outstanding canaries, a bit later.
        const double crossed = inc.start + o_.stall_s + 0.3 * k;
        timed_.push_back({crossed, map + k, Health::kOk, Health::kStalled,
                          k == 0 ? "I/O outstanding for 2s (stall threshold 2s)"
                                 : "canary read outstanding for 2s (stall threshold 2s)",
                          &inc});
        timed_.push_back({inc.end + o_.recovery_s + 0.01 * k, map + k, Health::kStalled,
                          Health::kOk, "no longer stalled for " + human(o_.recovery_s), &inc});
      }
      return;
    }
    const int path = map + 1 + inc.path;
    timed_.push_back({inc.start, path, Health::kOk, Health::kFailed,
                      "dm-multipath failed the path (PATH_FAILED, " + std::to_string(o_.paths - 1) +
                          " valid paths left)",
                      &inc});
    timed_.push_back(
        {inc.start + 0.0004, map, Health::kOk, Health::kDegraded,
         std::to_string(o_.paths - 1) + " of " + std::to_string(o_.paths) + " paths valid", &inc});
    timed_.push_back({inc.end + o_.recovery_s, path, Health::kFailed, Health::kOk,
                      "no longer failed for " + human(o_.recovery_s), &inc});
    timed_.push_back({inc.end + o_.recovery_s + 0.0004, map, Health::kDegraded, Health::kOk,
                      "no longer degraded for " + human(o_.recovery_s), &inc});
  }

  StateChange change(const Timed& e) {
    const TargetSnapshot& t = snaps_[static_cast<std::size_t>(e.target)];
    TargetIdentity id = identity_of(t);
    id.device =
        t.target_type == "map" ? "253:" + t.name.substr(3) : "8:" + std::to_string(16 * e.target);
    if (t.target_type == "path") id.serial = "0000" + t.wwid.substr(t.wwid.size() - 12);
    Transition tr;
    tr.from = e.from;
    tr.to = e.to;
    tr.at_ns = ns(e.at);
    tr.reason = e.reason;
    tr.evidence.ios = 120;
    if (e.to == Health::kStalled) tr.evidence.inflight_oldest_s = o_.stall_s;
    if (t.target_type == "map") {
      tr.evidence.total_paths = o_.paths;
      tr.evidence.valid_paths = e.to == Health::kDegraded ? o_.paths - 1 : o_.paths;
    }
    const int path = t.target_type == "path" ? (e.target % (1 + o_.paths)) - 1 : -1;
    tr.impairment = impairment_of(e.inc->map, path, e.at);
    // The event line's ts: RFC 3339 with µs, as the agent writes it.
    std::string ts = utc_ms(t0_ms_ + static_cast<std::int64_t>(e.at * 1000));
    ts.insert(ts.size() - 1, "000");
    return StateChange{id, tr, ts, ns(e.at)};
  }

  const Options& o_;
  std::mt19937& rng_;
  std::int64_t t0_ms_;
  std::vector<TargetSnapshot> snaps_;
  std::vector<double> iops_;
  std::vector<Incident> incidents_;
  std::vector<Timed> timed_;
  std::size_t next_timed_ = 0;
  std::map<int, bool> was_stalled_;
};

RunInfo run_info() {
  return RunInfo{"5ea7c0de5ea7c0de5ea7c0de5ea7c0de",
                 "db01.example.net",
                 "0.1.0",
                 "6.18.0",
                 "0f7c1d2e-3b4a-4c5d-8e9f-a0b1c2d3e4f5",
                 "/etc/sanwatch/sanwatch.toml",
                 std::string(64, 'c'),
                 {kSloNs[0], kSloNs[1]}};
}

// ------------------------------------------------------------------ the day

struct DayResult {
  json out;
  std::uint64_t pushed = 0;
};

std::int64_t day_start_ms() {
  // Yesterday (UTC): the writer's retention and compaction at open run
  // against the real clock and must find nothing of ours to remove.
  const std::int64_t now = wall_ms();
  return now - now % kDayMs - kDayMs;
}

json run_day(const Options& o, const std::string& path, std::int64_t t0) {
  std::mt19937 rng(o.seed);
  const double seconds = o.hours * 3600;
  Fleet fleet(o, rng, seconds, t0);
  std::FILE* logf = std::fopen((o.dir + "/ledger_cost.log").c_str(), "w");
  if (!logf) die("cannot write " + o.dir + "/ledger_cost.log");
  EventLog log(logf);
  LedgerWriterOptions wo;
  wo.path = path;
  wo.run_id = run_info().run_id;
  wo.latency_keep_ms = 35 * kDayMs;  // [baseline] on, as by default: latency_hours kept
  auto writer = std::make_unique<LedgerWriter>(wo, log);
  BaselineTracker baseline{BaselineSettings{}};
  std::uint64_t pushed = 0, dropped_push = 0;
  std::map<std::string, std::uint64_t> pushed_kind;
  LedgerRecorder rec(
      run_info(),
      [&](LedgerRow r) {
        ++pushed;
        ++pushed_kind[r.chain + "/" + r.kind];
        if (!writer->push(std::move(r))) ++dropped_push;
      },
      static_cast<std::int64_t>(o.stall_s * 1000) + 5000);
  // The writer commits what each loop iteration pushed, as in the agent: wait
  // for it before the next simulated second, so commits batch as they would.
  std::uint64_t drain_waits = 0;
  const auto drain = [&] {
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(120);
    while (writer->counters().rows + dropped_push < pushed) {
      if (std::chrono::steady_clock::now() > until) die("the writer did not keep up for 120 s");
      std::this_thread::sleep_for(std::chrono::microseconds(20));
    }
    ++drain_waits;
  };
  const auto wall = [&](double s) { return t0 + static_cast<std::int64_t>(s * 1000); };
  const auto mono = [](double s) { return kM0 + static_cast<std::uint64_t>(s * 1e9); };

  // The tracker observes from inside rec.sample (counted as the recorder's
  // CPU); its history intake and evaluation are counted apart.
  rec.observe_latency([&](const TargetSnapshot& t, const LatencyHistogram& h, std::int64_t ms) {
    TargetIdentity id;
    id.label = t.label;
    id.type = t.target_type;
    baseline.observe(id, h, ms);
  });
  std::uint64_t rec_cpu = 0, baseline_cpu = 0, samples = 0, states = 0;
  std::int64_t wal_max = 0;
  const auto wall0 = std::chrono::steady_clock::now();
  std::uint64_t c0 = thread_cpu_ns();
  rec.start(wall(0), mono(0));
  rec_cpu += thread_cpu_ns() - c0;
  drain();
  const std::int64_t n = static_cast<std::int64_t>(seconds);
  for (std::int64_t k = 0; k < n; ++k) {
    const double t = static_cast<double>(k) + 0.137;  // the agent's refresh is not on the second
    const std::uint64_t before = pushed;
    fleet.due(t, [&](const Timed&, const StateChange& c) {
      const std::uint64_t a = thread_cpu_ns();
      rec.on_state(c);
      rec_cpu += thread_cpu_ns() - a;
      ++states;
      drain();  // a state change is its own loop iteration
    });
    fleet.advance(t);
    const std::uint64_t a = thread_cpu_ns();
    rec.sample(fleet.snaps(), wall(t), mono(t));
    rec_cpu += thread_cpu_ns() - a;
    const std::uint64_t b = thread_cpu_ns();
    for (const auto& h : writer->take_baseline().hours) baseline.add_hour(h);
    (void)baseline.evaluate(wall(t));
    baseline_cpu += thread_cpu_ns() - b;
    ++samples;
    if (pushed != before) {
      drain();
      // The -wal file keeps its high-water mark while the connection is
      // open (no journal_size_limit): that is the disk it really takes.
      wal_max = std::max(wal_max, file_size(path + "-wal"));
    }
    if (k % 3600 == 3599)
      std::fprintf(stderr, "  simulated %lld h: %llu rows, writer CPU %.2f s\n",
                   static_cast<long long>((k + 1) / 3600),
                   static_cast<unsigned long long>(writer->counters().rows.load()),
                   writer->counters().writer_cpu_ns / 1e9);
  }
  const std::uint64_t a = thread_cpu_ns();
  rec.stop(fleet.snaps(), wall(static_cast<double>(n)), mono(static_cast<double>(n)));
  rec_cpu += thread_cpu_ns() - a;
  drain();
  const double sim_wall_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0).count();
  writer->stop(std::chrono::seconds(60));
  const LedgerCounters& wc = writer->counters();
  json j;
  j["simulated_s"] = n;
  j["samples"] = samples;
  j["state_changes"] = states;
  j["rows_pushed"] = pushed;
  j["rows_pushed_by_kind"] = pushed_kind;
  j["rows_committed"] = wc.rows.load();
  j["rows_dropped"] = wc.dropped.load();
  j["write_errors"] = wc.write_errors.load();
  j["commits"] = wc.commits.load();
  j["writer_cpu_ns"] = wc.writer_cpu_ns.load();
  j["recorder_cpu_ns"] = rec_cpu;
  j["baseline_cpu_ns"] = baseline_cpu;
  j["sim_wall_s"] = sim_wall_s;
  j["drain_waits"] = drain_waits;
  j["wal_max_bytes"] = wal_max;
  json inc = json::array();
  for (const Incident& i : fleet.incidents())
    inc.push_back({{"lun", i.map},
                   {"kind", i.path < 0 ? "stall" : "path failure"},
                   {"start_s", i.start},
                   {"duration_s", i.end - i.start}});
  j["incidents"] = inc;
  writer.reset();
  std::fclose(logf);
  return j;
}

// ------------------------------------------------------------------ the file

sqlite3* raw(LedgerStore& s) { return s.db().handle(); }

std::int64_t q_int(sqlite3* db, const std::string& sql) {
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr) != SQLITE_OK)
    die("prepare " + sql + ": " + sqlite3_errmsg(db));
  std::int64_t v = 0;
  if (sqlite3_step(st) == SQLITE_ROW) v = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  return v;
}

void exec(sqlite3* db, const std::string& sql) {
  char* err = nullptr;
  if (sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    std::string e = err ? err : "?";
    sqlite3_free(err);
    die(sql + ": " + e);
  }
}

// Rows and their column bytes by chain and kind.
json rows_by_kind(sqlite3* db) {
  sqlite3_stmt* st = nullptr;
  const char* sql =
      "SELECT chain, kind, COUNT(*), SUM(LENGTH(body)), SUM(LENGTH(chain) + LENGTH(kind) + "
      "LENGTH(target) + LENGTH(body) + LENGTH(prev_hash) + LENGTH(hash) + 16) FROM entries "
      "GROUP BY chain, kind ORDER BY chain, kind";
  if (sqlite3_prepare_v2(db, sql, -1, &st, nullptr) != SQLITE_OK) die(sqlite3_errmsg(db));
  json out = json::array();
  while (sqlite3_step(st) == SQLITE_ROW)
    out.push_back({{"chain", reinterpret_cast<const char*>(sqlite3_column_text(st, 0))},
                   {"kind", reinterpret_cast<const char*>(sqlite3_column_text(st, 1))},
                   {"rows", sqlite3_column_int64(st, 2)},
                   {"body_bytes", sqlite3_column_int64(st, 3)},
                   {"column_bytes", sqlite3_column_int64(st, 4)}});
  sqlite3_finalize(st);
  return out;
}

// Bytes of each b-tree (the table, its index) where SQLite has dbstat.
json btrees(sqlite3* db) {
  sqlite3_stmt* st = nullptr;
  json out = json::object();
  if (sqlite3_prepare_v2(db, "SELECT name, SUM(pgsize), SUM(payload) FROM dbstat GROUP BY name", -1,
                         &st, nullptr) != SQLITE_OK)
    return out;  // built without SQLITE_ENABLE_DBSTAT_VTAB
  while (sqlite3_step(st) == SQLITE_ROW)
    out[reinterpret_cast<const char*>(sqlite3_column_text(st, 0))] = {
        {"bytes", sqlite3_column_int64(st, 1)}, {"payload", sqlite3_column_int64(st, 2)}};
  sqlite3_finalize(st);
  return out;
}

// File bytes after the WAL is folded in (TRUNCATE leaves it empty), and
// what the pages hold.
json file_state(LedgerStore& s, const std::string& path) {
  sqlite3* db = raw(s);
  json j;
  j["wal_bytes_before_checkpoint"] = file_size(path + "-wal");
  // What an automatic checkpoint leaves: the pages copied back, the file kept.
  exec(db, "PRAGMA wal_checkpoint(PASSIVE)");
  j["wal_bytes_after_passive_checkpoint"] = file_size(path + "-wal");
  exec(db, "PRAGMA wal_checkpoint(TRUNCATE)");
  j["file_bytes"] = file_size(path);
  j["wal_bytes"] = file_size(path + "-wal");
  j["page_size"] = q_int(db, "PRAGMA page_size");
  j["page_count"] = q_int(db, "PRAGMA page_count");
  j["freelist_count"] = q_int(db, "PRAGMA freelist_count");
  j["used_bytes"] =
      (j["page_count"].get<std::int64_t>() - j["freelist_count"].get<std::int64_t>()) *
      j["page_size"].get<std::int64_t>();
  j["rows"] = rows_by_kind(db);
  j["btrees"] = btrees(db);
  return j;
}

// A vacuumed copy: the same rows packed, as a long-running ledger's
// reused pages end up; the sizes per chain come from such copies.
std::int64_t vacuum_into(LedgerStore& s, const std::string& to,
                         const std::string& keep_only_chain = "") {
  fs::remove(to);
  exec(raw(s), "VACUUM INTO '" + to + "'");
  if (keep_only_chain.empty()) return file_size(to);
  sqlite3* db = nullptr;
  if (sqlite3_open(to.c_str(), &db) != SQLITE_OK) die("open " + to);
  exec(db, "DELETE FROM entries WHERE chain != '" + keep_only_chain + "'; VACUUM");
  sqlite3_close(db);
  return file_size(to);
}

// ------------------------------------------------------------------ commits

// Rows as the recorder makes them: one state row and one minute's burst of
// minute rows for the fleet (every target's minute, written together).
std::pair<LedgerRow, std::vector<LedgerRow>> sample_rows(const Options& o0) {
  Options o = o0;
  o.stalls = 1;
  o.path_failures = 0;
  std::mt19937 rng(o.seed);
  const std::int64_t t0 = day_start_ms();
  Fleet fleet(o, rng, 20, t0);  // a stall at ~27 s
  std::vector<LedgerRow> rows;
  LedgerRecorder rec(
      run_info(), [&](LedgerRow r) { rows.push_back(std::move(r)); },
      static_cast<std::int64_t>(o.stall_s * 1000) + 5000);
  rec.start(t0, kM0);
  for (int k = 0; k < 150; ++k) {
    const double t = k + 0.137;
    fleet.due(t, [&](const Timed&, const StateChange& c) { rec.on_state(c); });
    fleet.advance(t);
    rec.sample(fleet.snaps(), t0 + static_cast<std::int64_t>(t * 1000),
               kM0 + static_cast<std::uint64_t>(t * 1e9));
  }
  std::optional<LedgerRow> state;
  std::vector<LedgerRow> burst;
  for (auto& r : rows) {
    if (r.kind == "state" && !state) state = r;
    if (r.kind == "minute" && r.ts_ms == t0) burst.push_back(r);
  }
  if (!state || burst.empty()) die("no sample rows");
  return {*state, burst};
}

json commit_latency(const Options& o) {
  auto [state, burst] = sample_rows(o);
  const std::string path = o.dir + "/commit-latency.db";
  for (const char* ext : {"", "-wal", "-shm"}) fs::remove(path + ext);
  LedgerStore store = must(LedgerStore::open(path), "open the commit-latency ledger");
  const auto timed = [&](const std::vector<LedgerRow>& proto, int n) {
    std::vector<double> ms;
    for (int i = 0; i < n; ++i) {
      std::vector<LedgerRow> rows = proto;
      const auto a = std::chrono::steady_clock::now();
      must(store.append(rows), "append");
      ms.push_back(
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - a).count());
    }
    return json{{"commits", n},
                {"rows_per_commit", proto.size()},
                {"p50_ms", pctl(ms, 50)},
                {"p99_ms", pctl(ms, 99)},
                {"max_ms", ms.empty() ? 0 : *std::max_element(ms.begin(), ms.end())},
                {"min_ms", ms.empty() ? 0 : *std::min_element(ms.begin(), ms.end())}};
  };
  json j;
  j["filesystem"] = filesystem_of(o.dir);
  j["synchronous"] = q_int(raw(store), "PRAGMA synchronous");  // 2 = FULL
  j["journal_mode_wal"] =
      must(store.db().query_text("PRAGMA journal_mode"), "journal_mode").value_or("") == "wal";
  j["one_row"] = timed({state}, o.commits);
  j["minute_burst"] = timed(burst, o.bursts);
  j["state_row_bytes"] = state.body.dump().size();
  j["minute_row_bytes"] = burst.front().body.dump().size();
  for (const char* ext : {"", "-wal", "-shm"}) fs::remove(path + ext);
  return j;
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const auto val = [&]() -> std::string {
      if (i + 1 >= argc) die(a + " needs a value");
      return argv[++i];
    };
    if (a == "--dir")
      o.dir = val();
    else if (a == "--luns")
      o.luns = std::stoi(val());
    else if (a == "--paths")
      o.paths = std::stoi(val());
    else if (a == "--hours")
      o.hours = std::stod(val());
    else if (a == "--stalls")
      o.stalls = std::stoi(val());
    else if (a == "--path-failures")
      o.path_failures = std::stoi(val());
    else if (a == "--commits")
      o.commits = std::stoi(val());
    else if (a == "--bursts")
      o.bursts = std::stoi(val());
    else if (a == "--seed")
      o.seed = static_cast<unsigned>(std::stoul(val()));
    else if (a == "--commit-only")
      o.commit_only = true;
    else if (a == "--verify")
      o.verify = val();
    else if (a == "-h" || a == "--help") {
      std::fputs(
          "usage: sanwatch-ledger-cost --dir DIR [--luns N] [--paths N] [--hours H]\n"
          "  [--stalls N] [--path-failures N] [--commits N] [--bursts N] [--seed N]\n"
          "  [--commit-only]\n",
          stdout);
      std::exit(0);
    } else
      die("unknown argument " + a);
  }
  if (o.dir.empty() && o.verify.empty()) die("--dir is required");
  if (o.luns < 1 || o.paths < 1 || o.hours <= 0) die("--luns, --paths, --hours must be > 0");
  if (o.paths < 2 && o.path_failures > 0) die("path failures need --paths >= 2");
  return o;
}

}  // namespace

json verify(const std::string& path) {
  LedgerStore store = must(LedgerStore::open(path, LedgerStore::Access::kReadOnly), "open");
  const VerifyReport rep = must(verify_ledger(store), "verify");
  sqlite3* db = raw(store);
  sqlite3_stmt* st = nullptr;
  std::string integrity;
  if (sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, nullptr) == SQLITE_OK)
    while (sqlite3_step(st) == SQLITE_ROW)
      integrity += reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
  sqlite3_finalize(st);
  json by = json::object();
  if (sqlite3_prepare_v2(db, "SELECT kind, target, COUNT(*) FROM entries GROUP BY kind, target", -1,
                         &st, nullptr) == SQLITE_OK)
    while (sqlite3_step(st) == SQLITE_ROW)
      by[reinterpret_cast<const char*>(sqlite3_column_text(st, 0))]
        [reinterpret_cast<const char*>(sqlite3_column_text(st, 1))] = sqlite3_column_int64(st, 2);
  sqlite3_finalize(st);
  return {{"path", path},        {"chains_ok", rep.ok},
          {"rows", rep.rows},    {"first_bad", rep.first_bad},
          {"why", rep.why},      {"integrity", integrity},
          {"by_kind_target", by}};
}

int main(int argc, char** argv) {
  const Options o = parse(argc, argv);
  if (!o.verify.empty()) {
    std::printf("%s\n", verify(o.verify).dump().c_str());
    return 0;
  }
  fs::create_directories(o.dir);
  json out;
  out["options"] = {
      {"luns", o.luns},           {"paths_per_lun", o.paths},         {"hours", o.hours},
      {"stalls", o.stalls},       {"path_failures", o.path_failures}, {"seed", o.seed},
      {"latency_slos_ns", kSloNs}};
  out["sqlite_version"] = sqlite3_libversion();
  if (o.commit_only) {
    out["commit_latency"] = commit_latency(o);
    std::printf("%s\n", out.dump().c_str());
    return 0;
  }
  const std::string path = o.dir + "/ledger.db";
  for (const char* ext : {"", "-wal", "-shm"}) fs::remove(path + ext);
  const std::int64_t t0 = day_start_ms();
  std::fprintf(stderr, "ledger_cost: %d LUNs x (1 map + %d paths), %.1f h simulated from %s\n",
               o.luns, o.paths, o.hours, utc_ms(t0).c_str());
  out["day"] = run_day(o, path, t0);
  out["filesystem"] = filesystem_of(o.dir);

  LedgerStore store = must(LedgerStore::open(path), "reopen the ledger");
  out["minutes"] = file_state(store, path);
  out["minutes"]["vacuumed_bytes"] = vacuum_into(store, o.dir + "/vacuum-minutes.db");
  out["events_only_vacuumed_bytes"] = vacuum_into(store, o.dir + "/vacuum-events.db", "events");
  out["verify_ok"] = must(verify_ledger(store), "verify").ok;

  // Every minute row becomes hour rows, as the daily maintenance does to
  // rows older than minute_rollups; the writer thread would run this.
  const std::int64_t end = t0 + static_cast<std::int64_t>(o.hours * 3'600'000);
  const std::int64_t rss0 = status_kib("VmRSS:");
  { std::ofstream("/proc/self/clear_refs") << "5"; }  // resets VmHWM
  const std::uint64_t cpu0 = thread_cpu_ns();
  const auto w0 = std::chrono::steady_clock::now();
  // As the writer does: an hour per transaction until none is left.
  std::int64_t folded = 0, chunks = 0;
  for (std::int64_t n; (n = must(compact_minutes(store, end + 3'600'000, end), "compact")) > 0;
       ++chunks)
    folded += n;
  json c;
  c["minute_rows_folded"] = folded;
  c["transactions"] = chunks;
  c["wall_s"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - w0).count();
  c["cpu_s"] = (thread_cpu_ns() - cpu0) / 1e9;
  c["rss_before_kib"] = rss0;
  c["hwm_kib"] = status_kib("VmHWM:");
  out["compaction"] = c;
  out["hours"] = file_state(store, path);
  out["hours"]["vacuumed_bytes"] = vacuum_into(store, o.dir + "/vacuum-hours.db");
  out["verify_after_compaction_ok"] = must(verify_ledger(store), "verify").ok;
  for (const char* f : {"/vacuum-minutes.db", "/vacuum-events.db", "/vacuum-hours.db"})
    fs::remove(o.dir + f);

  out["commit_latency"] = commit_latency(o);
  std::printf("%s\n", out.dump().c_str());
  const auto& d = out["day"];
  std::fprintf(stderr,
               "ledger_cost: %llu rows, file %.1f MB (%.2f MB per LUN), writer CPU %.2f s, "
               "recorder CPU %.2f s; hours only %.2f MB vacuumed; commit p50 %.2f ms\n",
               static_cast<unsigned long long>(d["rows_committed"].get<std::uint64_t>()),
               out["minutes"]["file_bytes"].get<double>() / 1e6,
               out["minutes"]["file_bytes"].get<double>() / 1e6 / o.luns,
               d["writer_cpu_ns"].get<double>() / 1e9, d["recorder_cpu_ns"].get<double>() / 1e9,
               out["hours"]["vacuumed_bytes"].get<double>() / 1e6,
               out["commit_latency"]["one_row"]["p50_ms"].get<double>());
  return 0;
}
