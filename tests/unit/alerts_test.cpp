// SPDX-License-Identifier: Apache-2.0
// Alert sinks, the pure part: the event -> alert mapping, the firing-alert
// book and the bounded queue. No sockets, threads or root.
#include <algorithm>
#include <catch2/catch.hpp>
#include <string>

#include "alerts_test_util.h"
#include "exporters/alertmanager.h"

using namespace alerts_test;
using sanwatch::Alert;
using sanwatch::AlertBook;
using sanwatch::AlertContext;
using sanwatch::AlertQueue;

TEST_CASE("alerts: alertname and severity per target type and state") {
  CHECK(sanwatch::alert_name("device", "stalled") == "SanwatchDeviceStalled");
  CHECK(sanwatch::alert_name("path", "failed") == "SanwatchPathFailed");
  CHECK(sanwatch::alert_name("map", "degraded") == "SanwatchMapDegraded");
  CHECK(sanwatch::alert_name("path", "flapping") == "SanwatchPathFlapping");
  for (const char* s : {"stalled", "failed", "gone", "down"})
    CHECK(sanwatch::alert_severity(s) == "critical");
  for (const char* s : {"slow", "degraded", "flapping"})
    CHECK(sanwatch::alert_severity(s) == "warning");
}

TEST_CASE("alerts: a firing alert carries identity labels and evidence annotations") {
  auto ev = event("loop3", "device", "ok", "stalled", "2026-11-23T15:43:42.123456Z",
                  {{"dm_name", "mpatha"}, {"wwid", "3600a0b80"}, {"last_error", "ioerr"}});
  auto a = sanwatch::alert_for(ev, "stalled", kCtx);
  REQUIRE(a);
  CHECK(a->labels == sanwatch::AlertLabels{{"alertname", "SanwatchDeviceStalled"},
                                           {"severity", "critical"},
                                           {"instance", "db01"},  // computed beats static
                                           {"device", "loop3"},
                                           {"dm_name", "mpatha"},
                                           {"wwid", "3600a0b80"},
                                           {"env", "prod"}});
  CHECK(a->starts_at == "2026-11-23T15:43:42.123456Z");
  CHECK(a->ends_at.empty());
  CHECK_FALSE(a->resolved());
  CHECK(a->annotations.at("reason") == "it happened");
  CHECK(a->annotations.at("summary") == "Device loop3 (mpatha) on db01 is stalled: it happened");
  CHECK(a->annotations.at("max_latency_s") == "0.612346");
  CHECK(a->annotations.at("inflight_oldest_s") == "0.75");
  CHECK(a->annotations.at("ios") == "12");
  CHECK(a->annotations.at("last_error") == "ioerr");
  CHECK(a->annotations.at("major_minor") == "7:3");
  for (const char* k : {"ts", "mono_ns", "event", "from", "to", "target", "device", "wwid"})
    CHECK(a->annotations.count(k) == 0);
  CHECK_FALSE(sanwatch::alert_for(ev, "ok", kCtx));
}

TEST_CASE("alerts: paths and maps are labelled by their type, with array and port") {
  auto ev = event("sdb", "path", "ok", "failed", "2026-11-23T15:43:42.123456Z",
                  {{"map", "mpatha"}, {"array", "pure-01"}, {"target_port", "ct0.fc1"}});
  auto a = sanwatch::alert_for(ev, "failed", kCtx);
  REQUIRE(a);
  CHECK(a->labels.at("alertname") == "SanwatchPathFailed");
  CHECK(a->labels.at("path") == "sdb");
  CHECK(a->labels.at("map") == "mpatha");
  CHECK(a->labels.at("array") == "pure-01");
  CHECK(a->labels.at("target_port") == "ct0.fc1");
  CHECK(a->labels.count("device") == 0);
  CHECK(a->annotations.at("summary") == "Path sdb of mpatha on db01 is failed: it happened");
  auto m = sanwatch::alert_for(event("mpatha", "map", "ok", "degraded", "t", {{"valid_paths", 1}}),
                               "degraded", kCtx);
  REQUIRE(m);
  CHECK(m->labels.at("alertname") == "SanwatchMapDegraded");
  CHECK(m->labels.at("severity") == "warning");
  CHECK(m->labels.at("map") == "mpatha");
  CHECK(m->annotations.at("valid_paths") == "1");
}

TEST_CASE("alerts: a transition resolves the old state's alert, then fires the new one") {
  const std::string t1 = "2026-11-23T15:43:42.000001Z";
  auto fire = sanwatch::transition_alerts(event("loop3", "device", "ok", "slow", t1), kCtx);
  REQUIRE(fire.size() == 1);
  CHECK(fire[0].labels.at("alertname") == "SanwatchDeviceSlow");
  CHECK(fire[0].starts_at == t1);

  auto both = sanwatch::transition_alerts(event("loop3", "device", "slow", "stalled", t1), kCtx);
  REQUIRE(both.size() == 2);
  CHECK(both[0].labels.at("alertname") == "SanwatchDeviceSlow");
  CHECK(both[0].ends_at == t1);
  CHECK(both[0].resolved());
  CHECK(both[1].labels.at("alertname") == "SanwatchDeviceStalled");
  CHECK(both[1].starts_at == t1);
  CHECK_FALSE(both[1].resolved());

  auto back = sanwatch::transition_alerts(event("loop3", "device", "stalled", "ok", t1), kCtx);
  REQUIRE(back.size() == 1);
  CHECK(back[0].labels.at("alertname") == "SanwatchDeviceStalled");
  CHECK(back[0].ends_at == t1);
  CHECK(back[0].annotations.at("summary") ==
        "Device loop3 on db01 is no longer stalled, now ok: it happened");
  CHECK(sanwatch::transition_alerts(event("x", "", "ok", "slow"), kCtx).empty());
}

TEST_CASE("alerts: the book resolves exactly what it sent, with the original startsAt") {
  AlertBook book;
  const std::string t1 = "2026-11-23T15:43:42.000001Z", t2 = "2026-11-23T15:43:45.000002Z";
  auto fired = book.apply(event("loop3", "device", "ok", "stalled", t1), kCtx);
  REQUIRE(fired.size() == 1);
  CHECK(book.size() == 1);
  CHECK(book.is_firing(fired[0]));
  // The later event has a new identity field: the resolve must still match.
  auto done = book.apply(event("loop3", "device", "stalled", "ok", t2, {{"array", "a1"}}), kCtx);
  REQUIRE(done.size() == 1);
  CHECK(done[0].labels == fired[0].labels);
  CHECK(done[0].starts_at == t1);
  CHECK(done[0].ends_at == t2);
  CHECK(book.size() == 0);
  CHECK(book.firing().empty());
}

TEST_CASE("alerts: new static labels resolve the old label set and fire the new one") {
  AlertBook book;
  book.apply(event("loop3", "device", "ok", "slow", "t1"), kCtx);
  CHECK(book.relabel(kCtx, "t2").empty());  // nothing changed
  AlertContext next{"db01", {{"env", "staging"}}};
  auto out = book.relabel(next, "t2");
  REQUIRE(out.size() == 2);
  CHECK(out[0].labels.at("env") == "prod");
  CHECK(out[0].ends_at == "t2");
  CHECK(out[1].labels.at("env") == "staging");
  CHECK(out[1].starts_at == "t1");
  CHECK_FALSE(out[1].resolved());
  REQUIRE(book.firing().size() == 1);
  CHECK(book.firing()[0].labels.at("env") == "staging");
}

TEST_CASE("alerts: the request body is Alertmanager's postable alert array") {
  auto alerts =
      sanwatch::transition_alerts(event("loop3", "device", "slow", "stalled", "t1"), kCtx);
  auto body = sanwatch::alerts_body(alerts);
  REQUIRE(body.is_array());
  REQUIRE(body.size() == 2);
  CHECK(body[0]["endsAt"] == "t1");
  CHECK(body[0]["labels"]["alertname"] == "SanwatchDeviceSlow");
  CHECK(body[1].contains("endsAt") == false);
  CHECK(body[1]["startsAt"] == "t1");
  CHECK(body[1]["annotations"]["reason"] == "it happened");
}

TEST_CASE("alerts: queue overflow evicts what costs least and counts it") {
  auto firing_alert = [](const std::string& t) {
    return *sanwatch::alert_for(event(t, "device", "ok", "slow", "t1"), "slow", kCtx);
  };
  auto resolved_alert = [&](const std::string& t) {
    Alert a = firing_alert(t);
    a.ends_at = "t2";
    return a;
  };
  AlertQueue q(3);
  const auto none = [](const Alert&) { return false; };
  CHECK(q.push(firing_alert("a"), none) == 0);
  CHECK(q.push(resolved_alert("b"), none) == 0);
  CHECK(q.push(firing_alert("c"), none) == 0);
  // Full. "c" still fires: the re-send after recovery covers it.
  const auto c_fires = [](const Alert& a) { return a.labels.at("device") == "c"; };
  CHECK(q.push(firing_alert("d"), c_fires) == 1);
  REQUIRE(q.size() == 3);
  CHECK(q.entries()[2].labels.at("device") == "d");
  CHECK(std::none_of(q.entries().begin(), q.entries().end(),
                     [](const Alert& a) { return a.labels.at("device") == "c"; }));
  // Then the oldest resolved one (b) rather than the older firing one (a).
  CHECK(q.push(firing_alert("e"), none) == 1);
  CHECK(q.entries()[0].labels.at("device") == "a");
  CHECK(q.entries()[1].labels.at("device") == "d");
  // Then the oldest superseded one: "a" again later supersedes the first.
  CHECK(q.push(resolved_alert("a"), none) == 1);
  CHECK(q.entries()[0].labels.at("device") == "d");
  // In flight entries are kept while others can go; shrinking counts too.
  auto batch = q.begin_batch(1);
  REQUIRE(batch.size() == 1);
  CHECK(q.push(firing_alert("f"), none) == 1);
  CHECK(q.entries()[0].labels.at("device") == "d");
  CHECK(q.set_capacity(1, none) == 2);
  CHECK(q.size() == 1);
  CHECK(q.finish_batch(true) == 1);
  CHECK(q.empty());
}

namespace {

sanwatch::BaselineEvent drift(bool degraded, const std::string& ts) {
  sanwatch::BaselineEvent e;
  e.target = identity("mpatha", "map", "253:0");
  e.target.wwid = "3600a0b80";
  e.target.dm_name = "mpatha";
  e.degraded = degraded;
  e.ts = ts;
  e.reason = degraded ? "p99 9.1ms is 4.5x its baseline" : "below 2x for 1h";
  e.ratio_p99 = 4.5;
  e.p99_ns = 9.1e6;
  e.baseline_p99_ns = 2e6;
  return e;
}

}  // namespace

TEST_CASE("alerts: a baseline drift is SanwatchLatencyAboveBaseline, a warning, resolved as sent") {
  auto a = sanwatch::baseline_alert(drift(true, "2026-11-23T15:43:42.123456Z"), kCtx);
  REQUIRE(a);
  CHECK(a->labels.at("alertname") == "SanwatchLatencyAboveBaseline");
  CHECK(a->labels.at("severity") == "warning");
  CHECK(a->labels.at("map") == "mpatha");
  CHECK(a->labels.at("wwid") == "3600a0b80");
  CHECK(a->labels.at("instance") == "db01");
  CHECK(a->labels.at("env") == "prod");
  CHECK(a->annotations.at("ratio_p99") == "4.5");
  CHECK(a->annotations.at("p99_ms") == "9.1");
  CHECK(a->annotations.at("baseline_p99_ms") == "2");
  CHECK(a->annotations.at("summary").find("Multipath map mpatha on db01 is slower than its "
                                          "baseline") == 0);
  CHECK(a->starts_at == "2026-11-23T15:43:42.123456Z");
  CHECK_FALSE(sanwatch::baseline_alert(drift(false, "x"), kCtx));

  AlertBook book;
  auto fired = book.apply_baseline(drift(true, "2026-11-23T15:43:42.123456Z"), kCtx);
  REQUIRE(fired.size() == 1);
  CHECK(book.size() == 1);
  CHECK(book.is_firing(fired[0]));
  CHECK(book.apply_baseline(drift(true, "2026-11-23T16:00:00.000000Z"), kCtx).empty());
  // A state alert of the same map lives beside it.
  book.apply(event("mpatha", "map", "ok", "degraded"), kCtx);
  CHECK(book.size() == 2);
  auto gone = book.apply_baseline(drift(false, "2026-11-24T01:00:00.000000Z"), kCtx);
  REQUIRE(gone.size() == 1);
  CHECK(gone[0].labels == fired[0].labels);
  CHECK(gone[0].starts_at == fired[0].starts_at);
  CHECK(gone[0].ends_at == "2026-11-24T01:00:00.000000Z");
  CHECK(gone[0].annotations.at("summary").find("is back within its baseline") != std::string::npos);
  CHECK(book.size() == 1);
  CHECK(book.apply_baseline(drift(false, "2026-11-24T02:00:00.000000Z"), kCtx).empty());
  // Carried over from the previous run: firing since it was flagged.
  auto restored = drift(true, "2026-11-24T03:00:00.000000Z");
  restored.restored = true;
  restored.since_ms = 1764547200000;
  CHECK(sanwatch::baseline_alert(restored, kCtx)->starts_at == "2025-12-01T00:00:00.000Z");
}
