// SPDX-License-Identifier: Apache-2.0
// Alertmanager delivery against loopback HTTP listeners: retries and
// backoff, several URLs, re-sends, a full queue, reconfiguration, latency
// and batching. No root needed.

#include <algorithm>
#include <catch2/catch.hpp>
#include <thread>

#include "alerts_test_util.h"
#include "base/clock.h"
#include "exporters/alertmanager.h"
#include "exporters/alerts.h"
#include "http_listener.h"

using namespace std::chrono_literals;
using namespace alerts_test;
using nlohmann::ordered_json;
using sanwatch::AlertSettings;

// ---------------------------------------------------------------------------
// Delivery against loopback listeners.

namespace {

using TestAlertmanager = sanwatch::test::HttpListener;

// Alert objects (body array elements) received so far, in order.
std::vector<nlohmann::json> alerts_of(const TestAlertmanager& am) {
  std::vector<nlohmann::json> out;
  for (const auto& r : am.requests())
    for (auto& a : nlohmann::json::parse(r.body)) out.push_back(a);
  return out;
}

AlertSettings settings_for(std::vector<std::string> urls) {
  AlertSettings s;
  s.alertmanager_urls = std::move(urls);
  s.instance = "unit";
  s.timeout = 1s;
  return s;
}

bool has_alert(const std::vector<nlohmann::json>& alerts, const std::string& name,
               const std::string& device, bool resolved) {
  return std::any_of(alerts.begin(), alerts.end(), [&](const nlohmann::json& a) {
    return a["labels"]["alertname"] == name && a["labels"]["device"] == device &&
           a.contains("endsAt") == resolved;
  });
}

}  // namespace

TEST_CASE("alerts: a 500 is retried with backoff until delivered") {
  TestAlertmanager am;
  am.set_status(500);
  FileLog log;
  auto d = sanwatch::make_alert_dispatcher(settings_for({am.url()}), log.log);
  d->on_event(event("loop3", "device", "ok", "stalled"));
  REQUIRE(am.wait_for(3));  // first try, then retries at 100 ms, 200 ms
  am.set_status(200);
  REQUIRE(eventually([&] { return d->stats().at(0).delivered > 0; }));
  const auto st = d->stats().at(0);
  CHECK(st.sink == "alertmanager:" + am.url());
  CHECK(st.failed >= 2);  // the third answer may already be the 200
  CHECK(st.queued == 0);
  CHECK(st.dropped == 0);
  auto reqs = am.requests();
  CHECK(reqs[0].head.rfind("POST /api/v2/alerts HTTP/1.1", 0) == 0);
  CHECK(reqs[1].first_byte_ns - reqs[0].first_byte_ns >= 90'000'000);  // backoff, not a spin
  for (const auto& r : reqs) CHECK(r.body.find("SanwatchDeviceStalled") != std::string::npos);
  CHECK(
      eventually([&] { return log.text().find("alertmanager unreachable") != std::string::npos; }));
  CHECK(eventually([&] { return log.text().find("reachable again") != std::string::npos; }));
}

TEST_CASE("alerts: every URL gets every alert, a rejected batch is not retried") {
  TestAlertmanager a, b;
  FileLog log;
  auto d = sanwatch::make_alert_dispatcher(settings_for({a.url(), b.url() + "/"}), log.log);
  d->on_event(event("loop3", "device", "ok", "slow"));
  d->on_event(event("loop3", "device", "slow", "ok"));
  for (auto* am : {&a, &b}) {
    REQUIRE(eventually([&] { return alerts_of(*am).size() >= 2; }));
    CHECK(has_alert(alerts_of(*am), "SanwatchDeviceSlow", "loop3", false));
    CHECK(has_alert(alerts_of(*am), "SanwatchDeviceSlow", "loop3", true));
  }
  REQUIRE(d->stats().size() == 2);
  // 400: Alertmanager refused the content; retrying cannot help.
  b.set_status(400);
  d->on_event(event("loop4", "device", "ok", "slow"));
  REQUIRE(eventually([&] { return d->stats()[1].dropped == 1; }));
  std::this_thread::sleep_for(300ms);
  CHECK(d->stats()[1].failed == 1);
  CHECK(eventually(
      [&] { return log.text().find("alertmanager rejected alerts") != std::string::npos; }));
}

TEST_CASE("alerts: firing alerts are re-sent every period until resolved") {
  TestAlertmanager am;
  FileLog log;
  auto s = settings_for({am.url()});
  s.resend = 200ms;
  auto d = sanwatch::make_alert_dispatcher(s, log.log);
  d->on_event(event("loop3", "device", "ok", "stalled"));
  REQUIRE(am.wait_for(4, 3s));  // the event, then re-sends
  auto reqs = am.requests();
  for (std::size_t i = 1; i < 4; ++i) {
    CHECK(reqs[i].body.find("SanwatchDeviceStalled") != std::string::npos);
    CHECK(reqs[i].first_byte_ns - reqs[i - 1].first_byte_ns >= 150'000'000);
  }
  d->on_event(event("loop3", "device", "stalled", "ok"));
  REQUIRE(
      eventually([&] { return has_alert(alerts_of(am), "SanwatchDeviceStalled", "loop3", true); }));
  const std::size_t n = am.requests().size();
  std::this_thread::sleep_for(500ms);
  CHECK(am.requests().size() == n);  // nothing firing, nothing re-sent
}

TEST_CASE("alerts: a full queue drops and counts, after the outage nothing firing is lost") {
  TestAlertmanager am;
  am.set_status(503);
  FileLog log;
  auto s = settings_for({am.url()});
  s.queue = 2;
  auto d = sanwatch::make_alert_dispatcher(s, log.log);
  for (int i = 0; i < 5; ++i)
    d->on_event(event("loop" + std::to_string(i), "device", "ok", "slow"));
  d->on_event(event("loop0", "device", "slow", "ok"));
  REQUIRE(eventually([&] {
    auto st = d->stats().at(0);
    return st.dropped >= 4 && st.queued == 2 && st.failed >= 1;
  }));
  am.set_status(200);
  REQUIRE(eventually([&] { return d->stats().at(0).queued == 0; }, 10s));
  // The re-send after recovery carries every alert still firing.
  REQUIRE(eventually([&] {
    auto got = alerts_of(am);
    for (int i = 1; i < 5; ++i)
      if (!has_alert(got, "SanwatchDeviceSlow", "loop" + std::to_string(i), false)) return false;
    return has_alert(got, "SanwatchDeviceSlow", "loop0", true);
  }));
  CHECK(eventually([&] { return log.text().find("queue full") != std::string::npos; }));
}

TEST_CASE("alerts: reconfigure swaps URLs and the new one learns what is firing") {
  TestAlertmanager a, b;
  FileLog log;
  auto d = sanwatch::make_alert_dispatcher(settings_for({}), log.log);
  CHECK(d->stats().empty());
  d->on_event(event("loop3", "device", "ok", "failed"));
  std::this_thread::sleep_for(50ms);
  d->reconfigure(settings_for({a.url()}));
  REQUIRE(
      eventually([&] { return has_alert(alerts_of(a), "SanwatchDeviceFailed", "loop3", false); }));
  d->reconfigure(settings_for({b.url()}));
  REQUIRE(
      eventually([&] { return has_alert(alerts_of(b), "SanwatchDeviceFailed", "loop3", false); }));
  REQUIRE(d->stats().size() == 1);
  CHECK(d->stats()[0].sink == "alertmanager:" + b.url());
}

TEST_CASE("alerts: state change to first byte of the POST on the wire") {
  TestAlertmanager am;
  FileLog log;
  // A generous timeout: on a loaded machine a POST answered after the usual
  // 1 s would be retried on a new connection, which is not what this measures.
  auto s = settings_for({am.url()});
  s.timeout = 10s;
  auto d = sanwatch::make_alert_dispatcher(s, log.log);
  log.log.subscribe([&](const sanwatch::StateChange& c) { d->on_event(c); });
  // As an agent that has been up a while: the start-up health check has
  // opened the connection. (A POST never waits for a check in progress: one
  // racing it opens a second connection.)
  REQUIRE(eventually([&] { return d->stats().at(0).up == 1; }));
  std::vector<double> ms;
  for (int i = 0; i < 21; ++i) {
    sanwatch::Transition t;
    t.from = i % 2 ? sanwatch::Health::kStalled : sanwatch::Health::kOk;
    t.to = i % 2 ? sanwatch::Health::kOk : sanwatch::Health::kStalled;
    t.at_ns = sanwatch::monotonic_ns();
    t.reason = "unit latency probe";
    log.log.state(identity("loop9", "device", "7:9"), t);
    REQUIRE(am.wait_for(i + 1));
    const double lag = static_cast<double>(am.requests().back().first_byte_ns - t.at_ns) / 1e6;
    // The first one runs code for the first time; all reuse the connection.
    if (i == 0)
      WARN("first POST: " << lag << " ms after the state change");
    else
      ms.push_back(lag);
    std::this_thread::sleep_for(20ms);
  }
  std::sort(ms.begin(), ms.end());
  WARN("state change -> first byte of POST (ms, n="
       << ms.size() << "): min " << ms.front() << " p50 " << ms[ms.size() / 2] << " p90 "
       << ms[ms.size() * 9 / 10] << " max " << ms.back());
  CHECK(ms.back() < 1000);
  CHECK(am.connections() == 1);  // one kept-alive connection for all of them
}

TEST_CASE("alerts: the state changes of one EventLog batch go out in one POST") {
  TestAlertmanager am;
  FileLog log;
  auto d = sanwatch::make_alert_dispatcher(settings_for({am.url()}), log.log);
  log.log.subscribe_batch([&](std::span<const sanwatch::StateChange> evs) { d->on_events(evs); });
  sanwatch::Transition t{sanwatch::Health::kOk,
                         sanwatch::Health::kFailed,
                         sanwatch::monotonic_ns(),
                         "dm-multipath failed the path",
                         {}};
  {
    sanwatch::EventLog::Batch batch(log.log);
    auto sdb = identity("sdb", "path", "8:16");
    sdb.map = "mpatha";
    log.log.state(sdb, t);
    t.to = sanwatch::Health::kDegraded;
    t.reason = "1 of 2 paths valid";
    auto map = identity("mpatha", "map", "254:0");
    map.dm_name = "mpatha";
    log.log.state(map, t);
    std::this_thread::sleep_for(50ms);
    CHECK(am.requests().empty());  // held until the batch ends
  }
  REQUIRE(am.wait_for(1));
  std::this_thread::sleep_for(200ms);
  const auto reqs = am.requests();
  REQUIRE(reqs.size() == 1);
  CHECK(reqs[0].body.find("SanwatchPathFailed") != std::string::npos);
  CHECK(reqs[0].body.find("SanwatchMapDegraded") != std::string::npos);
}

TEST_CASE(
    "alerts: a health check at start reads the Alertmanager up, and alerts reuse its connection") {
  TestAlertmanager am;
  FileLog fl;
  auto sink = sanwatch::make_alert_dispatcher(settings_for({am.url()}), fl.log);
  REQUIRE(eventually([&] { return am.checks() == 1; }));
  REQUIRE(eventually([&] { return sink->stats().at(0).up == 1; }));
  CHECK(am.requests().empty());  // no alert yet: nothing POSTed
  sink->on_event(event("sdb", "device", "ok", "stalled"));
  REQUIRE(am.wait_for(1));
  CHECK(am.connections() == 1);  // the first alert found the connection open
  CHECK(am.checks() == 1);       // and a POST stands for the next check
}

TEST_CASE(
    "alerts: a dead or unready Alertmanager reads down before any alert, and is logged once") {
  FileLog fl;
  SECTION("nothing listening") {
    int port = 0;
    {
      TestAlertmanager gone;  // a port that was free a moment ago
      port = std::stoi(gone.url().substr(gone.url().rfind(':') + 1));
    }
    auto sink = sanwatch::make_alert_dispatcher(
        settings_for({"http://127.0.0.1:" + std::to_string(port)}), fl.log);
    REQUIRE(eventually([&] { return sink->stats().at(0).up == 0; }));
  }
  SECTION("not ready (HTTP 503)") {
    TestAlertmanager am;
    am.set_check_status(503);
    auto sink = sanwatch::make_alert_dispatcher(settings_for({am.url()}), fl.log);
    REQUIRE(eventually([&] { return sink->stats().at(0).up == 0; }));
    CHECK(am.requests().empty());
  }
  const std::string text = fl.text();
  CHECK(text.find("alertmanager health check failed") != std::string::npos);
  CHECK(text.find("health check failed") == text.rfind("health check failed"));
}

TEST_CASE("alerts: health checks can be turned off, and a proxy's 404 still reads reachable") {
  TestAlertmanager am;
  FileLog fl;
  SECTION("health_check = 0s: no GET, up is unknown until a POST") {
    auto s = settings_for({am.url()});
    s.health_check = std::chrono::seconds(0);
    auto sink = sanwatch::make_alert_dispatcher(s, fl.log);
    std::this_thread::sleep_for(300ms);
    CHECK(am.checks() == 0);
    CHECK(sink->stats().at(0).up == -1);
    sink->on_event(event("sdb", "device", "ok", "stalled"));
    REQUIRE(am.wait_for(1));
    CHECK(eventually([&] { return sink->stats().at(0).up == 1; }));
    CHECK(am.checks() == 0);
  }
  SECTION("a 404 for /-/ready: the server answered") {
    am.set_check_status(404);
    auto sink = sanwatch::make_alert_dispatcher(settings_for({am.url()}), fl.log);
    REQUIRE(eventually([&] { return am.checks() == 1; }));
    CHECK(eventually([&] { return sink->stats().at(0).up == 1; }));
    CHECK(fl.text().find("health check failed") == std::string::npos);
  }
}
