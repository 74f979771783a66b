// SPDX-License-Identifier: Apache-2.0
// Detector over synthetic timelines: times are in ms from an arbitrary origin.
#include "detect/detector.h"

#include <algorithm>
#include <catch2/catch.hpp>

using namespace sanwatch;
using namespace std::chrono_literals;

namespace {

constexpr std::uint64_t ms(double v) {
  return static_cast<std::uint64_t>(v * 1e6) + 1'000'000'000ull;
}

Thresholds thresholds() {
  Thresholds t;
  t.slow_io = 100ms;
  t.slow_share = 0.1;
  t.slow_min_ios = 1;
  t.slow_window = 1s;
  t.stall = 500ms;
  t.fail_errors = 1;
  t.canary_failures = 3;
  t.recovery = 2s;
  return t;
}

constexpr std::uint64_t kDeadline = 50'000'000;  // 50 ms

// Feeds `n` fast completions per 10 ms from t0 to t1.
void steady(Detector& d, double t0, double t1, std::uint64_t n = 10) {
  for (double t = t0; t < t1; t += 10) {
    d.completions(ms(t), n);
    d.evaluate(ms(t));
  }
}

}  // namespace

TEST_CASE("a healthy device stays ok") {
  Detector d(thresholds(), kDeadline);
  steady(d, 0, 5000);
  CHECK(d.state() == Health::kOk);
}

TEST_CASE("one outlier among many fast I/Os does not flip the state") {
  Detector d(thresholds(), kDeadline);
  steady(d, 0, 1000);
  d.completions(ms(1000), 1);
  d.slow_io(ms(1000), 300'000'000);
  CHECK_FALSE(d.evaluate(ms(1000)));
  steady(d, 1000, 3000);
  CHECK(d.state() == Health::kOk);
}

TEST_CASE("slow I/O on an idle device is slow at once, recovers after the quiet period") {
  Detector d(thresholds(), kDeadline);
  d.completions(ms(100), 1);
  d.slow_io(ms(100), 150'000'000);
  auto t = d.evaluate(ms(100));
  REQUIRE(t);
  CHECK(t->from == Health::kOk);
  CHECK(t->to == Health::kSlow);
  CHECK(t->at_ns == ms(100));
  CHECK(t->reason.find("1 of 1 I/Os slower than 100ms") != std::string::npos);
  CHECK(t->evidence.max_latency_s == Approx(0.15));
  // Condition true while the slow I/O is in the 1 s window, then held for
  // the 2 s recovery: no change before ~3.1 s.
  for (double x = 150; x < 3000; x += 50) REQUIRE_FALSE(d.evaluate(ms(x)));
  std::optional<Transition> back;
  for (double x = 3000; x < 3400 && !back; x += 10) back = d.evaluate(ms(x));
  REQUIRE(back);
  CHECK(back->to == Health::kOk);
  CHECK(back->reason.find("no longer slow") != std::string::npos);
}

TEST_CASE("a majority of slow I/O is slow even under load") {
  Detector d(thresholds(), kDeadline);
  for (double x = 0; x < 200; x += 10) {
    d.completions(ms(x), 4);
    d.slow_io(ms(x), 120'000'000);
    if (auto t = d.evaluate(ms(x))) {
      CHECK(t->to == Health::kSlow);
      return;
    }
  }
  FAIL("never became slow");
}

TEST_CASE("slow I/Os counted without their events (a full ring) are slow all the same") {
  Detector d(thresholds(), kDeadline);
  d.completions(ms(100), 128);
  d.slow_ios(ms(100), 120);              // the engine's count: 8 of the 128 were fast
  d.slow_latency(ms(100), 180'000'000);  // the one event that got through
  auto t = d.evaluate(ms(100));
  REQUIRE(t);
  CHECK(t->to == Health::kSlow);
  CHECK(t->evidence.slow_ios == 120);
  CHECK(t->evidence.ios == 128);
  CHECK(t->evidence.max_latency_s == Approx(0.18));
}

TEST_CASE("a stall is flagged at exactly the threshold via next_deadline") {
  Detector d(thresholds(), kDeadline);
  d.oldest_outstanding(ms(0), ms(0));
  CHECK_FALSE(d.evaluate(ms(100)));
  auto when = d.next_deadline(ms(100));
  REQUIRE(when);
  CHECK(*when == ms(500));
  CHECK_FALSE(d.evaluate(*when - 1));
  auto t = d.evaluate(*when);
  REQUIRE(t);
  CHECK(t->to == Health::kStalled);
  CHECK(t->evidence.inflight_oldest_s == Approx(0.5));
  CHECK(t->reason.find("oldest I/O outstanding for 500ms") != std::string::npos);
  // Completes at 1.2 s: stalled is held until 1.2 s + recovery.
  d.oldest_outstanding(ms(1200), std::nullopt);
  CHECK_FALSE(d.evaluate(ms(1200)));
  CHECK_FALSE(d.evaluate(ms(3199)));
  auto back = d.evaluate(ms(3201));
  REQUIRE(back);
  CHECK(back->to == Health::kOk);
}

TEST_CASE("I/O from before tracing with no start time stalls on its lower bound, and says so") {
  Detector d(thresholds(), kDeadline);
  // Tracing began at 0 with requests already outstanding, start unknown.
  d.oldest_outstanding(ms(0), ms(0), true);
  CHECK_FALSE(d.evaluate(ms(499)));
  auto t = d.evaluate(ms(500));
  REQUIRE(t);
  CHECK(t->to == Health::kStalled);
  CHECK(t->reason.find("oldest I/O outstanding for at least 500ms") != std::string::npos);
  CHECK(t->reason.find("before tracing started") != std::string::npos);
}

TEST_CASE("an I/O error fails the device; errors outrank a stall") {
  Detector d(thresholds(), kDeadline);
  d.oldest_outstanding(ms(0), ms(0));
  REQUIRE(d.evaluate(ms(600))->to == Health::kStalled);
  d.io_errors(ms(700), 1, "ioerr");
  auto t = d.evaluate(ms(700));
  REQUIRE(t);
  CHECK(t->to == Health::kFailed);
  CHECK(t->reason == "1 I/O error(s) (ioerr) within 1s");
}

TEST_CASE("consecutive canary errors fail; one success resets the count") {
  Detector d(thresholds(), kDeadline);
  for (int i = 0; i < 2; ++i) {
    d.canary_submitted(ms(i * 100));
    d.canary_done(ms(i * 100 + 1), 1'000'000, EIO);
    CHECK_FALSE(d.evaluate(ms(i * 100 + 1)));
  }
  d.canary_submitted(ms(200));
  d.canary_done(ms(201), 1'000'000, 0);
  d.canary_submitted(ms(300));
  d.canary_done(ms(301), 1'000'000, EIO);
  CHECK_FALSE(d.evaluate(ms(301)));
  for (int i = 4; i < 6; ++i) {
    d.canary_submitted(ms(i * 100));
    d.canary_done(ms(i * 100 + 1), 1'000'000, EIO);
  }
  auto t = d.evaluate(ms(501));
  REQUIRE(t);
  CHECK(t->to == Health::kFailed);
  CHECK(t->reason.find("3 consecutive canary read errors") != std::string::npos);
}

TEST_CASE("a canary past its deadline is slow, then stalled, while it hangs") {
  Detector d(thresholds(), kDeadline);
  d.canary_submitted(ms(0));
  auto slow_at = d.next_deadline(ms(0));
  REQUIRE(slow_at);
  CHECK(*slow_at == ms(50) + 1);
  auto t = d.evaluate(*slow_at);
  REQUIRE(t);
  CHECK(t->to == Health::kSlow);
  CHECK(t->reason.find("canary read outstanding") != std::string::npos);
  CHECK(t->evidence.canary_overdue_s > 0.05);
  auto stall_at = d.next_deadline(*slow_at);
  REQUIRE(stall_at);
  CHECK(*stall_at == ms(500));
  t = d.evaluate(*stall_at);
  REQUIRE(t);
  CHECK(t->to == Health::kStalled);
  CHECK(t->reason.find("canary read outstanding for 500ms") != std::string::npos);
}

TEST_CASE("a completed late canary marks slow; a fast one does not") {
  Detector d(thresholds(), kDeadline);
  d.canary_submitted(ms(0));
  d.canary_done(ms(10), 10'000'000, 0);
  CHECK_FALSE(d.evaluate(ms(10)));
  d.canary_submitted(ms(1000));
  d.canary_done(ms(1079), 79'000'000, 0);
  auto t = d.evaluate(ms(1079));
  REQUIRE(t);
  CHECK(t->to == Health::kSlow);
  CHECK(t->reason == "canary read took 79ms (deadline 50ms)");
}

TEST_CASE("gone outranks everything and clears after the device returns and the quiet period") {
  Detector d(thresholds(), kDeadline);
  d.gone(ms(0), true);
  REQUIRE(d.evaluate(ms(0))->to == Health::kGone);
  d.io_errors(ms(10), 5, "offline");
  CHECK_FALSE(d.evaluate(ms(10)));
  d.gone(ms(100), false);
  CHECK_FALSE(d.evaluate(ms(2000)));  // errors and gone both held
  auto t = d.evaluate(ms(2101));
  REQUIRE(t);
  CHECK(t->from == Health::kGone);
}

TEST_CASE("no flapping: alternating good and bad I/O holds one state") {
  Detector d(thresholds(), kDeadline);
  int transitions = 0;
  for (double x = 0; x < 10000; x += 100) {
    d.completions(ms(x), 1);
    if (static_cast<int>(x / 100) % 2) d.slow_io(ms(x), 150'000'000);
    transitions += d.evaluate(ms(x)).has_value();
  }
  CHECK(transitions == 1);
  CHECK(d.state() == Health::kSlow);
}

TEST_CASE("maps: fewer valid paths is degraded, none is down, recovery is held") {
  Detector d(thresholds(), kDeadline);
  d.valid_paths(ms(0), 2, 2);
  CHECK_FALSE(d.evaluate(ms(0)));
  d.valid_paths(ms(100), 1, 2);
  auto t = d.evaluate(ms(100));
  REQUIRE(t);
  CHECK(t->to == Health::kDegraded);
  CHECK(t->reason == "1 of 2 paths valid");
  CHECK(t->evidence.valid_paths == 1);
  d.valid_paths(ms(200), 0, 2);
  t = d.evaluate(ms(200));
  REQUIRE(t);
  CHECK(t->to == Health::kDown);
  CHECK(t->reason == "no valid paths (0 of 2)");
  // Queued I/O on a map with no paths stalls: stalled outranks down.
  d.oldest_outstanding(ms(200), ms(200));
  t = d.evaluate(ms(700));
  REQUIRE(t);
  CHECK(t->to == Health::kStalled);
  CHECK(t->reason.find("0 of 2 paths valid") != std::string::npos);
  d.valid_paths(ms(1000), 2, 2);
  d.oldest_outstanding(ms(1000), std::nullopt);
  CHECK_FALSE(d.evaluate(ms(2500)));
  t = d.evaluate(ms(3001));
  REQUIRE(t);
  CHECK(t->to == Health::kOk);
}

TEST_CASE("maps: a path out for ALUA standby does not degrade the map while another carries I/O") {
  Detector d(thresholds());
  d.valid_paths(ms(0), 2, 2);
  CHECK_FALSE(d.evaluate(ms(0)).has_value());
  d.valid_paths(ms(100), 1, 2, 1);  // dm failed one; the array put its port in standby
  CHECK_FALSE(d.evaluate(ms(100)).has_value());
  CHECK(d.state() == Health::kOk);
  CHECK(d.evidence(ms(100)).standby_paths == 1);
  // No longer excused (the window closed, the state is active again): degraded.
  d.valid_paths(ms(200), 1, 2, 0);
  auto t = d.evaluate(ms(200));
  REQUIRE(t.has_value());
  CHECK(t->to == Health::kDegraded);
  // Both out, one for standby: no valid path is down, whatever the reason.
  d.valid_paths(ms(300), 0, 2, 1);
  t = d.evaluate(ms(300));
  REQUIRE(t.has_value());
  CHECK(t->to == Health::kDown);
}

TEST_CASE("paths: failed while dm says so, flapping after repeated fail/reinstate cycles") {
  Thresholds th = thresholds();
  th.flap_count = 3;
  th.flap_window = 60s;
  Detector d(th, kDeadline);
  d.path_failed(ms(0), true, "dm-multipath failed the path (PATH_FAILED)");
  auto t = d.evaluate(ms(0));
  REQUIRE(t);
  CHECK(t->to == Health::kFailed);
  CHECK(t->reason == "dm-multipath failed the path (PATH_FAILED)");
  d.path_failed(ms(100), false, "");
  CHECK_FALSE(d.evaluate(ms(100)));  // failed is held for the recovery time
  d.path_reinstated(ms(100));
  for (int i = 1; i < 3; ++i) {
    d.path_failed(ms(i * 1000), true, "PATH_FAILED");
    d.path_failed(ms(i * 1000 + 100), false, "");
    d.path_reinstated(ms(i * 1000 + 100));
  }
  t = d.evaluate(ms(2100));
  REQUIRE(t);
  CHECK(t->to == Health::kFlapping);
  CHECK(t->reason == "3 fail/reinstate cycles within 1m");
  CHECK(t->evidence.path_flaps == 3);
  // Stays flapping while the cycles are in the window, however healthy now.
  for (double x = 2200; x < 50000; x += 1000) REQUIRE_FALSE(d.evaluate(ms(x)));
}

TEST_CASE("states per target kind") {
  CHECK(states_of(TargetKind::kDevice).size() == 5);
  const auto map = states_of(TargetKind::kMap);
  CHECK(std::find(map.begin(), map.end(), Health::kDegraded) != map.end());
  const auto path = states_of(TargetKind::kPath);
  CHECK(std::find(path.begin(), path.end(), Health::kFlapping) != path.end());
}

TEST_CASE("inputs stamped slightly in the past do not break hysteresis") {
  Detector d(thresholds(), kDeadline);
  d.path_failed(ms(1000), true, "PATH_FAILED");
  REQUIRE(d.evaluate(ms(1000))->to == Health::kFailed);
  d.path_failed(ms(1100), false, "");
  // An evaluation carrying an older stamp must not see the hold as expired.
  CHECK_FALSE(d.evaluate(ms(1050)));
  CHECK_FALSE(d.evaluate(ms(2000)));
  CHECK(d.evaluate(ms(3200))->to == Health::kOk);
}
