// SPDX-License-Identifier: Apache-2.0
// Fault: the ledger's disk fills up (ENOSPC on a small tmpfs), is made
// read-only by the kernel (ext4 errors=remount-ro after write errors of the
// fault disk below it; repaired by umount, e2fsck, mount), or stalls (every
// I/O of the fault disk below it held). Stall detection, alerts and /metrics
// must not notice. Rows beyond the queue bound are dropped, counted and
// recorded as a gap (a `rows_dropped` row; unmeasured time in the report);
// the rows that were queued are written once the disk is back, with no
// restart; the ledger verifies.
#include <fmt/format.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cerrno>
#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <set>
#include <thread>

#include "agent_process.h"
#include "fault_disk.h"
#include "fault_row.h"
#include "http_listener.h"
#include "ledger/ledger_store.h"
#include "ledger_fs.h"
#include "metrics_text.h"
#include "privileged.h"
#include "process.h"
#include "stuck_read.h"
#include "test_util.h"

using namespace std::chrono_literals;
using sanwatch::test::AgentProcess;
using sanwatch::test::FaultDisk;
using sanwatch::test::HttpListener;
using json = nlohmann::json;

namespace {

constexpr double kStallS = 0.5;
constexpr int kQueue = 16;  // the smallest ledger.queue: a few stalls exceed it
using Disks = std::vector<std::unique_ptr<FaultDisk>>;

std::string config_for(const Disks& disks, const std::string& ledger, const std::string& am) {
  std::string names;
  for (const auto& d : disks)
    names += fmt::format("{}\"{}\"", names.empty() ? "" : ", ", d->loop_name());
  return fmt::format(
      "[devices]\ninclude = [{}]\n[thresholds]\nstall = \"500ms\"\nrecovery = \"300ms\"\n"
      "slow_io = \"200ms\"\nslow_window = \"1s\"\n[canary]\ntargets = \"none\"\n[metrics]\n"
      "listen = \"127.0.0.1:0\"\nrefresh = \"100ms\"\n[alerts]\nalertmanager_urls = [\"{}\"]\n"
      "[ledger]\npath = \"{}\"\nqueue = {}\n",
      names, am, ledger, kQueue);
}

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

// The ledger's metrics, from one scrape (which must answer).
struct LedgerMetrics {
  double up = -1, rows = -1, dropped = -1, write_errors = -1, queue = -1;
  double scrape_ms = 0;
};

LedgerMetrics ledger_metrics(AgentProcess& agent) {
  const auto t0 = std::chrono::steady_clock::now();
  const auto body = agent.scrape();
  LedgerMetrics m;
  m.scrape_ms = ms_since(t0);
  CHECK(body);
  const std::string text = body.value_or("");
  using sanwatch::test::metric_sample;
  m.up = metric_sample(text, "sanwatch_ledger_up");
  m.rows = metric_sample(text, "sanwatch_ledger_rows_total");
  m.dropped = metric_sample(text, "sanwatch_ledger_dropped_rows_total");
  m.write_errors = metric_sample(text, "sanwatch_ledger_write_errors_total");
  m.queue = metric_sample(text, "sanwatch_ledger_queue_rows");
  return m;
}

// The first state event of each disk entering `to` at or after events()[from].
std::vector<json> wait_all(AgentProcess& agent, const Disks& disks, const std::string& to,
                           std::size_t from) {
  const auto deadline = std::chrono::steady_clock::now() + 15s;
  for (;;) {
    std::vector<json> out;
    const auto& ev = agent.events();
    for (const auto& d : disks)
      for (std::size_t i = from; i < ev.size(); ++i)
        if (ev[i].value("event", "") == "state" && ev[i].value("target", "") == d->loop_name() &&
            ev[i].value("to", "") == to) {
          out.push_back(ev[i]);
          break;
        }
    if (out.size() == disks.size()) return out;
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    INFO("waiting for every watched disk to become " << to);
    REQUIRE(left.count() > 0);
    agent.wait_line([](const json& j) { return j.value("event", "") == "state"; }, left);
  }
}

// ms from a stalled event to the first Alertmanager POST naming its target.
std::optional<double> alert_ms(const HttpListener& am, const json& ev) {
  const auto mono = ev["mono_ns"].get<std::uint64_t>();
  const std::string needle = "\"" + ev["target"].get<std::string>() + "\"";
  std::optional<double> out;
  sanwatch::test::eventually(
      [&] {
        for (const auto& r : am.requests())
          if (r.first_byte_ns >= mono && r.body.find(needle) != std::string::npos) {
            out = (r.first_byte_ns - mono) / 1e6;
            return true;
          }
        return false;
      },
      5s, 10ms);
  return out;
}

struct Phase {
  std::vector<double> lag_ms, alert_ms, scrape_ms;
  std::set<std::uint64_t> state_mono;  // mono_ns of the phase's state events
};

// Every watched disk stalled at once (a stuck read each): their stalled
// events, a scrape while they are stalled, the alerts; then back to ok.
void stall_cycle(AgentProcess& agent, Disks& disks, const HttpListener& am, Phase& p) {
  const std::size_t mark = agent.events().size();
  std::vector<json> stalled;
  std::size_t released_at = 0;
  {
    std::vector<std::unique_ptr<sanwatch::test::StuckRead>> reads;
    for (auto& d : disks) reads.push_back(std::make_unique<sanwatch::test::StuckRead>(*d));
    stalled = wait_all(agent, disks, "stalled", mark);
    p.scrape_ms.push_back(ledger_metrics(agent).scrape_ms);
    released_at = agent.events().size();
  }
  wait_all(agent, disks, "ok", released_at);
  for (const json& ev : stalled) {
    p.lag_ms.push_back((ev["inflight_oldest_s"].get<double>() - kStallS) * 1e3);
    const auto a = alert_ms(am, ev);
    CHECK(a);
    if (a) p.alert_ms.push_back(*a);
  }
  const auto& ev = agent.events();
  for (std::size_t i = mark; i < ev.size(); ++i)
    if (ev[i].value("event", "") == "state")
      p.state_mono.insert(ev[i]["mono_ns"].get<std::uint64_t>());
}

Phase run_phase(AgentProcess& agent, Disks& disks, const HttpListener& am, int cycles) {
  Phase p;
  for (int i = 0; i < cycles; ++i) stall_cycle(agent, disks, am, p);
  return p;
}

struct Fault {
  std::string name, injected;
  std::string ledger;             // the ledger file
  std::function<void()> inject;   // the disk fails
  std::function<void()> recover;  // the disk is back (space freed, repaired, released)
  bool fails_commits = true;      // full and read-only fail commits; a stall holds them
  std::function<void(AgentProcess&)> after_inject = {};  // before any stall of the fault
};

// Whether the agent holds `file` open.
bool holds(AgentProcess& agent, const std::string& file) {
  const std::string fds = "/proc/" + std::to_string(agent.pid()) + "/fd";
  std::error_code ec;
  const auto path = std::filesystem::weakly_canonical(file, ec);
  for (const auto& e : std::filesystem::directory_iterator(fds, ec)) {
    std::error_code link_ec;
    if (std::filesystem::read_symlink(e.path(), link_ec) == path) return true;
  }
  return false;
}

// What the ledger holds of one run after it stopped.
struct LedgerFacts {
  std::size_t states = 0, states_of_fault = 0;  // state rows; those of the fault phase
  std::uint64_t gap_rows = 0, gap_states = 0;   // rows_dropped: rows and state rows it says
  std::size_t gap_records = 0;
  json gaps = json::array();  // the rows_dropped bodies
};

LedgerFacts read_ledger(const std::string& path, const std::string& run_id, const Phase& during) {
  auto store = sanwatch::LedgerStore::open(path, sanwatch::LedgerStore::Access::kReadOnly);
  REQUIRE(store);
  LedgerFacts f;
  auto states = store->select(sanwatch::kChainEvents, {"state"}, INT64_MIN, INT64_MAX);
  REQUIRE(states);
  for (const auto& r : *states) {
    if (r.body.value("run_id", "") != run_id) continue;
    ++f.states;
    f.states_of_fault += during.state_mono.count(r.body["mono_ns"].get<std::uint64_t>());
  }
  auto gaps = store->select(sanwatch::kChainEvents, {"rows_dropped"}, INT64_MIN, INT64_MAX);
  REQUIRE(gaps);
  for (const auto& r : *gaps) {
    if (r.body.value("run_id", "") != run_id) continue;
    ++f.gap_records;
    f.gap_rows += r.body["rows"].get<std::uint64_t>();
    f.gap_states += r.body["kinds"].value("state", std::uint64_t{0});
    f.gaps.push_back(r.body);
  }
  return f;
}

// Unmeasured ms the report shows inside the run (between its start and end).
double unmeasured_inside_run_ms(const std::string& ledger, const std::string& run_id) {
  auto r = sanwatch::test::run_command(
      {SANWATCH_BIN, "report", "--ledger", ledger, "--last", "1h", "--format", "json"}, 30s);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  const json rep = json::parse(r.out);
  std::int64_t start = 0, end = 0;
  for (const auto& run : rep["coverage"]["runs"])
    if (run["run_id"] == run_id) start = run["start_ms"], end = run["end_ms"];
  REQUIRE(end > start);
  double ms = 0;
  for (const auto& g : rep["coverage"]["gaps"]) {
    const auto a = std::max(g["start_ms"].get<std::int64_t>(), start);
    const auto b = std::min(g["end_ms"].get<std::int64_t>(), end);
    if (b > a) ms += static_cast<double>(b - a);
  }
  return ms;
}

std::string run_id_of(const AgentProcess& agent) {
  for (const auto& e : agent.events())
    if (e.value("msg", "") == "ledger enabled") return e.value("run_id", "");
  return "";
}

struct Cycles {
  int base, during, after;
};

}  // namespace

namespace {

struct Outcome {
  Phase base, during, after;
  LedgerMetrics fault_end, recovered, end;
  double recovery_ms = 0;  // disk back -> every queued row written
  LedgerFacts ledger;
  double unmeasured_ms = 0;
  std::size_t states = 0;  // state events the agent printed
};

// One agent on the faulty ledger: baseline stalls, the fault with stalls
// during it, the disk back, stalls after; then the ledger as it was left.
Outcome run_fault(const Fault& f, Disks& disks, const HttpListener& am, const Cycles& n) {
  Outcome o;
  AgentProcess agent(config_for(disks, f.ledger, am.url()));
  const std::string run_id = run_id_of(agent);
  REQUIRE(!run_id.empty());
  REQUIRE(sanwatch::test::eventually(
      [&] {
        const auto m = ledger_metrics(agent);
        return m.up == 1 && m.rows > 0;
      },
      10s, 100ms));
  o.base = run_phase(agent, disks, am, n.base);
  f.inject();
  if (f.after_inject) f.after_inject(agent);
  o.during = run_phase(agent, disks, am, n.during);
  o.fault_end = ledger_metrics(agent);
  const auto back = std::chrono::steady_clock::now();
  try {
    f.recover();
  } catch (const std::exception& e) {
    // What the writer said about it, for the failure message.
    std::string said;
    for (const auto& ev : agent.events())
      if (ev.value("msg", "").find("ledger") != std::string::npos) said += ev.dump() + "\n";
    // What it holds open and where its threads wait, too.
    const std::string pid = std::to_string(agent.pid());
    const auto held = sanwatch::test::run_command(
        {"sh", "-c", "ls -l /proc/" + pid + "/fd; grep -H . /proc/" + pid + "/task/*/wchan"});
    FAIL(e.what() << "\nthe agent's ledger lines:\n"
                  << said << "\nits files and threads:\n"
                  << held.out);
  }
  // Written without a restart: nothing waiting, more rows than before.
  REQUIRE(sanwatch::test::eventually(
      [&] {
        o.recovered = ledger_metrics(agent);
        return o.recovered.up == 1 && o.recovered.queue == 0 && o.recovered.rows > o.fault_end.rows;
      },
      20s, 50ms));
  o.recovery_ms = ms_since(back);
  o.after = run_phase(agent, disks, am, n.after);
  REQUIRE(sanwatch::test::eventually([&] { return ledger_metrics(agent).queue == 0; }, 5s, 50ms));
  o.end = ledger_metrics(agent);
  const auto& ev = agent.events();
  CHECK(std::any_of(ev.begin(), ev.end(), [](const json& e) {
    return e.value("msg", "").find("ledger queue accepting rows again") != std::string::npos;
  }));
  REQUIRE(agent.stop() == 0);
  for (const auto& e : agent.events()) o.states += e.value("event", "") == "state";
  auto verify =
      sanwatch::test::run_command({SANWATCH_BIN, "report", "verify", "--ledger", f.ledger}, 30s);
  INFO(verify.out << verify.err);
  CHECK(verify.exit_code == 0);
  o.ledger = read_ledger(f.ledger, run_id, o.during);
  o.unmeasured_ms = unmeasured_inside_run_ms(f.ledger, run_id);
  return o;
}

// What sanwatch must do under every sub-fault.
void check_outcome(const Fault& f, const Outcome& o) {
  const auto lb = sanwatch::test::spread(o.base.lag_ms),
             ld = sanwatch::test::spread(o.during.lag_ms),
             la = sanwatch::test::spread(o.after.lag_ms);
  CHECK(ld.max < lb.max + 250);
  CHECK(la.max < lb.max + 250);
  const auto ab = sanwatch::test::spread(o.base.alert_ms),
             ad = sanwatch::test::spread(o.during.alert_ms);
  CHECK(ad.max < ab.max + 250);
  for (double ms : o.during.scrape_ms) CHECK(ms < 1000);
  // Beyond the queue bound rows were dropped and counted, never more.
  CHECK(o.fault_end.dropped > 0);
  if (f.fails_commits) CHECK(o.fault_end.write_errors > 0);
  CHECK(o.end.dropped == o.recovered.dropped);  // none once the disk was back
  // The gap is on record: every dropped row in a rows_dropped row, and
  // every state change either in the ledger or counted there.
  CHECK(o.ledger.gap_rows == static_cast<std::uint64_t>(o.end.dropped));
  CHECK(o.ledger.states + o.ledger.gap_states == o.states);
  // Rows queued during the fault were written after it.
  CHECK(o.ledger.states_of_fault > 0);
  CHECK(o.unmeasured_ms > 0);
}

void print_row(const Fault& f, const Outcome& o) {
  using sanwatch::test::spread;
  using sanwatch::test::to_json;
  const auto lb = spread(o.base.lag_ms), ld = spread(o.during.lag_ms), la = spread(o.after.lag_ms);
  const auto ab = spread(o.base.alert_ms), ad = spread(o.during.alert_ms);
  const auto sd = spread(o.during.scrape_ms);
  const std::size_t fault_states = o.during.state_mono.size();
  const std::uint64_t dropped = static_cast<std::uint64_t>(o.end.dropped);
  WARN(fmt::format(
      "ledger disk {}: stall lag base {:.1f}/{:.1f}/{:.1f}, during {:.1f}/{:.1f}/{:.1f}, after "
      "{:.1f}/{:.1f}/{:.1f} ms; alert base max {:.1f}, during max {:.1f} ms; scrape during max "
      "{:.0f} ms; {} rows dropped ({} in {} rows_dropped rows), {} write errors; {} of {} state "
      "changes of the fault queued and written later; recovered in {:.0f} ms; report: {:.0f} ms "
      "unmeasured",
      f.name, lb.min, lb.median, lb.max, ld.min, ld.median, ld.max, la.min, la.median, la.max,
      ab.max, ad.max, sd.max, dropped, o.ledger.gap_rows, o.ledger.gap_records, o.end.write_errors,
      o.ledger.states_of_fault, fault_states, o.recovery_ms, o.unmeasured_ms));
  sanwatch::test::print_fault_row(
      "ledger disk full / read-only / stalled: " + f.name, f.injected,
      fmt::format("stall lag max {:.0f} / {:.0f} / {:.0f} ms (before/during/after), alerts max "
                  "{:.0f} / {:.0f} ms, /metrics answered (max {:.0f} ms); writes resumed {:.1f} s "
                  "after the disk came back, no restart; ledger verifies",
                  lb.max, ld.max, la.max, ab.max, ad.max, sd.max, o.recovery_ms / 1e3),
      fmt::format("{} rows beyond the queue bound ({}) dropped, counted and recorded "
                  "(rows_dropped: {} state changes; {:.1f} s unmeasured in the report); {} of {} "
                  "state changes of the fault queued and written later",
                  dropped, kQueue, o.ledger.gap_states, o.unmeasured_ms / 1e3,
                  o.ledger.states_of_fault, fault_states),
      {{"stall_lag_ms_before", to_json(lb)},
       {"stall_lag_ms_during", to_json(ld)},
       {"stall_lag_ms_after", to_json(la)},
       {"alert_ms_before", to_json(ab)},
       {"alert_ms_during", to_json(ad)},
       {"scrape_ms_during", to_json(sd)},
       {"queue_rows", kQueue},
       {"dropped_rows", dropped},
       {"rows_dropped_records", o.ledger.gap_records},
       {"write_errors", o.end.write_errors},
       {"fault_state_changes", fault_states},
       {"fault_state_changes_written_later", o.ledger.states_of_fault},
       {"recovery_ms", o.recovery_ms},
       {"unmeasured_ms_in_run", o.unmeasured_ms}});
}

}  // namespace

TEST_CASE(
    "faults: a full, read-only or stalled ledger disk never delays detection, drops are "
    "counted and recorded, writes resume when the disk is back") {
  sanwatch::test::require_privileged("ledger disk fault test");
  const bool full = sanwatch::test::full_fault_run();
  const Cycles n = full ? Cycles{3, 5, 3} : Cycles{1, 2, 1};
  Disks disks;
  for (int i = 0; i < 3; ++i) disks.push_back(std::make_unique<FaultDisk>());
  HttpListener am;

  {
    sanwatch::test::TmpfsLedger fs(16);
    std::uint64_t filler = 0;
    Fault f{"full", "", fs.path("ledger.db"), [&] { filler = fs.fill(); }, [&] { fs.unfill(); }};
    f.injected = fmt::format(
        "ledger on a 16 MiB tmpfs, a filler file to ENOSPC, {} stalls of 3 "
        "disks meanwhile, then the filler removed",
        n.during);
    const Outcome o = run_fault(f, disks, am, n);
    CHECK(filler > 0);
    check_outcome(f, o);
    print_row(f, o);
  }
  // Read-only at full scale only (bench/faults.sh), to keep CI short. It
  // once failed there (umount refused for 20 s): with no row to write, no
  // commit failed and the writer held the file. The writer now probes its
  // filesystem when idle; ledger_writer_test covers that in CI, with ext4's
  // error trigger.
  if (full) {
    sanwatch::test::Ext4Ledger fs;
    bool remount_refused = false;
    double umount_refused_ms = 0;
    Fault f{"read-only", "", fs.path("ledger.db"),
            [&] {
              // An operator's remount is refused while the agent holds the file.
              remount_refused =
                  sanwatch::test::run_command({"mount", "-o", "remount,ro", fs.dir()}).exit_code !=
                  0;
              fs.disk().add_eio_range(0, fs.disk().size_bytes(), "write");
              // The kernel makes it read-only at the first failed journal
              // write (within the 5 s commit interval); until then a write
              // fails only at fsync, with EIO.
              REQUIRE(sanwatch::test::eventually(
                  [&] { return sanwatch::test::write_errno(fs.dir()) == EROFS; }, 20s, 100ms));
            },
            [&] {
              fs.disk().clear_eio();
              umount_refused_ms = fs.repair(20s);
            }};
    // Before any stall of the fault: the agent must let go of the file
    // within its 3 s of failing (else the operator could not unmount and
    // repair the filesystem without stopping it). Rows come every minute
    // and after each recovery, so a commit usually fails first; an idle
    // writer (no commit failing) would hold the file until its next row.
    double let_go_ms = 0;
    f.after_inject = [&](AgentProcess& agent) {
      const double errors = ledger_metrics(agent).write_errors;
      const auto t0 = std::chrono::steady_clock::now();
      const bool let_go = sanwatch::test::eventually(
          [&] { return ledger_metrics(agent).up == 0 && !holds(agent, f.ledger); }, 10s, 50ms);
      if (!let_go) {
        std::string said;
        for (const auto& ev : agent.events())
          if (ev.value("msg", "").find("ledger") != std::string::npos) said += ev.dump() + "\n";
        FAIL("the agent held the read-only ledger for 10 s; up "
             << ledger_metrics(agent).up << ", held " << holds(agent, f.ledger)
             << "; its ledger lines:\n"
             << said);
      }
      let_go_ms = ms_since(t0);
      // A row due meanwhile (the minute's `alive`) would have failed a
      // commit and closed the file too; say which way it went.
      WARN((ledger_metrics(agent).write_errors == errors ? "idle" : "after a failed commit"));
    };
    f.injected = fmt::format(
        "ledger on ext4 (errors=remount-ro) on a fault disk failing every "
        "write, {} stalls of 3 disks meanwhile; then umount, e2fsck, mount",
        n.during);
    const Outcome o = run_fault(f, disks, am, n);
    CHECK(remount_refused);
    check_outcome(f, o);
    WARN(
        fmt::format("read-only: `mount -o remount,ro` refused: {}; the agent let go of the "
                    "file {:.0f} ms after the filesystem went read-only; umount waited {:.0f} "
                    "ms for the agent to let go",
                    remount_refused, let_go_ms, umount_refused_ms));
    print_row(f, o);
  }
  {
    sanwatch::test::Ext4Ledger fs;
    Fault f{"stalled",
            "",
            fs.path("ledger.db"),
            [&] { fs.disk().stall(); },
            [&] { fs.disk().release(); },
            false};
    f.injected = fmt::format(
        "ledger on ext4 on a fault disk holding every I/O, {} stalls of 3 disks meanwhile, then "
        "released",
        n.during);
    const Outcome o = run_fault(f, disks, am, n);
    check_outcome(f, o);
    print_row(f, o);
  }
}
