// SPDX-License-Identifier: Apache-2.0
// The io_uring canary prober on its own, against real loop devices over the
// fault-injection disk: one completion per probe, the latency it reports,
// errors, a target that cannot be opened, targets sharing a period.
#include "detect/canary.h"

#include <poll.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <map>
#include <thread>
#include <vector>

#include "base/clock.h"
#include "fault_disk.h"
#include "privileged.h"
#include "process.h"

using namespace std::chrono_literals;
using sanwatch::CanaryProber;
using sanwatch::CanaryTarget;
using sanwatch::monotonic_ns;
using sanwatch::test::FaultDisk;
using sanwatch::test::run_command;

namespace {

struct Recorder {
  std::multimap<int, std::uint64_t> submitted;  // id -> time
  struct Done {
    int id;
    std::uint64_t latency_ns;
    int err;
  };
  std::vector<Done> done;
  std::vector<std::pair<int, int>> open_failed;  // id, errno
  std::vector<int> abandoned;

  CanaryProber::Callbacks callbacks() {
    CanaryProber::Callbacks cb;
    cb.submitted = [this](int id, std::uint64_t now) { submitted.emplace(id, now); };
    cb.done = [this](int id, std::uint64_t, std::uint64_t lat, int err) {
      done.push_back({id, lat, err});
    };
    cb.open_failed = [this](int id, int err) { open_failed.emplace_back(id, err); };
    cb.abandoned = [this](int id) { abandoned.push_back(id); };
    return cb;
  }
  std::size_t done_for(int id) const {
    return std::count_if(done.begin(), done.end(), [id](const Done& d) { return d.id == id; });
  }
};

// A prober and the recorder of its callbacks, as every test sets them up.
struct Probing {
  Recorder rec;
  std::unique_ptr<CanaryProber> prober;
  Probing() {
    auto p = CanaryProber::create(4, rec.callbacks());
    REQUIRE(p);
    prober = std::move(p).value();
  }
  Probing(const Probing&) = delete;  // the callbacks point at rec
  int add(const CanaryTarget& t) {
    auto id = prober->add(t);
    REQUIRE(id);
    return *id;
  }
};

// The agent's event loop in miniature: probe when due, reap when the
// eventfd says so.
void drive(CanaryProber& p, std::chrono::milliseconds how_long) {
  const std::uint64_t end = monotonic_ns() + how_long.count() * 1'000'000ull;
  for (std::uint64_t now = monotonic_ns(); now < end; now = monotonic_ns()) {
    const std::uint64_t next = std::min(p.run_due(now), end);
    pollfd pfd{p.event_fd(), POLLIN, 0};
    const int wait_ms = next > now ? static_cast<int>((next - now + 999'999) / 1'000'000) : 0;
    if (poll(&pfd, 1, wait_ms) > 0) p.reap();
  }
}

// drive() until `done` holds or `limit` passes, for tests that need a
// count of probes rather than a span of time: with probes aligned on
// multiples of the period, a fixed span holds one probe more or fewer
// depending on where in the period it starts.
template <typename Pred>
void drive_until(CanaryProber& p, Pred done, std::chrono::milliseconds limit) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (!done() && std::chrono::steady_clock::now() < end) drive(p, 20ms);
}

CanaryTarget target_of(const FaultDisk& d, std::chrono::milliseconds period) {
  CanaryTarget t;
  t.path = d.loop_device();
  t.size_bytes = d.size_bytes();
  t.settings.period = period;
  t.settings.deadline = 500ms;
  return t;
}

}  // namespace

TEST_CASE("canary: one read per period, each reported once, with the device's latency") {
  sanwatch::test::require_privileged("canary prober test");
  FaultDisk disk;
  disk.set_read_delay(5ms);
  Probing pr;
  auto& rec = pr.rec;
  const int id = pr.add(target_of(disk, 50ms));
  drive(*pr.prober, 1s);
  // ~20 periods; allow for the first alignment and a loaded machine.
  CHECK(rec.done_for(id) >= 10);
  CHECK(rec.done_for(id) <= 21);
  CHECK(rec.submitted.count(id) >= rec.done_for(id));
  CHECK(rec.submitted.count(id) <= rec.done_for(id) + 1);
  for (const auto& d : rec.done) {
    CHECK(d.err == 0);
    CHECK(d.latency_ns >= 5'000'000);
  }
  const auto* st = pr.prober->stats(id);
  REQUIRE(st);
  CHECK(st->reads == rec.done.size());
  CHECK(st->errors == 0);
  CHECK(rec.open_failed.empty());
}

TEST_CASE("canary: a failing read is an error, and the next one succeeds") {
  sanwatch::test::require_privileged("canary prober test");
  FaultDisk disk;
  disk.set_eio(true);
  Probing pr;
  auto& rec = pr.rec;
  const int id = pr.add(target_of(disk, 50ms));
  drive(*pr.prober, 400ms);
  REQUIRE(rec.done_for(id) >= 3);
  for (const auto& d : rec.done) CHECK(d.err == EIO);
  CHECK(pr.prober->stats(id)->errors == rec.done.size());
  disk.set_eio(false);
  drive(*pr.prober, 200ms);
  CHECK(rec.done.back().err == 0);
}

TEST_CASE("canary: no probe keeps the device open, even after failed reads") {
  sanwatch::test::require_privileged("canary prober test");
  FaultDisk disk;
  disk.set_eio(true);
  Probing pr;
  auto& rec = pr.rec;
  const int id = pr.add(target_of(disk, 1000ms));
  // Two probes, both failing, the second on the other fixed-file slot.
  drive_until(
      *pr.prober, [&] { return rec.done_for(id) >= 2; }, 3500ms);
  REQUIRE(rec.done_for(id) == 2);
  CHECK(rec.done[0].err == EIO);
  CHECK(rec.done[1].err == EIO);
  CHECK_FALSE(pr.prober->outstanding(id));
  // An open file (a close skipped after the failed read) would keep the
  // loop device bound: losetup -d would only mark it for autoclear.
  const std::string name = disk.loop_name();
  REQUIRE(run_command({"losetup", "-d", disk.loop_device()}, 5s).ok());
  bool detached = false;
  for (int i = 0; i < 100 && !detached; ++i) {
    detached = !std::filesystem::exists("/sys/block/" + name + "/loop/backing_file");
    if (!detached) std::this_thread::sleep_for(10ms);
  }
  CHECK(detached);
}

TEST_CASE("canary: a target that cannot be opened is reported once and backs off") {
  sanwatch::test::require_privileged("canary prober test");
  FaultDisk disk;
  Probing pr;
  auto& rec = pr.rec;
  CanaryTarget missing = target_of(disk, 20ms);
  missing.path = "/dev/sanwatch-test-no-such-device";
  const int bad = pr.add(missing);
  const int good = pr.add(target_of(disk, 20ms));
  drive(*pr.prober, 600ms);
  REQUIRE(rec.open_failed.size() == 1);
  CHECK(rec.open_failed[0] == std::make_pair(bad, ENOENT));
  // The first retry waits a second: one attempt only, never a read.
  CHECK(rec.done_for(bad) == 0);
  CHECK(rec.submitted.count(bad) == rec.abandoned.size());
  CHECK(rec.submitted.count(bad) == 1);
  CHECK_FALSE(pr.prober->outstanding(bad));
  // The other target is not held up by it.
  CHECK(rec.done_for(good) >= 10);
}

TEST_CASE("canary: targets with the same period are probed together") {
  sanwatch::test::require_privileged("canary prober test");
  FaultDisk a, b;
  Probing pr;
  auto& rec = pr.rec;
  const int ia = pr.add(target_of(a, 40ms));
  const int ib = pr.add(target_of(b, 40ms));
  drive(*pr.prober, 500ms);
  std::vector<std::uint64_t> ta, tb;
  for (auto [id, t] : rec.submitted) {
    REQUIRE((id == ia || id == ib));
    (id == ia ? ta : tb).push_back(t);
  }
  REQUIRE(ta.size() >= 5);
  REQUIRE(ta.size() == tb.size());
  // Submitted in the same pass over the targets.
  for (std::size_t i = 0; i < ta.size(); ++i)
    CHECK((ta[i] > tb[i] ? ta[i] - tb[i] : tb[i] - ta[i]) < 1'000'000);
}
