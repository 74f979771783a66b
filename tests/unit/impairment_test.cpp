// SPDX-License-Identifier: Apache-2.0
// The impairment clock inside the detector: when trouble truly began and
// ended, apart from when the state said so (times in ms, arbitrary origin).
#include <catch2/catch.hpp>

#include "detect/detector.h"
#include "impairment_test_util.h"

using namespace sanwatch;
using namespace std::chrono_literals;
using sanwatch::test::impairment_thresholds;
using sanwatch::test::ms;

namespace {

// Scans every 50 ms while one I/O started at `start` is outstanding until
// `end`, then its completion event; returns the transition back to ok.
std::optional<Transition> stall(Detector& d, double start, double end) {
  std::optional<Transition> back;
  for (double t = start; t < end; t += 50) {
    d.oldest_outstanding(ms(t), ms(start));
    d.evaluate(ms(t));
  }
  d.io_event(ms(start), ms(end), false);
  d.slow_io(ms(end + 20), ms(end) - ms(start));
  for (double t = end + 50; t < end + 5000 && !back; t += 50) {
    d.oldest_outstanding(ms(t), std::nullopt);
    if (auto tr = d.evaluate(ms(t)); tr && tr->to == Health::kOk) back = tr;
  }
  return back;
}

}  // namespace

TEST_CASE("a stall's impairment runs from its I/O's start to its completion, not detection") {
  Detector d(impairment_thresholds());
  auto back = stall(d, 1000, 3000);
  REQUIRE(back);
  const Impairment& i = back->impairment;
  CHECK(i.hard.start_ns == ms(1000));
  CHECK(i.hard.end_ns == ms(3000));  // the completion, not the next scan
  CHECK(i.hard.duration_ns() == 2'000'000'000ull);
  CHECK(i.stall_crossed_ns == ms(1500));
  CHECK(i.peak_oldest_ns >= 1'950'000'000ull);
  CHECK(i.max_latency_ns == 2'000'000'000ull);
  CHECK_FALSE(i.ongoing);
  // Detection came back after `recovery`: 2 s after the completion.
  CHECK(back->at_ns >= ms(5000));
}

TEST_CASE("the episode ends with the return to ok: the next one starts afresh") {
  Detector d(impairment_thresholds());
  REQUIRE(stall(d, 1000, 2000));
  auto back = stall(d, 10000, 11000);
  REQUIRE(back);
  CHECK(back->impairment.hard.start_ns == ms(10000));
  CHECK(back->impairment.hard.end_ns == ms(11000));
}

TEST_CASE("an error burst is impaired from its first failed I/O to its last") {
  Detector d(impairment_thresholds());
  std::optional<Transition> first;
  for (double t = 1000; t <= 3000; t += 100) {
    d.io_event(ms(t - 1), ms(t), true);
    d.io_errors(ms(t), 1, "ioerr");
    if (auto tr = d.evaluate(ms(t)); tr && !first) first = tr;
  }
  REQUIRE(first);
  CHECK(first->to == Health::kFailed);
  CHECK(first->impairment.hard.start_ns == ms(999));
  std::optional<Transition> back;
  for (double t = 3050; t < 8000 && !back; t += 50)
    if (auto tr = d.evaluate(ms(t)); tr && tr->to == Health::kOk) back = tr;
  REQUIRE(back);
  CHECK(back->impairment.hard.start_ns == ms(999));
  CHECK(back->impairment.hard.end_ns == ms(3000));
  CHECK(back->impairment.errors == 21);
}

TEST_CASE("a failed path is impaired from its failure to its reinstatement") {
  Detector d(impairment_thresholds());
  d.path_failed(ms(1000), true, "dm: path failed");
  auto tr = d.evaluate(ms(1000));
  REQUIRE(tr);
  CHECK(tr->impairment.ongoing);
  CHECK(d.impairment(ms(4000)).hard.end_ns == ms(4000));  // still failed: runs to now
  d.path_failed(ms(6000), false, "");
  std::optional<Transition> back;
  for (double t = 6000; t < 10000 && !back; t += 50)
    if (auto b = d.evaluate(ms(t)); b && b->to == Health::kOk) back = b;
  REQUIRE(back);
  CHECK(back->impairment.hard.start_ns == ms(1000));
  CHECK(back->impairment.hard.end_ns == ms(6000));
}

TEST_CASE("slow I/O that changes no state is forgotten, and never joins a later incident") {
  Detector d(impairment_thresholds());
  d.completions(ms(1000), 1000);
  d.io_event(ms(800), ms(1000), false);  // 200 ms: slow, one among many
  d.slow_io(ms(1000), 200'000'000);
  CHECK_FALSE(d.evaluate(ms(1000)));
  d.completions(ms(1100), 1000);
  CHECK_FALSE(d.evaluate(ms(1100)));
  // Long after: a stall; its impairment must not reach back to the slow I/O.
  for (double t = 2000; t < 5000; t += 100) d.completions(ms(t), 1000), d.evaluate(ms(t));
  auto back = stall(d, 6000, 7000);
  REQUIRE(back);
  CHECK(back->impairment.hard.start_ns == ms(6000));
  CHECK(back->impairment.slow.start_ns == ms(6000));
}

TEST_CASE("a slow-only episode has a slow span and no hard one") {
  Detector d(impairment_thresholds());
  std::optional<Transition> first;
  for (double t = 1000; t <= 2000; t += 100) {
    d.completions(ms(t), 1);
    d.io_event(ms(t - 150), ms(t), false);
    d.slow_io(ms(t), 150'000'000);
    if (auto tr = d.evaluate(ms(t)); tr && !first) first = tr;
  }
  REQUIRE(first);
  CHECK(first->to == Health::kSlow);
  CHECK(first->impairment.hard.empty());
  CHECK(first->impairment.slow.start_ns == ms(850));
}
