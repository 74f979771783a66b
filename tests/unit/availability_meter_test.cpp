// SPDX-License-Identifier: Apache-2.0
// The availability counters: seconds per state and down seconds by the
// ledger's rule, driven by a real Detector (times in ms, arbitrary origin).
#include "detect/availability_meter.h"

#include <catch2/catch.hpp>

#include "impairment_test_util.h"

using namespace sanwatch;
using namespace std::chrono_literals;
using sanwatch::test::impairment_thresholds;
using sanwatch::test::ms;

namespace {

// A Detector and its meter, fed as the watchdog feeds them.
struct Target {
  Detector d{impairment_thresholds()};
  AvailabilityMeter meter{ms(0)};
  std::vector<double> down_seen;  // down_seconds at every step: must never fall

  void step(double t) {
    if (auto tr = d.evaluate(ms(t))) meter.transition(*tr);
    down_seen.push_back(meter.down_seconds(ms(t), d.impairment(ms(t))));
  }
  // One I/O outstanding from `start` until `end`, scanned every 50 ms, then
  // its completion; runs until `until`.
  void stall(double start, double end, double until) {
    for (double t = start; t < end; t += 50) {
      d.oldest_outstanding(ms(t), ms(start));
      step(t);
    }
    d.io_event(ms(start), ms(end), false);
    d.slow_io(ms(end), ms(end) - ms(start));
    for (double t = end; t < until; t += 50) {
      d.oldest_outstanding(ms(t), std::nullopt);
      step(t);
    }
  }
  double down(double t) { return meter.down_seconds(ms(t), d.impairment(ms(t))); }
};

}  // namespace

TEST_CASE("a stall counts down from its I/O's start to its completion, without hysteresis") {
  Target x;
  x.stall(1000, 3000, 8000);
  REQUIRE(x.d.state() == Health::kOk);
  // Down exactly 2 s (the ledger's incident), though the state was stalled
  // from 1.5 s and recovered only 2 s after the completion.
  CHECK(x.down(8000) == Approx(2.0).margin(1e-9));
  CHECK(std::is_sorted(x.down_seen.begin(), x.down_seen.end()));
  // While stalled the counter jumped to the stall's true age at detection.
  CHECK(x.down_seen[10] == Approx(0.5).margin(0.001));  // t = 1500: detected
  // Every millisecond is in exactly one state.
  double total = 0;
  for (Health h : states_of(TargetKind::kDevice)) total += x.meter.state_seconds(h, ms(8000));
  CHECK(total == Approx(8.0));
  // The state carries the hysteresis: stalled from 1.5 s to `recovery` (2 s)
  // after the completion.
  CHECK(x.meter.state_seconds(Health::kStalled, ms(8000)) == Approx(3.5).margin(0.06));
}

TEST_CASE("episodes add up; a slow-only episode is not down") {
  Target x;
  x.stall(1000, 2000, 6000);
  x.stall(10000, 10700, 15000);
  CHECK(x.down(15000) == Approx(1.7).margin(1e-9));
  // 30 I/Os slower than slow_io but under the stall threshold: slow, not down.
  for (double t = 20000; t < 21500; t += 50) {
    x.d.completions(ms(t), 1);
    x.d.slow_io(ms(t), 200'000'000);
    x.d.io_event(ms(t) - 200'000'000, ms(t), false);
    x.step(t);
  }
  CHECK(x.meter.state_seconds(Health::kSlow, ms(21500)) > 0);
  for (double t = 21500; t < 26000; t += 50) x.step(t);
  CHECK(x.down(26000) == Approx(1.7).margin(1e-9));
  CHECK(std::is_sorted(x.down_seen.begin(), x.down_seen.end()));
}

TEST_CASE("a vanished device is down from the instant it went, until it is back") {
  Target x;
  x.d.gone(ms(1000), true);
  x.step(1000);
  CHECK(x.d.state() == Health::kGone);
  x.step(4000);
  CHECK(x.down(4000) == Approx(3.0).margin(1e-9));
  x.d.gone(ms(5000), false);
  for (double t = 5000; t < 9000; t += 50) x.step(t);
  CHECK(x.d.state() == Health::kOk);
  CHECK(x.down(9000) == Approx(4.0).margin(1e-9));
}

TEST_CASE("the counter never falls, even when an episode's final span is shorter") {
  AvailabilityMeter m(ms(0));
  Transition to_stalled{Health::kOk, Health::kStalled, ms(1000), "", {}, {}};
  to_stalled.impairment.hard = Span{ms(500), ms(1000)};
  m.transition(to_stalled);
  Impairment running;
  running.hard = Span{ms(500), ms(3000)};
  CHECK(m.down_seconds(ms(3000), running) == Approx(2.5));
  Transition back{Health::kStalled, Health::kOk, ms(4000), "", {}, {}};
  back.impairment.hard = Span{ms(500), ms(2000)};  // shorter than shown
  m.transition(back);
  CHECK(m.down_seconds(ms(5000), {}) == Approx(2.5));
}
