// SPDX-License-Identifier: Apache-2.0
// Fault: the Alertmanager black-holes TCP (accepts, never answers), then
// refuses connections, then answers 500, then is back. The agent's event
// loop must not wait on any of it (stall lag as with a healthy
// Alertmanager); the outage's alerts wait in the sink's queue, are retried
// with backoff and delivered at the first retry after the return, none lost
// below the queue bound. Above the bound (alerts.queue = 4) exactly the
// overflow is lost, counted in sanwatch_alert_dropped_total.
#include <fmt/format.h>
#include <signal.h>

#include <algorithm>
#include <array>
#include <catch2/catch.hpp>
#include <chrono>
#include <memory>
#include <set>
#include <thread>

#include "agent_process.h"
#include "black_hole.h"
#include "fault_disk.h"
#include "fault_row.h"
#include "http_listener.h"
#include "metrics_text.h"
#include "privileged.h"
#include "process.h"
#include "stall_probe.h"
#include "test_util.h"

using namespace std::chrono_literals;
using sanwatch::test::AgentProcess;
using sanwatch::test::FaultDisk;
using sanwatch::test::HttpListener;
using sanwatch::test::mono_now_ns;
using json = nlohmann::json;

namespace {

constexpr double kStallS = 0.5;
constexpr int kTimeoutMs = 1000;  // alerts.timeout: how long a black-holed POST hangs
constexpr int kSmallQueue = 4;
constexpr int kBackoffCapMs = 30000;  // the sink's documented retry backoff cap

int stalls_per_phase() { return sanwatch::test::full_fault_run() ? 5 : 2; }
int overflow_stalls() { return sanwatch::test::full_fault_run() ? 10 : 4; }

// log_level debug: every failed retry is logged with its backoff. resend
// 10m: what arrives comes from the retry queue, not the periodic re-send.
std::string config_for(const FaultDisk& d, const std::string& url, int queue) {
  return fmt::format(
      "log_level = \"debug\"\n[devices]\ninclude = [\"{}\"]\n[thresholds]\nstall = \"500ms\"\n"
      "recovery = \"200ms\"\nslow_io = \"200ms\"\nslow_window = \"100ms\"\n[canary]\n"
      "targets = \"none\"\n[metrics]\nlisten = \"127.0.0.1:0\"\nrefresh = \"100ms\"\n[alerts]\n"
      "alertmanager_urls = [\"{}\"]\ntimeout = \"{}ms\"\nresend = \"10m\"\nqueue = {}\n",
      d.loop_name(), url, kTimeoutMs, queue);
}

// The fake Alertmanager at one URL through every phase: a black hole, a
// closed port, an HTTP server answering a status. What the HTTP servers
// received is kept across their restarts.
class FakeAlertmanager {
 public:
  FakeAlertmanager() : port_(sanwatch::test::quiet_loopback_port()) {}
  std::string url() const { return fmt::format("http://127.0.0.1:{}", port_); }
  void black_hole() {
    close_http();
    hole_ = std::make_unique<sanwatch::test::BlackHole>(port_);
  }
  void refuse() {
    close_http();
    close_hole();
  }
  void answer(int status) {
    close_hole();
    if (!http_) http_ = std::make_unique<HttpListener>(port_);
    http_->set_status(status);
    http_->set_check_status(status);
  }
  // Connections the black hole took and never answered.
  int black_holed() const { return holed_ + (hole_ ? hole_->accepted() : 0); }
  std::vector<HttpListener::Request> requests() const {
    auto all = past_;
    if (http_)
      for (auto& r : http_->requests()) all.push_back(r);
    return all;
  }

 private:
  void close_http() {
    if (!http_) return;
    for (auto& r : http_->requests()) past_.push_back(r);
    http_.reset();
  }
  void close_hole() {
    holed_ = black_holed();
    hole_.reset();
  }
  int port_;
  int holed_ = 0;
  std::unique_ptr<HttpListener> http_;
  std::unique_ptr<sanwatch::test::BlackHole> hole_;
  std::vector<HttpListener::Request> past_;
};

std::string alert_name(std::string state) {
  state[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(state[0])));
  return "SanwatchDevice" + state;
}

// The alerts the agent's state events for `device` in events [from, to)
// make, in the sink's order: the old state's alert resolved, then the new
// state's firing (none for ok). Each as "<alertname> firing|resolved <ts>".
std::vector<std::string> expected_alerts(const AgentProcess& agent, std::size_t from,
                                         std::size_t to, const std::string& device) {
  std::vector<std::string> out;
  const auto& ev = agent.events();
  for (std::size_t i = from; i < std::min(to, ev.size()); ++i) {
    const json& e = ev[i];
    if (e.value("event", "") != "state" || e.value("target", "") != device) continue;
    const std::string was = e["from"], now = e["to"], ts = e["ts"];
    if (was != "ok") out.push_back(alert_name(was) + " resolved " + ts);
    if (now != "ok") out.push_back(alert_name(now) + " firing " + ts);
  }
  return out;
}

// The alerts for `device` one request carried, in its order.
std::vector<std::string> alerts_of(const HttpListener::Request& r, const std::string& device) {
  std::vector<std::string> out;
  for (const auto& a : json::parse(r.body)) {
    if (a["labels"].value("device", "") != device) continue;
    const std::string name = a["labels"].value("alertname", "");
    out.push_back(a.contains("endsAt") ? name + " resolved " + a["endsAt"].get<std::string>()
                                       : name + " firing " + a.value("startsAt", ""));
  }
  return out;
}

// The alerts for `device` in the POSTs answered 200 that began to arrive
// at or after from_ns, in the order received (a re-send repeats one).
std::vector<std::string> delivered_alerts(const FakeAlertmanager& am, std::uint64_t from_ns,
                                          const std::string& device) {
  std::vector<std::string> out;
  for (const auto& r : am.requests())
    if (r.status == 200 && r.first_byte_ns >= from_ns)
      for (auto& a : alerts_of(r, device)) out.push_back(std::move(a));
  return out;
}

// <name>{sink="alertmanager:<url>"} from a scrape of /metrics; -1 if absent.
double sink_metric(AgentProcess& agent, const std::string& name, const std::string& url) {
  return sanwatch::test::metric_sample(agent.scrape().value_or(""),
                                       name + "{sink=\"alertmanager:" + url + "\"}");
}

// Until the metric reads `want` (metrics are copied every refresh, 100 ms).
bool metric_reaches(AgentProcess& agent, const std::string& name, const std::string& url,
                    double want) {
  return sanwatch::test::eventually([&] { return sink_metric(agent, name, url) == want; }, 3s,
                                    50ms);
}

struct Phase {
  std::vector<double> lag_ms;
  std::size_t from = 0, to = 0;  // the phase's lines in agent.events()
};

Phase run_stalls(AgentProcess& agent, FaultDisk& disk, int n) {
  Phase p;
  p.from = agent.events().size();
  for (int i = 0; i < n; ++i)
    p.lag_ms.push_back(sanwatch::test::stall_lag_ms(agent, disk, kStallS));
  p.to = agent.events().size();
  return p;
}

// The agent's failed-delivery log lines (read so far) before `before_ns`:
// when each failed and the backoff it announced.
struct Failure {
  std::uint64_t at_ns;
  double retry_in_ms;
  std::string error;  // curl's text, or the HTTP status and body
};
std::vector<Failure> failures(const AgentProcess& agent, std::uint64_t before_ns) {
  std::vector<Failure> out;
  for (const auto& e : agent.events()) {
    const std::string msg = e.value("msg", "");
    if (msg != "alertmanager unreachable, retrying with backoff" &&
        msg != "alertmanager still unreachable")
      continue;
    if (e["mono_ns"].get<std::uint64_t>() < before_ns)
      out.push_back({e["mono_ns"].get<std::uint64_t>(), e["retry_in_ms"].get<double>(),
                     e.value("error", "")});
  }
  return out;
}

bool logged(const AgentProcess& agent, const std::string& msg) {
  for (const auto& e : agent.events())
    if (e.value("msg", "") == msg) return true;
  return false;
}

// When the POST (answered 200, since from_ns) that completed the delivery
// of everything in `want` began to arrive; nullopt while something is missing.
std::optional<std::uint64_t> completed_at(const FakeAlertmanager& am, std::uint64_t from_ns,
                                          const std::string& device,
                                          const std::vector<std::string>& want) {
  std::set<std::string> missing(want.begin(), want.end());
  for (const auto& r : am.requests()) {
    if (r.status != 200 || r.first_byte_ns < from_ns) continue;
    for (const auto& a : alerts_of(r, device)) missing.erase(a);
    if (missing.empty()) return r.first_byte_ns;
  }
  return missing.empty() ? std::optional<std::uint64_t>(from_ns) : std::nullopt;
}

// Waits up to the backoff cap and a request timeout for that.
std::optional<std::uint64_t> wait_delivered(const FakeAlertmanager& am, std::uint64_t from_ns,
                                            const std::string& device,
                                            const std::vector<std::string>& want) {
  std::optional<std::uint64_t> at;
  sanwatch::test::eventually(
      [&] { return (at = completed_at(am, from_ns, device, want)).has_value(); },
      std::chrono::milliseconds(kBackoffCapMs + kTimeoutMs + 3000), 20ms);
  return at;
}

void reload(AgentProcess& agent, const std::string& toml) {
  agent.rewrite_config(toml);
  agent.process().send_signal(SIGHUP);
  REQUIRE(agent.wait_log("configuration reloaded", 3s));
}

double ms_between(std::uint64_t from_ns, std::uint64_t to_ns) {
  return (static_cast<double>(to_ns) - static_cast<double>(from_ns)) / 1e6;
}

struct Outage {
  Phase base, hole, refused, failing;
  std::vector<std::string> alerts;           // what the outage's state events make
  double queued = 0;                         // sanwatch_alert_queue_length at its end
  int black_holed = 0;                       // POSTs that hung in the black hole
  int answered_500 = 0;                      // POSTs (retries) answered 500
  std::vector<double> gaps_500_ms;           // between the POSTs answered 500
  double failures = 0;                       // sanwatch_alert_failures_total
  double failed_attempts = 0;                // "reachable again" says how many in a row
  double backoff_ms = 0;                     // the retry delay in force at the return
  double first_post_ms = 0, deliver_ms = 0;  // return -> first POST answered 200, -> all delivered
  std::size_t delivered = 0, repeats = 0;    // outage alerts delivered; duplicates in all
  std::uint64_t phase_ns[3] = {};            // when the black hole, refusing, 500s began
  std::vector<double> backoffs_ms;           // each failure's announced retry delay, in order
  int failed_in[3] = {};                     // failed attempts logged per outage phase
  std::vector<std::string> errors;           // each failure's error, in order
};

// Black hole, refused, 500s: stalls in each; the outage's alerts queued,
// nothing dropped, no delivery.
void run_outage(AgentProcess& agent, FaultDisk& disk, FakeAlertmanager& am, Outage& o) {
  const std::string dev = disk.loop_name(), url = am.url();
  const int n = stalls_per_phase();
  o.base = run_stalls(agent, disk, n);
  // The healthy phase's alerts are through before the outage begins.
  REQUIRE(wait_delivered(am, 0, dev, expected_alerts(agent, 0, o.base.to, dev)));
  o.phase_ns[0] = mono_now_ns();
  am.black_hole();
  o.hole = run_stalls(agent, disk, n);
  o.phase_ns[1] = mono_now_ns();
  am.refuse();
  o.refused = run_stalls(agent, disk, n);
  const std::uint64_t t500 = o.phase_ns[2] = mono_now_ns();
  am.answer(500);
  o.failing = run_stalls(agent, disk, n);
  o.alerts = expected_alerts(agent, o.hole.from, o.failing.to, dev);
  CHECK(metric_reaches(agent, "sanwatch_alert_queue_length", url, o.alerts.size()));
  o.queued = sink_metric(agent, "sanwatch_alert_queue_length", url);
  CHECK(sink_metric(agent, "sanwatch_alert_dropped_total", url) == 0);
  CHECK(sink_metric(agent, "sanwatch_alert_sink_up", url) == 0);
  o.black_holed = am.black_holed();
  std::uint64_t last = 0;
  for (const auto& r : am.requests()) {
    if (r.status != 500 || r.first_byte_ns < t500) continue;
    ++o.answered_500;
    if (last) o.gaps_500_ms.push_back(ms_between(last, r.first_byte_ns));
    last = r.first_byte_ns;
  }
  CHECK(o.black_holed >= 1);
  CHECK(o.answered_500 >= 1);  // retried while it answered 500
}

// Back and answering 200: every alert of the outage delivered, in order,
// at the first retry after the return; nothing dropped.
void deliver_after_return(AgentProcess& agent, FaultDisk& disk, FakeAlertmanager& am, Outage& o) {
  const std::string dev = disk.loop_name(), url = am.url();
  const std::uint64_t back = mono_now_ns();
  am.answer(200);
  const auto at = wait_delivered(am, back, dev, o.alerts);
  REQUIRE(at);
  const auto again = agent.wait_log("alertmanager reachable again", 5s);
  REQUIRE(again);  // read the agent's lines this far: its failures before the return
  o.failed_attempts = (*again)["failed_attempts"].get<double>();
  // Every failure of the outage; the last one's retry is the one that was due.
  const auto fails = failures(agent, (*again)["mono_ns"].get<std::uint64_t>());
  REQUIRE(!fails.empty());
  // The black hole was given up at the agent's own request timeout.
  CHECK(std::any_of(fails.begin(), fails.end(), [](const Failure& f) {
    return f.error.find("timed out") != std::string::npos;
  }));
  o.backoff_ms = fails.back().retry_in_ms;
  for (const auto& f : fails) {
    o.backoffs_ms.push_back(f.retry_in_ms);
    o.errors.push_back(f.error.substr(0, 60));
    ++o.failed_in[f.at_ns >= o.phase_ns[2] ? 2 : f.at_ns >= o.phase_ns[1] ? 1 : 0];
  }
  const double due_ms =
      std::max(0.0, ms_between(back, fails.back().at_ns) + fails.back().retry_in_ms);
  o.deliver_ms = ms_between(back, *at);
  for (const auto& r : am.requests())
    if (r.status == 200 && r.first_byte_ns >= back) {
      o.first_post_ms = ms_between(back, r.first_byte_ns);
      break;
    }
  CHECK(o.deliver_ms <= due_ms + 1500);  // the retry that was due, not a later one
  CHECK(o.backoff_ms <= kBackoffCapMs);
  // Once each, in the order of the state changes (one FIFO queue).
  CHECK(delivered_alerts(am, back, dev) == o.alerts);
  o.delivered = o.alerts.size();
  const auto all = delivered_alerts(am, 0, dev);
  const auto want = expected_alerts(agent, 0, o.failing.to, dev);
  CHECK(std::set<std::string>(all.begin(), all.end()) ==
        std::set<std::string>(want.begin(), want.end()));
  o.repeats = all.size() - std::set<std::string>(all.begin(), all.end()).size();
  CHECK(metric_reaches(agent, "sanwatch_alert_queue_length", url, 0));
  CHECK(sink_metric(agent, "sanwatch_alert_dropped_total", url) == 0);
  CHECK(sink_metric(agent, "sanwatch_alert_sink_up", url) == 1);
  // The counter counts alerts, as the Alertmanager received them (2xx).
  std::size_t accepted = 0;
  for (const auto& r : am.requests())
    if (r.status == 200) accepted += json::parse(r.body).size();
  CHECK(metric_reaches(agent, "sanwatch_alert_deliveries_total", url, accepted));
  o.failures = sink_metric(agent, "sanwatch_alert_failures_total", url);
  CHECK(o.failures >= o.failed_attempts);
}

struct Overflow {
  Phase stalls;
  std::vector<std::string> alerts, kept;  // produced while refused; delivered after
  double dropped = 0, deliver_ms = 0;
};

// alerts.queue = 4, refused: more alerts than the queue holds. Exactly the
// overflow is lost and counted; the newest four survive (one device: every
// eviction takes the oldest entry not on the wire).
void run_overflow(AgentProcess& agent, FaultDisk& disk, FakeAlertmanager& am, Overflow& o) {
  const std::string dev = disk.loop_name(), url = am.url();
  reload(agent, config_for(disk, url, kSmallQueue));
  am.refuse();
  o.stalls = run_stalls(agent, disk, overflow_stalls());
  o.alerts = expected_alerts(agent, o.stalls.from, o.stalls.to, dev);
  REQUIRE(o.alerts.size() > std::size_t{kSmallQueue});
  const double lost = static_cast<double>(o.alerts.size() - kSmallQueue);
  CHECK(metric_reaches(agent, "sanwatch_alert_dropped_total", url, lost));
  CHECK(metric_reaches(agent, "sanwatch_alert_queue_length", url, kSmallQueue));
  const std::uint64_t back = mono_now_ns();
  am.answer(200);
  const std::vector<std::string> newest(o.alerts.end() - kSmallQueue, o.alerts.end());
  const auto at = wait_delivered(am, back, dev, newest);
  REQUIRE(at);
  o.deliver_ms = ms_between(back, *at);
  REQUIRE(agent.wait_log("alertmanager reachable again", 5s));
  std::this_thread::sleep_for(300ms);  // anything more would have arrived by now
  o.kept = delivered_alerts(am, back, dev);
  CHECK(o.kept == newest);
  o.dropped = sink_metric(agent, "sanwatch_alert_dropped_total", url);
  CHECK(o.dropped == lost);
  CHECK(logged(agent, "alertmanager: queue full, dropping alerts"));
}

// SIGTERM while a POST hangs in the black hole: the agent gives the POST
// what is left of one request timeout (at most 2 s), then exits 0.
// Returns the seconds SIGTERM -> exit.
double stop_in_black_hole(AgentProcess& agent, FaultDisk& disk, FakeAlertmanager& am) {
  am.black_hole();
  const int before = am.black_holed();
  sanwatch::test::stall_lag_ms(agent, disk, kStallS);
  REQUIRE(sanwatch::test::eventually([&] { return am.black_holed() > before; }, 5s, 10ms));
  const auto t0 = std::chrono::steady_clock::now();
  CHECK(agent.stop() == 0);
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// The figures in one sentence, for the CI log.
void warn_summary(const Outage& o, const Overflow& v,
                  const std::array<sanwatch::test::Spread, 5>& lag, double stop_s, double took_s) {
  const auto gaps = sanwatch::test::spread(o.gaps_500_ms);
  WARN(fmt::format(
      "Alertmanager outage: {} alerts queued (queue length {}), {} POSTs black-holed, {} retries "
      "answered 500 (gaps {:.0f} / {:.0f} / {:.0f} ms), {} failed attempts in a row, backoff "
      "{:.0f} ms at the return; first POST {:.0f} ms and all delivered {:.0f} ms after the return; "
      "stall lag max {:.1f} / {:.1f} / {:.1f} / {:.1f} / {:.1f} ms "
      "(healthy/hole/refused/500/overflow); "
      "queue {}: {} produced, {} dropped, newest {} delivered {:.0f} ms after the return; SIGTERM "
      "with a POST in the black hole: exit after {:.2f} s; {:.1f} s",
      o.alerts.size(), o.queued, o.black_holed, o.answered_500, gaps.min, gaps.median, gaps.max,
      o.failed_attempts, o.backoff_ms, o.first_post_ms, o.deliver_ms, lag[0].max, lag[1].max,
      lag[2].max, lag[3].max, lag[4].max, kSmallQueue, v.alerts.size(), v.dropped, v.kept.size(),
      v.deliver_ms, stop_s, took_s));
}

// Lags: healthy, black hole, refusing, 500, overflow (refusing).
void print_row(const Outage& o, const Overflow& v, const std::array<sanwatch::test::Spread, 5>& lag,
               double stop_s, double took_s) {
  namespace t = sanwatch::test;
  warn_summary(o, v, lag, stop_s, took_s);
  const auto gaps = t::spread(o.gaps_500_ms);
  t::print_fault_row(
      "Alertmanager black hole / refusing / answering 500",
      fmt::format("one Alertmanager URL: accepts and never answers, port closed, HTTP 500 ({} "
                  "stalls each, alerts.timeout {} ms), then 200; then alerts.queue = {} and {} "
                  "stalls while refused",
                  stalls_per_phase(), kTimeoutMs, kSmallQueue, overflow_stalls()),
      fmt::format("stall lag max {:.0f} / {:.0f} / {:.0f} / {:.0f} ms (healthy/hole/refused/500); "
                  "all {} outage alerts delivered in order {:.0f} ms after the return (backoff "
                  "then {:.0f} ms); {} dropped and counted above the bound",
                  lag[0].max, lag[1].max, lag[2].max, lag[3].max, o.alerts.size(), o.deliver_ms,
                  o.backoff_ms, v.dropped),
      fmt::format("nothing below the queue bound; above it exactly produced - {} = {} (the oldest)",
                  kSmallQueue, v.dropped),
      {{"alerts_produced", o.alerts.size()},
       {"alerts_queued", o.queued},
       {"alerts_delivered", o.delivered},
       {"alerts_dropped", 0},
       {"repeats_delivered", o.repeats},
       {"stall_lag_ms_healthy", to_json(lag[0])},
       {"stall_lag_ms_black_hole", to_json(lag[1])},
       {"stall_lag_ms_refused", to_json(lag[2])},
       {"stall_lag_ms_500", to_json(lag[3])},
       {"stall_lag_ms_overflow", to_json(lag[4])},
       {"first_post_after_return_ms", o.first_post_ms},
       {"delivered_after_return_ms", o.deliver_ms},
       {"retry",
        {{"black_holed_posts", o.black_holed},
         {"answered_500", o.answered_500},
         {"failed_attempts", o.failed_attempts},
         {"failures_total", o.failures},
         {"failed_black_hole", o.failed_in[0]},
         {"failed_refused", o.failed_in[1]},
         {"failed_500", o.failed_in[2]},
         {"backoff_at_return_ms", o.backoff_ms}}},
       {"gap_ms_500", to_json(gaps)},
       {"backoff_ms_sequence", o.backoffs_ms},
       {"errors", o.errors},
       {"overflow",
        {{"queue", kSmallQueue},
         {"produced", v.alerts.size()},
         {"dropped", v.dropped},
         {"delivered", v.kept.size()},
         {"delivered_after_return_ms", v.deliver_ms}}},
       {"stop_with_post_in_black_hole_s", stop_s},
       {"test_s", took_s}});
}

}  // namespace

TEST_CASE(
    "faults: Alertmanager black-holing, refusing, answering 500: the event loop never waits, "
    "alerts delivered on its return, overflow counted") {
  sanwatch::test::require_privileged("alertmanager fault test");
  const auto t0 = std::chrono::steady_clock::now();
  FakeAlertmanager am;
  am.answer(200);
  FaultDisk disk;
  AgentProcess agent(config_for(disk, am.url(), 1000));
  Outage o;
  run_outage(agent, disk, am, o);
  deliver_after_return(agent, disk, am, o);
  Overflow v;
  run_overflow(agent, disk, am, v);
  CHECK(agent.process().running());
  const double stop_s = stop_in_black_hole(agent, disk, am);
  CHECK(stop_s < kTimeoutMs / 1e3 + 1.0);

  namespace t = sanwatch::test;
  const auto lb = t::spread(o.base.lag_ms), lh = t::spread(o.hole.lag_ms),
             lr = t::spread(o.refused.lag_ms), lf = t::spread(o.failing.lag_ms),
             lv = t::spread(v.stalls.lag_ms);
  for (const auto& l : {lh, lr, lf, lv}) CHECK(l.max < lb.max + 250);
  const double took_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  print_row(o, v, {lb, lh, lr, lf, lv}, stop_s, took_s);
}
