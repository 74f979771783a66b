// SPDX-License-Identifier: Apache-2.0
// `sanwatch run` on real loop devices over the fault-injection disk.
#include <fcntl.h>
#include <fmt/format.h>
#include <signal.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include "agent_process.h"
#include "detect/engine_sizing.h"
#include "direct_io.h"
#include "fault_disk.h"
#include "privileged.h"
#include "proc_figures.h"
#include "process.h"
#include "sanitizers.h"

using namespace std::chrono_literals;
using sanwatch::test::AgentProcess;
using sanwatch::test::DirectIo;
using sanwatch::test::FaultDisk;
using sanwatch::test::mono_now_ns;

namespace {

// Tracepoints only (no canary), short thresholds so tests are quick.
std::string config_for(const FaultDisk& d, const std::string& extra = "",
                       const std::string& canary = "targets = \"none\"\ndeadline = \"100ms\"") {
  return fmt::format(
      "[devices]\ninclude = [\"{}\"]\nrescan = \"200ms\"\n"
      "[thresholds]\nslow_io = \"20ms\"\nstall = \"500ms\"\nrecovery = \"1s\"\nslow_window = "
      "\"2s\"\n{}\n"
      "[canary]\n{}\n[metrics]\nlisten = \"127.0.0.1:0\"\n",
      d.loop_name(), extra, canary);
}

// A reader thread whose pread may hang on a stalled disk.
struct BackgroundRead {
  std::thread t;
  explicit BackgroundRead(const std::string& dev, std::uint64_t off = 0)
      : t([dev, off] {
          DirectIo io(dev);
          io.read(off);
        }) {}
  ~BackgroundRead() {
    if (t.joinable()) t.join();
  }
};

// A blk-throttle read IOPS limit on one device for the processes moved into
// it: cgroup v1 blkio where that is mounted, else cgroup v2 io.max.
class ThrottleCgroup {
 public:
  ThrottleCgroup(const std::string& majmin, int read_iops) {
    const bool v1 = std::filesystem::exists("/sys/fs/cgroup/blkio/cgroup.procs");
    const std::string base = v1 ? "/sys/fs/cgroup/blkio" : "/sys/fs/cgroup";
    dir_ = base + "/sanwatch-test-" + std::to_string(getpid());
    std::filesystem::create_directory(dir_);
    if (v1) {
      write("blkio.throttle.read_iops_device", majmin + " " + std::to_string(read_iops));
    } else {
      std::ofstream(base + "/cgroup.subtree_control") << "+io";
      write("io.max", majmin + " riops=" + std::to_string(read_iops));
    }
    parent_ = base;
  }
  ~ThrottleCgroup() {
    // Move everything back out, then remove the group.
    std::ifstream procs(dir_ + "/cgroup.procs");
    for (std::string pid; std::getline(procs, pid);)
      std::ofstream(parent_ + "/cgroup.procs") << pid;
    rmdir(dir_.c_str());
  }
  void add(pid_t pid) { write("cgroup.procs", std::to_string(pid)); }

 private:
  void write(const std::string& file, const std::string& value) {
    std::ofstream f(dir_ + "/" + file);
    f << value << std::flush;
    if (!f) throw std::runtime_error("cannot write " + value + " to " + dir_ + "/" + file);
  }
  std::string dir_, parent_;
};

}  // namespace

TEST_CASE(
    "run: blk-throttle on the canary's cgroup is slow for the canary, healthy for tracepoints") {
  sanwatch::test::require_privileged("run blk-throttle canary test");
  FaultDisk disk;
  AgentProcess agent(
      config_for(disk, "", "targets = \"all\"\nperiod = \"100ms\"\ndeadline = \"50ms\""));
  ThrottleCgroup cg(disk.major_minor(), 4);  // ~250 ms per read
  cg.add(agent.pid());
  auto ev = agent.wait_state(disk.loop_name(), "slow", 10s);
  REQUIRE(ev);
  INFO(ev->dump());
  CHECK((*ev)["reason"].get<std::string>().find("canary read") != std::string::npos);
  CHECK((*ev)["canary_latency_s"].get<double>() + (*ev)["canary_overdue_s"].get<double>() > 0.05);
  // The block layer saw nothing slow: the delay is before the request exists.
  CHECK((*ev)["slow_ios"] == 0);
  CHECK(agent.stop() == 0);
}

TEST_CASE("run: injected 50 ms latency makes the device slow, then ok after the quiet period") {
  sanwatch::test::require_privileged("run slow test");
  FaultDisk disk;
  AgentProcess agent(config_for(disk));
  disk.set_read_delay(50ms);
  DirectIo io(disk.loop_device());
  const std::uint64_t done_before = mono_now_ns();
  io.read(0);
  const std::uint64_t done_after = mono_now_ns();
  auto ev = agent.wait_state(disk.loop_name(), "slow", 5s);
  REQUIRE(ev);
  CHECK((*ev)["from"] == "ok");
  CHECK((*ev)["target_type"] == "device");
  CHECK((*ev)["reason"].get<std::string>().find("slower than 20ms") != std::string::npos);
  CHECK((*ev)["max_latency_s"].get<double>() >= 0.049);
  const auto mono = (*ev)["mono_ns"].get<std::uint64_t>();
  CHECK(mono >= done_before);
  WARN("slow event " << (static_cast<double>(mono) - done_after) / 1e6
                     << " ms after the slow read returned");
  disk.set_read_delay(0ms);
  auto back = agent.wait_state(disk.loop_name(), "ok", 10s);
  REQUIRE(back);
  // Not before the window (2 s) plus the quiet period (1 s) has passed.
  CHECK((*back)["mono_ns"].get<std::uint64_t>() - mono >= 2'000'000'000ull);
  CHECK(agent.stop() == 0);
}

TEST_CASE("run: a stall is flagged within milliseconds of the threshold, and recovers") {
  sanwatch::test::require_privileged("run stall test");
  FaultDisk disk;
  AgentProcess agent(config_for(disk));
  disk.stall();
  const std::uint64_t start = mono_now_ns();
  std::optional<nlohmann::json> ev;
  {
    BackgroundRead r(disk.loop_device());
    ev = agent.wait_state(disk.loop_name(), "stalled", 5s);
    disk.release();
  }
  REQUIRE(ev);
  const double lag_ms =
      (static_cast<double>((*ev)["mono_ns"].get<std::uint64_t>()) - start - 500e6) / 1e6;
  WARN("stall flagged " << lag_ms << " ms after threshold (upper bound: read issued after start)");
  CHECK(lag_ms > -1.0);  // never before the threshold (allowing the issue delay)
  CHECK((*ev)["inflight_oldest_s"].get<double>() >= 0.5);
  CHECK((*ev)["reason"].get<std::string>().find("oldest I/O outstanding") != std::string::npos);
  auto back = agent.wait_state(disk.loop_name(), "ok", 10s);
  REQUIRE(back);
  CHECK(agent.stop() == 0);
}

TEST_CASE("run: I/O errors fail the device") {
  sanwatch::test::require_privileged("run EIO test");
  FaultDisk disk;
  AgentProcess agent(config_for(disk));
  disk.set_eio(true);
  DirectIo io(disk.loop_device());
  CHECK(io.read(4096) < 0);
  auto ev = agent.wait_state(disk.loop_name(), "failed", 5s);
  REQUIRE(ev);
  CHECK((*ev)["errors"].get<int>() >= 1);
  CHECK((*ev)["last_error"] == "ioerr");
  disk.set_eio(false);
  CHECK(agent.wait_state(disk.loop_name(), "ok", 10s));
}

TEST_CASE("run: a loop device detached while watched is gone, and the agent keeps running") {
  sanwatch::test::require_privileged("run gone test");
  FaultDisk disk;
  AgentProcess agent(
      config_for(disk, "", "targets = \"all\"\nperiod = \"50ms\"\ndeadline = \"100ms\""));
  auto r = sanwatch::test::run_command({"losetup", "-d", disk.loop_device()}, 10s);
  REQUIRE(r.ok());
  auto ev = agent.wait_state(disk.loop_name(), "gone", 5s);
  REQUIRE(ev);
  CHECK((*ev)["reason"] == "device is gone");
  std::this_thread::sleep_for(300ms);
  CHECK(agent.process().running());
  CHECK(agent.stop() == 0);
}

TEST_CASE("run: a hung target keeps exactly one canary outstanding") {
  sanwatch::test::require_privileged("run canary stall test");
  FaultDisk disk;
  AgentProcess agent(
      config_for(disk, "", "targets = \"all\"\nperiod = \"20ms\"\ndeadline = \"100ms\""));
  disk.stall();
  auto slow = agent.wait_state(disk.loop_name(), "slow", 5s);
  REQUIRE(slow);
  CHECK((*slow)["reason"].get<std::string>().find("canary read outstanding") != std::string::npos);
  auto stalled = agent.wait_state(disk.loop_name(), "stalled", 5s);
  REQUIRE(stalled);
  CHECK((*stalled)["reason"].get<std::string>().find("canary read outstanding") !=
        std::string::npos);
  std::this_thread::sleep_for(1s);  // 50 periods
  std::ifstream inflight("/sys/block/" + disk.loop_name() + "/inflight");
  unsigned reads = 0, writes = 0;
  inflight >> reads >> writes;
  CHECK(reads == 1);
  CHECK(disk.counter("held") == 1);
  disk.release();
  CHECK(agent.wait_state(disk.loop_name(), "ok", 10s));
  CHECK(agent.stop() == 0);
}

TEST_CASE("run: SIGHUP with a broken config keeps the running one, a good one applies") {
  sanwatch::test::require_privileged("run reload test");
  FaultDisk disk;
  AgentProcess agent(config_for(disk));
  agent.rewrite_config("[thresholds]\nstall = \"fast\"\n");
  agent.process().send_signal(SIGHUP);
  auto rejected = agent.wait_log("configuration rejected", 5s);
  REQUIRE(rejected);
  CHECK((*rejected)["errors"].get<std::string>().find(agent.config_path() + ":2:9:") !=
        std::string::npos);
  // The old thresholds still work: a stall is still detected.
  disk.stall();
  {
    BackgroundRead r(disk.loop_device());
    CHECK(agent.wait_state(disk.loop_name(), "stalled", 5s));
    disk.release();
  }
  agent.rewrite_config(config_for(disk, "", "targets = \"all\"\ndeadline = \"100ms\""));
  agent.process().send_signal(SIGHUP);
  CHECK(agent.wait_log("configuration reloaded", 5s));
  CHECK(agent.stop() == 0);
}

// Links whose program is one of ours (sw_*), from bpftool's JSON.
int our_links() {
  auto links = sanwatch::test::run_command({"bpftool", "-j", "link", "show"}, 10s);
  auto progs = sanwatch::test::run_command({"bpftool", "-j", "prog", "show"}, 10s);
  REQUIRE(links.ok());
  REQUIRE(progs.ok());
  std::set<std::uint64_t> ours;
  for (const auto& p : nlohmann::json::parse(progs.out))
    if (p.value("name", "").rfind("sw_", 0) == 0) ours.insert(p["id"].get<std::uint64_t>());
  int n = 0;
  for (const auto& l : nlohmann::json::parse(links.out)) n += ours.count(l.value("prog_id", 0ull));
  return n;
}

TEST_CASE("run: SIGTERM exits 0 promptly and leaves no BPF link behind") {
  sanwatch::test::require_privileged("run shutdown test");
  FaultDisk disk;
  const int before = our_links();
  {
    AgentProcess agent(config_for(disk));
    CHECK(our_links() == before + 5);  // 4 tracepoints + the seeding iterator
    const auto t0 = std::chrono::steady_clock::now();
    CHECK(agent.stop() == 0);
    // The metrics server must not hold a stop (civetweb's poll used to, 2 s).
    CHECK(std::chrono::steady_clock::now() - t0 < 1s);
  }
  CHECK(our_links() == before);
}

TEST_CASE("run: a bad config file is rejected with file:line:column and exit 2") {
  char path[] = "/tmp/sanwatch-bad-XXXXXX";
  int fd = mkstemp(path);
  REQUIRE(fd >= 0);
  const std::string text = "[canary]\nperiod = \"1ms\"\n";
  REQUIRE(write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()));
  close(fd);
  for (const char* cmd : {"run", "check-config"}) {
    std::vector<std::string> argv = {SANWATCH_BIN, cmd};
    if (std::string(cmd) == "run") argv.push_back("--config");
    argv.push_back(path);
    auto r = sanwatch::test::run_command(argv, 10s);
    CHECK(r.exit_code == 2);
    CHECK(r.err.find(std::string(path) + ":2:10: canary.period") != std::string::npos);
  }
  unlink(path);
}

TEST_CASE("run: /metrics serves device and canary series with real sums") {
  sanwatch::test::require_privileged("run metrics test");
  FaultDisk disk;
  AgentProcess agent(
      config_for(disk, "", "targets = \"all\"\nperiod = \"50ms\"\ndeadline = \"100ms\""));
  const std::string url = agent.metrics_url();
  std::this_thread::sleep_for(1500ms);  // canaries run; metrics refresh every 1 s
  auto r = sanwatch::test::run_command({"curl", "-sf", url}, 10s);
  REQUIRE(r.ok());
  const std::string t = "{target=\"" + disk.loop_name() + "\"}";
  auto value = [&](const std::string& series) {
    const auto p = r.out.find("\n" + series + " ");
    REQUIRE(p != std::string::npos);
    return std::stod(r.out.substr(p + series.size() + 2));
  };
  CHECK(value("sanwatch_canary_reads_total" + t) >= 5);
  CHECK(value("sanwatch_canary_latency_seconds_sum" + t) > 0);
  CHECK(value("sanwatch_canary_latency_seconds_count" + t) >= 5);
  CHECK(value("sanwatch_io_completed_total{device=\"" + disk.loop_name() + "\",op=\"read\"}") >= 5);
  // One state series per state, exactly one of them 1 (a loaded machine can
  // make a 50 ms canary miss its deadline: slow is a right answer too).
  double states = 0;
  for (const char* st : {"ok", "slow", "stalled", "failed", "gone"})
    states += value("sanwatch_state{target=\"" + disk.loop_name() +
                    "\",target_type=\"device\",state=\"" + st + "\"}");
  CHECK(states == 1);
  CHECK(agent.stop() == 0);
}

namespace {

// Plain loop devices over sparse files in /dev/shm, detached and removed on
// destruction (even when the test fails).
class LoopDevices {
 public:
  explicit LoopDevices(int n) {
    for (int i = 0; i < n; ++i) {
      const std::string file =
          "/dev/shm/sanwatch-test-" + std::to_string(getpid()) + "-" + std::to_string(i);
      files_.push_back(file);
      std::ofstream{file};
      std::filesystem::resize_file(file, 8 << 20);
      auto r = sanwatch::test::run_command({"losetup", "-f", "--show", file}, 10s);
      if (!r.ok()) throw std::runtime_error("losetup failed: " + r.err);
      devices_.push_back(r.out.substr(0, r.out.find('\n')));
    }
  }
  ~LoopDevices() {
    for (const auto& d : devices_) sanwatch::test::run_command({"losetup", "-d", d}, 10s);
    for (const auto& f : files_) std::filesystem::remove(f);
  }
  const std::vector<std::string>& devices() const { return devices_; }

 private:
  std::vector<std::string> files_, devices_;
};

}  // namespace

TEST_CASE("run: more devices than BPF slots reloads with more, and every device is traced") {
  sanwatch::test::require_privileged("run slot growth test");
  FaultDisk disk;
  // The agent sizes its device slots for the disks present (as it counts
  // them): go past that even if none of those was watched.
  const sanwatch::SysfsBlock sys;
  auto disks = sys.disks();
  REQUIRE(disks.ok());
  const int device_slots = static_cast<int>(sanwatch::engine_sizing(*disks).max_watch);
  unsigned loop_tags = 0;  // in-flight slots of the loop devices it will watch
  for (const auto& d : *disks)
    if (d.size_bytes > 0 && d.is_loop()) loop_tags += d.tag_slots();
  const unsigned per_loop = sys.disk(disk.loop_name()).value().tag_slots();
  const int watched = static_cast<int>(loop_tags / per_loop);
  // In-flight slots for exactly as many loop devices as there are device
  // slots: the device that finds every device slot taken finds the in-flight
  // slots full too, and the agent must grow both for it.
  const unsigned inflight = loop_tags + (device_slots - watched) * per_loop;
  AgentProcess agent(
      "[devices]\ninclude = [\"loop*\"]\nrescan = \"200ms\"\n[canary]\ntargets = \"none\"\n"
      "[metrics]\nlisten = \"127.0.0.1:0\"\nrefresh = \"100ms\"\n",
      {"--inflight-slots", std::to_string(inflight)});
  LoopDevices loops(device_slots - watched + 4);
  auto grown = agent.wait_log("BPF device slots in use", 10s);
  REQUIRE(grown);
  INFO(grown->dump());
  CHECK(agent.wait_log("BPF in-flight slots short", 5s));
  for (const auto& e : agent.events()) {
    INFO(e.dump());
    CHECK(e.value("msg", "").find("only part of") == std::string::npos);
  }
  const std::string last = loops.devices().back();
  const std::string name = last.substr(last.rfind('/') + 1);
  // (Rescans add devices in name order, so this one may precede the reload.)
  auto watching = [&] {
    return std::any_of(agent.events().begin(), agent.events().end(),
                       [&](const auto& e) { return e.value("msg", "") == "watching " + name; });
  };
  for (int i = 0; i < 100 && !watching(); ++i) agent.wait_log("watching", 100ms);
  REQUIRE(watching());
  std::this_thread::sleep_for(300ms);
  {
    DirectIo io(last);
    for (int i = 0; i < 20; ++i) io.read(static_cast<std::uint64_t>(i) * 4096);
  }
  // The first device, watched before the reload, is still traced too.
  {
    DirectIo io(disk.loop_device());
    for (int i = 0; i < 20; ++i) io.read(static_cast<std::uint64_t>(i) * 4096);
  }
  std::this_thread::sleep_for(500ms);
  auto r = sanwatch::test::run_command({"curl", "-sf", agent.metrics_url()}, 10s);
  REQUIRE(r.ok());
  auto completed = [&](const std::string& dev) {
    const std::string series = "sanwatch_io_completed_total{device=\"" + dev + "\",op=\"read\"}";
    const auto p = r.out.find("\n" + series + " ");
    return p == std::string::npos ? -1.0 : std::stod(r.out.substr(p + series.size() + 2));
  };
  CHECK(completed(name) >= 20);
  CHECK(completed(disk.loop_name()) >= 20);
  CHECK(agent.stop() == 0);
}

TEST_CASE("run: in-flight slots too few for a device reload with more, and its stalls are seen") {
  sanwatch::test::require_privileged("run in-flight slot growth test");
  FaultDisk a, b;
  const std::string both = fmt::format("\"{}\", \"{}\"", a.loop_name(), b.loop_name());
  std::string toml = config_for(a);
  toml.replace(toml.find('"' + a.loop_name() + '"'), a.loop_name().size() + 2, both);
  // One slot: the first device's every tag needs more, so the agent must grow
  // before it can track any stall (an untracked request has no age).
  AgentProcess agent(toml, {"--inflight-slots", "1"});
  // (Logged before "ready": the constructor has read it already.)
  std::optional<nlohmann::json> grown;
  for (const auto& e : agent.events())
    if (e.value("msg", "").find("BPF in-flight slots short") != std::string::npos) grown = e;
  REQUIRE(grown);
  CHECK((*grown)["slots"].get<unsigned>() > 1);
  for (const auto& e : agent.events()) {
    INFO(e.dump());
    CHECK(e.value("msg", "").find("only part of") == std::string::npos);
  }
  for (FaultDisk* d : {&a, &b}) {
    d->stall();
    std::optional<nlohmann::json> ev;
    {
      BackgroundRead r(d->loop_device());
      ev = agent.wait_state(d->loop_name(), "stalled", 5s);
      d->release();
    }
    REQUIRE(ev);
    CHECK((*ev)["reason"].get<std::string>().find("oldest I/O outstanding") != std::string::npos);
  }
  CHECK(agent.stop() == 0);
}

TEST_CASE("run: the agent locks itself in memory without populating what it never touched") {
  sanwatch::test::require_privileged("run memory lock test");
  FaultDisk disk;
  AgentProcess agent(config_for(disk));
  auto field_kib = [&](const std::string& key) {
    return sanwatch::test::proc_status_kib(agent.pid(), key);
  };
  if (sanwatch::test::kAsanOrTsan) {
    // ASan and TSan intercept mlockall() and ignore it (returning 0: locking
    // would pin their terabytes of shadow mappings), and their shadow memory
    // and allocator alone exceed the RSS bound. Neither check can hold there.
    WARN("memory lock not checked: the agent's sanitizer runtime ignores mlockall()");
  } else {
    // A stalled SAN boot disk must not be able to stall the agent's page faults.
    CHECK(field_kib("VmLck") > 0);
    // MCL_ONFAULT: thread stacks and unused library code stay unpopulated.
    CHECK(field_kib("VmRSS") < 64 * 1024);
  }
  CHECK(agent.stop() == 0);
}
