// SPDX-License-Identifier: Apache-2.0
#include "ledger/recorder.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>

namespace sanwatch {
namespace {

// A change of (wall - monotonic) between two samples beyond this is a step
// of the wall clock, not NTP's slewing (at most 0.5 ms a second).
constexpr std::int64_t kClockStepNs = 2'000'000'000;

}  // namespace

struct LedgerRecorder::Incident {
  std::string id;
  TargetIdentity identity;
  Health first = Health::kOk, worst = Health::kOk;
  std::uint64_t detected_mono = 0;
  nlohmann::json changes = nlohmann::json::array();
  Impairment imp;
};

struct LedgerRecorder::Book {
  explicit Book(std::vector<std::uint64_t> slo) : minutes(std::move(slo)) {}
  MinuteBook minutes;
  Health state = Health::kOk;
  std::optional<Incident> incident;
};

TargetCounters counters_of(const TargetSnapshot& t) {
  TargetCounters c;
  if (t.io) {
    OpStats all = t.io->all();
    c.ios = all.count;
    for (int i = 0; i < kNrSlo && t.io->slo_ns[i]; ++i) c.slo_over.push_back(all.slo_over[i]);
    // Only where latency histograms are exported (paths with path_histograms).
    if (t.histograms) c.lat = std::move(all.total);
  }
  if (t.canary) {
    c.canary_probes = t.canary->reads;
    c.canary_failures = t.canary->errors + t.canary->timeouts;
  }
  return c;
}

LedgerRecorder::LedgerRecorder(RunInfo info, Push push, std::int64_t minute_lag_ms)
    : info_(std::move(info)), push_(std::move(push)), lag_ms_(minute_lag_ms) {}

LedgerRecorder::~LedgerRecorder() = default;

LedgerRecorder::Book& LedgerRecorder::book(const std::string& label) {
  auto& b = books_[label];
  if (!b) b = std::make_unique<Book>(info_.latency_slos_ns);
  return *b;
}

std::int64_t LedgerRecorder::wall_of(std::uint64_t mono_ns) const {
  return (static_cast<std::int64_t>(mono_ns) + offset_ns_) / 1'000'000;
}

void LedgerRecorder::emit(std::string chain, std::string kind, std::int64_t ts_ms,
                          std::string target, nlohmann::json body) {
  body["run_id"] = info_.run_id;
  push_(LedgerRow{std::move(chain), 0, std::move(kind), ts_ms, std::move(target), std::move(body)});
}

void LedgerRecorder::start(std::int64_t wall_ms, std::uint64_t mono_ns) {
  offset_ns_ = wall_ms * 1'000'000 - static_cast<std::int64_t>(mono_ns);
  emit(kChainEvents, "start", wall_ms, "",
       {{"host", info_.host},
        {"version", info_.version},
        {"kernel", info_.kernel},
        {"boot_id", info_.boot_id},
        {"config", info_.config_source},
        {"config_sha256", info_.config_sha256},
        {"latency_slos_ns", info_.latency_slos_ns},
        {"mono_ns", mono_ns}});
}

void LedgerRecorder::on_state(const StateChange& c) {
  Book& b = book(c.target.label);
  const std::int64_t ts = wall_of(c.mono_ns);
  if (!b.minutes.begun()) {
    auto it = latest_.find(c.target.label);
    b.minutes.begin(ts, c.transition.from,
                    it != latest_.end() ? it->second.counters : TargetCounters{});
  }
  b.minutes.state_changed(ts, c.transition.to);
  b.state = c.transition.to;
  emit(kChainEvents, "state", ts, c.target.label, nlohmann::json(state_json(c)));
  if (!b.incident && c.transition.to != Health::kOk) open_incident(b, c);
  if (!b.incident) return;
  Incident& inc = *b.incident;
  inc.identity = c.target;
  inc.imp = c.transition.impairment;
  inc.worst = std::max(inc.worst, c.transition.to);
  inc.changes.push_back(
      {{"ts_ms", ts}, {"from", c.from()}, {"to", c.to()}, {"reason", c.transition.reason}});
  if (c.transition.to == Health::kOk) close_incident(b, c.mono_ns, "recovered");
}

namespace {

// Ledger bodies hold integers only: ns, and ratios in thousandths.
std::int64_t rounded(double v) { return static_cast<std::int64_t>(std::llround(v)); }

}  // namespace

void LedgerRecorder::on_baseline(const BaselineEvent& e) {
  nlohmann::json body{{"state", e.degraded ? "degraded" : "normal"},
                      {"target_type", e.target.type},
                      {"identity", identity_json(e.target)},
                      {"reason", e.reason},
                      {"since_ms", e.since_ms},
                      {"p50_ns", rounded(e.p50_ns)},
                      {"p99_ns", rounded(e.p99_ns)},
                      {"baseline_p50_ns", rounded(e.baseline_p50_ns)},
                      {"baseline_p99_ns", rounded(e.baseline_p99_ns)},
                      {"ratio_p50_milli", rounded(e.ratio_p50 * 1000)},
                      {"ratio_p99_milli", rounded(e.ratio_p99 * 1000)},
                      {"peak_ratio_milli", rounded(e.peak_ratio * 1000)},
                      {"window_ios", e.window_ios},
                      {"periods", e.periods},
                      {"factor_milli", rounded(e.factor * 1000)},
                      {"window_ms", e.window_ms},
                      {"hold_ms", e.hold_ms}};
  if (e.restored) body["restored"] = true;
  emit(kChainEvents, "baseline", e.wall_ms, e.target.label, std::move(body));
}

void LedgerRecorder::open_incident(Book& b, const StateChange& c) {
  Incident inc;
  inc.id = info_.run_id.substr(0, 12) + "-" + std::to_string(++incidents_);
  inc.identity = c.target;
  inc.first = c.transition.to;
  inc.detected_mono = c.mono_ns;
  inc.imp = c.transition.impairment;
  const Span& s = !inc.imp.hard.empty() ? inc.imp.hard : inc.imp.slow;
  const std::int64_t detected = wall_of(c.mono_ns);
  const std::int64_t began = s.empty() ? detected : wall_of(s.start_ns);
  emit(kChainEvents, "incident_open", began, c.target.label,
       {{"id", inc.id},
        {"host", info_.host},
        {"target_type", c.target.type},
        {"identity", identity_json(c.target)},
        {"state", c.to()},
        {"detected_ms", detected},
        {"impairment_start_ms", began}});
  b.incident = std::move(inc);
}

nlohmann::json LedgerRecorder::span_json(const Span& s) const {
  const std::int64_t a = wall_of(s.start_ns), z = wall_of(s.end_ns);
  return {{"start_ms", a},
          {"end_ms", z},
          {"start", utc_ms(a)},
          {"end", utc_ms(z)},
          {"start_mono_ns", s.start_ns},
          {"end_mono_ns", s.end_ns},
          // From the ms fields, so durations add up exactly to what reports
          // compute from start_ms and end_ms; the ns fields keep the precision.
          {"duration_ms", z - a}};
}

// Paths, target ports and arrays behind the incident's target, from the
// last sample: a map's come from its paths.
void LedgerRecorder::related(const Book& b, nlohmann::json& body) const {
  const TargetIdentity& id = b.incident->identity;
  std::vector<std::string> paths, ports, arrays, array_ids, serials;
  const auto add = [](std::vector<std::string>& v, const std::string& s) {
    if (!s.empty() && std::find(v.begin(), v.end(), s) == v.end()) v.push_back(s);
  };
  for (const auto& [label, t] : latest_) {
    const bool mine = label == id.label || (id.type == "map" && t.map == id.label);
    if (!mine || t.target_type != "path") continue;
    add(paths, label);
    add(ports, t.target_port);
    add(arrays, t.array);
    add(array_ids, t.array_id);
    add(serials, t.serial);
  }
  add(ports, id.target_port);
  add(arrays, id.array);
  add(array_ids, id.array_id);
  add(serials, id.serial);
  body["paths"] = paths;
  body["target_ports"] = ports;
  body["array"] = arrays.empty() ? "" : arrays.front();
  // The array's own identifier (WWNN, IQN, NQN) when known: with `array`,
  // the key the fleet rules and reports group by.
  if (!array_ids.empty()) body["array_id"] = array_ids.front();
  // The LUN's serial from VPD 0x80, as its paths report it (a map has none).
  body["serial"] = serials.empty() ? "" : serials.front();
}

nlohmann::json LedgerRecorder::incident_body(const Book& b, std::uint64_t end_mono,
                                             const char* closed_by) const {
  const Incident& inc = *b.incident;
  const Impairment& imp = inc.imp;
  const bool down = is_down_state(health_name(inc.worst));
  // What availability counts: the hard evidence; a slow incident's own span;
  // the detection period when neither exists (should not happen).
  Span basis = down ? imp.hard : imp.slow;
  std::string basis_name = down ? "hard" : "slow";
  if (basis.empty()) {
    basis = Span{inc.detected_mono, end_mono};
    basis_name = "detection";
  }
  nlohmann::json body{{"id", inc.id},
                      {"host", info_.host},
                      {"target_type", inc.identity.type},
                      {"identity", identity_json(inc.identity)},
                      {"first_state", health_name(inc.first)},
                      {"worst_state", health_name(inc.worst)},
                      {"impairment", span_json(basis)},
                      {"ongoing", imp.ongoing && std::string(closed_by) != "recovered"},
                      {"basis", basis_name},
                      {"peak_oldest_ms", imp.peak_oldest_ns / 1'000'000},
                      {"max_latency_ms", imp.max_latency_ns / 1'000'000},
                      {"io_errors", imp.errors},
                      {"canary_failures", imp.canary_failures},
                      {"closed_by", closed_by}};
  if (!imp.slow.empty()) body["slow_impairment"] = span_json(imp.slow);
  nlohmann::json det{{"start_ms", wall_of(inc.detected_mono)},
                     {"end_ms", wall_of(end_mono)},
                     {"start", utc_ms(wall_of(inc.detected_mono))},
                     {"end", utc_ms(wall_of(end_mono))},
                     {"changes", inc.changes}};
  if (imp.stall_crossed_ns) det["stall_crossed_ms"] = wall_of(imp.stall_crossed_ns);
  body["detection"] = std::move(det);
  related(b, body);
  return body;
}

void LedgerRecorder::close_incident(Book& b, std::uint64_t end_mono, const char* closed_by) {
  auto body = incident_body(b, end_mono, closed_by);
  const std::int64_t began = body["impairment"]["start_ms"].get<std::int64_t>();
  if (body["basis"] == "hard")
    b.minutes.impaired({began, body["impairment"]["end_ms"].get<std::int64_t>()});
  b.minutes.set_open_impairment(std::nullopt);
  emit(kChainEvents, "incident", began, b.incident->identity.label, std::move(body));
  b.incident.reset();
}

nlohmann::json LedgerRecorder::minute_identity(const std::string& label) const {
  nlohmann::json j{{"target_type", "device"}};
  auto it = latest_.find(label);
  if (it == latest_.end()) return j;
  const Seen& t = it->second;
  j["target_type"] = t.target_type;
  j["device"] = t.name;
  for (const auto& [k, v] : {std::pair{"wwid", &t.wwid},
                             {"dm_name", &t.dm_name},
                             {"map", &t.map},
                             {"array", &t.array},
                             {"array_id", &t.array_id},
                             {"target_port", &t.target_port}})
    if (!v->empty()) j[k] = *v;
  return j;
}

void LedgerRecorder::write_minutes(std::int64_t now_ms, bool final) {
  for (auto& [label, b] : books_) write_book_minutes(label, *b, now_ms, final);
}

void LedgerRecorder::write_book_minutes(const std::string& label, Book& b, std::int64_t now_ms,
                                        bool final) {
  for (auto& m : b.minutes.take(now_ms, lag_ms_, final)) {
    m.update(minute_identity(label));
    const std::int64_t ts = m["minute_ms"].get<std::int64_t>();
    emit(kChainMinutes, "minute", ts, label, std::move(m));
  }
}

// The wall clock was stepped: the target's minutes so far are written as
// they stand at the step, on the wall clock they were counted on (as at a
// stop), and counting starts again on the new one (as at a start). Without
// this, a step back held every minute row back until the clock came round
// again (an hour of I/O in one minute), and a step forward filled the
// skipped hour with minutes in the state of the moment (an hour of stall
// that never was).
void LedgerRecorder::restart_minutes(const std::string& label, Book& b, std::int64_t before_ms,
                                     std::int64_t after_ms, const TargetCounters& c) {
  b.minutes.sample(before_ms, c);
  write_book_minutes(label, b, before_ms, true);
  b.minutes.begin(after_ms, b.state, c);
}

void LedgerRecorder::stop(const std::vector<TargetSnapshot>& targets, std::int64_t wall_ms,
                          std::uint64_t mono_ns) {
  sample(targets, wall_ms, mono_ns);
  for (auto& [label, b] : books_)
    if (b->incident) close_incident(*b, mono_ns, "agent_stop");
  write_minutes(wall_ms, true);
  emit(kChainEvents, "stop", wall_ms, "", {{"mono_ns", mono_ns}});
}

void LedgerRecorder::sample(const std::vector<TargetSnapshot>& targets, std::int64_t wall_ms,
                            std::uint64_t mono_ns) {
  const std::int64_t offset = wall_ms * 1'000'000 - static_cast<std::int64_t>(mono_ns);
  const bool stepped = std::llabs(offset - offset_ns_) > kClockStepNs;
  const std::int64_t before_step_ms = wall_of(mono_ns);  // now, on the old wall clock
  offset_ns_ = offset;
  for (const TargetSnapshot& t : targets) {
    TargetCounters c = counters_of(t);
    LatencyHistogram lat = std::move(c.lat);  // kept out of latest_: not copied every second
    latest_[t.label] = Seen{t.name,  t.target_type, t.wwid,        t.dm_name, t.map,
                            t.array, t.array_id,    t.target_port, t.serial,  c};
    if (latency_ && !lat.empty()) latency_(t, lat, wall_ms);
    c.lat = std::move(lat);
    Book& b = book(t.label);
    if (stepped && b.minutes.begun()) restart_minutes(t.label, b, before_step_ms, wall_ms, c);
    if (!b.minutes.begun()) b.minutes.begin(wall_ms, b.state, c);
    b.minutes.sample(wall_ms, std::move(c));
    if (b.incident) {
      b.incident->imp = t.impairment;
      const Span& h = t.impairment.hard;
      b.minutes.set_open_impairment(
          h.empty() ? std::nullopt
                    : std::optional(WallSpan{wall_of(h.start_ns), wall_of(h.end_ns)}));
    }
  }
  write_minutes(wall_ms, false);
  const std::int64_t minute = wall_ms - wall_ms % MinuteBook::kMinute;
  if (minute != last_alive_minute_) {
    last_alive_minute_ = minute;
    emit(kChainMinutes, "alive", wall_ms, "", {{"targets", targets.size()}});
  }
}

}  // namespace sanwatch
