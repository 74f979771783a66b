// SPDX-License-Identifier: Apache-2.0
// Fault: 100,000 forged uevents a second, from a root process in the agent's
// own network namespace (uevent_flood.h), both ways a process can forge one:
// multicast from its own port, and relayed by the kernel with portid 0 and
// uid 0. They name the watched devices ("remove" of the stalled disk, a
// RESIZE, a dm PATH_FAILED, an "add" of a device not attached yet) and junk.
// Meanwhile real changes: stalls on a watched fault disk, a watched loop
// device detached, another attached. With the periodic rescan at 1 h only the
// real uevents among the forged ones (or a rescan after the socket overflows)
// can tell the agent about the loop devices.
#include "uevent_flood.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <linux/loop.h>
#include <signal.h>
#include <sys/ioctl.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <fstream>
#include <map>
#include <sstream>

#include "agent_process.h"
#include "fault_disk.h"
#include "fault_row.h"
#include "privileged.h"
#include "process.h"
#include "stall_probe.h"
#include "test_util.h"

using namespace std::chrono_literals;
using sanwatch::test::AgentProcess;
using sanwatch::test::FaultDisk;
using sanwatch::test::mono_now_ns;
using json = nlohmann::json;

namespace {

constexpr double kStallS = 0.5;
constexpr double kRate = 100'000;  // forged uevents per second, the issue's figure

std::string sysfs_line(const std::string& path) {
  std::ifstream f(path);
  std::string s;
  std::getline(f, s);
  return s;
}

// A loop device over a sparse file: attached and detached with losetup, as
// an operator would; the destructor undoes whatever is left. Its number is
// `number` or the next unbound one above, created if need be: far above what
// `losetup -f` hands out (the lowest free device), so no other test running
// on the machine attaches its own file to it once this one is detached.
class TestLoop {
 public:
  TestLoop(const std::string& file, int number, bool attach_now) : file_(file) {
    std::ofstream(file_).close();
    REQUIRE(truncate(file_.c_str(), 16 << 20) == 0);
    reserve(number);
    dev_ = sysfs_line("/sys/block/" + name_ + "/dev");
    if (attach_now) attach();
  }
  ~TestLoop() {
    if (attached_) sanwatch::test::run_command({"losetup", "-d", "/dev/" + name_});
    if (created_ >= 0) {
      const int ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
      if (ctl >= 0) ioctl(ctl, LOOP_CTL_REMOVE, created_);
      if (ctl >= 0) close(ctl);
    }
    std::remove(file_.c_str());
  }
  TestLoop(const TestLoop&) = delete;
  TestLoop& operator=(const TestLoop&) = delete;

  void attach() {
    REQUIRE(sanwatch::test::run_command({"losetup", "/dev/" + name_, file_}).ok());
    attached_ = true;
  }
  void detach() {
    REQUIRE(sanwatch::test::run_command({"losetup", "-d", "/dev/" + name_}).ok());
    attached_ = false;
  }
  const std::string& name() const { return name_; }
  const std::string& dev() const { return dev_; }  // "7:12"

 private:
  void reserve(int number) {
    const int ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
    REQUIRE(ctl >= 0);
    for (int n = number; n < number + 64 && name_.empty(); ++n) {
      const int r = ioctl(ctl, LOOP_CTL_ADD, n);
      const std::string name = "loop" + std::to_string(n);
      if (r >= 0) created_ = n;
      if (r >= 0 || sysfs_line("/sys/block/" + name + "/size") == "0") name_ = name;
    }
    close(ctl);
    REQUIRE(!name_.empty());
  }

  std::string file_, name_, dev_;
  bool attached_ = false;
  int created_ = -1;
};

// "ACTION@DEVPATH\0KEY=VALUE\0..." for a block disk, as the kernel builds it
// (no SEQNUM: the flood adds it), with extra fields.
std::string forged(const std::string& action, const std::string& name, const std::string& dev,
                   std::vector<std::string> extra = {}) {
  const std::string path = "/devices/virtual/block/" + name;
  const auto colon = dev.find(':');
  std::vector<std::string> f{action + "@" + path,
                             "ACTION=" + action,
                             "DEVPATH=" + path,
                             "SUBSYSTEM=block",
                             "MAJOR=" + dev.substr(0, colon),
                             "MINOR=" + dev.substr(colon + 1),
                             "DEVNAME=" + name,
                             "DEVTYPE=disk"};
  f.insert(f.end(), extra.begin(), extra.end());
  std::string s;
  for (const auto& x : f) s += x + std::string(1, '\0');
  return s;
}

std::string config_for(const std::vector<std::string>& names) {
  return fmt::format(
      "[devices]\ninclude = [\"{}\"]\nrescan = \"1h\"\n[thresholds]\nstall = \"500ms\"\n"
      "recovery = \"300ms\"\nslow_io = \"200ms\"\nslow_window = \"1s\"\n[canary]\n"
      "targets = \"none\"\n[metrics]\nlisten = \"127.0.0.1:0\"\nrefresh = \"100ms\"\n",
      fmt::join(names, "\", \""));
}

// /metrics from inside the agent's namespace: name{labels} -> value.
std::map<std::string, double> scrape(const AgentProcess& agent, const std::string& netns) {
  auto r = sanwatch::test::run_command(
      {"nsenter", "--net=" + netns, "curl", "-sf", "--max-time", "5", agent.metrics_url()}, 10s);
  REQUIRE(r.ok());
  std::map<std::string, double> m;
  std::istringstream in(r.out);
  for (std::string line; std::getline(in, line);) {
    const auto sp = line.rfind(' ');
    if (line.empty() || line[0] == '#' || sp == std::string::npos) continue;
    m[line.substr(0, sp)] = std::stod(line.substr(sp + 1));
  }
  return m;
}

// The counters are copied for scrapes every metrics.refresh (100 ms): read
// until two scrapes agree on the drops (the forged uevents). Not on what was
// received: the kernel's own uevents never stop while other tests run.
std::map<std::string, double> settled(const AgentProcess& agent, const std::string& netns) {
  auto m = scrape(agent, netns);
  for (int i = 0; i < 50; ++i) {
    std::this_thread::sleep_for(300ms);
    auto n = scrape(agent, netns);
    if (n["sanwatch_uevents_dropped_total"] == m["sanwatch_uevents_dropped_total"]) return n;
    m = std::move(n);
  }
  FAIL("uevent counters never settled");
  return m;
}

double dropped(std::map<std::string, double>& m, const std::string& reason) {
  return m[fmt::format("sanwatch_uevents_dropped_by_reason_total{{reason=\"{}\"}}", reason)];
}

// The agent's "watching <name>" line, already read or still to come.
std::optional<json> watching(AgentProcess& agent, const std::string& name,
                             std::chrono::milliseconds timeout) {
  const auto is = [&](const json& j) { return j.value("msg", "") == "watching " + name; };
  for (const auto& j : agent.events())
    if (is(j)) return j;
  return agent.wait_line(is, timeout);
}

// Drops the kernel counted on the agent's uevent socket (its receive buffer
// full), from /proc/net/netlink as the agent's namespace sees it: family 15
// (NETLINK_KOBJECT_UEVENT), group 1, a port of its own (the kernel's is 0).
std::uint64_t socket_drops(pid_t agent) {
  std::ifstream f("/proc/" + std::to_string(agent) + "/net/netlink");
  std::string line;
  std::getline(f, line);  // header
  while (std::getline(f, line)) {
    std::istringstream in(line);
    std::string sk, groups;
    unsigned eth = 0;
    std::uint64_t port = 0, rmem = 0, wmem = 0, dump = 0, locks = 0, drops = 0;
    in >> sk >> eth >> port >> groups >> rmem >> wmem >> dump >> locks >> drops;
    if (eth == 15 && port != 0 && groups == "00000001") return drops;
  }
  FAIL("no uevent socket of the agent in /proc/" << agent << "/net/netlink");
  return 0;
}

double ms_since(std::uint64_t t0, const json& ev) {
  return (ev["mono_ns"].get<double>() - static_cast<double>(t0)) / 1e6;
}

}  // namespace

TEST_CASE("faults: 100k forged uevents/s are dropped and counted while real changes are seen") {
  sanwatch::test::require_privileged("uevent flood fault test");
  const bool full = sanwatch::test::full_fault_run();
  const double flood_s = full ? 30 : 6;
  const int cycles = full ? 10 : 3;  // stalls without the flood, and at least as many during
  sanwatch::test::TempDir dir{"sanwatch-faults"};
  FaultDisk disk;
  const int base = 3000 + static_cast<int>(getpid() % 1000) * 4;
  TestLoop leaving(dir.path() + "/leaving.img", base, true);
  TestLoop starved(dir.path() + "/starved.img", base, true);
  TestLoop arriving(dir.path() + "/arriving.img", base, false);
  const std::string a = disk.loop_name();
  std::vector<std::string> msgs{
      forged("remove", a, disk.major_minor()),
      forged("change", a, disk.major_minor(), {"RESIZE=1"}),
      forged("change", a, disk.major_minor(),
             {"DM_TARGET=multipath", "DM_ACTION=PATH_FAILED", "DM_SEQNUM=1",
              "DM_PATH=" + disk.major_minor(), "DM_NR_VALID_PATHS=0", "DM_NAME=" + a}),
      forged("remove", leaving.name(), leaving.dev()),
      forged("add", arriving.name(), arriving.dev()),
      std::string("not a uevent\0JUNK\xff\0", 19)};
  sanwatch::test::UeventFlood flood(msgs);
  const std::string netns = flood.netns_path();
  AgentProcess agent(config_for({a, leaving.name(), starved.name(), arriving.name()}), {},
                     {"nsenter", "--net=" + netns, "--"});
  REQUIRE(watching(agent, leaving.name(), 5s));
  REQUIRE(watching(agent, a, 5s));
  REQUIRE(watching(agent, starved.name(), 5s));

  std::vector<double> base_lag, flood_lag;
  for (int i = 0; i < cycles; ++i)
    base_lag.push_back(sanwatch::test::stall_lag_ms(agent, disk, kStallS));

  sanwatch::test::KernelUeventCounter kernel;  // the real ones, counted where no flood goes
  auto before = settled(agent, netns);
  const double cpu0 = sanwatch::test::proc_cpu_s(agent.pid());
  const auto t_flood = std::chrono::steady_clock::now();
  flood.start(kRate);
  std::this_thread::sleep_for(500ms);  // the flood at full speed before anything real happens
  flood_lag.push_back(sanwatch::test::stall_lag_ms(agent, disk, kStallS));

  const std::uint64_t t_detach = mono_now_ns();
  leaving.detach();
  auto gone = agent.wait_state(leaving.name(), "gone", 10s);
  REQUIRE(gone);
  const double gone_ms = ms_since(t_detach, *gone);
  const std::uint64_t t_attach = mono_now_ns();
  arriving.attach();
  auto picked = watching(agent, arriving.name(), 10s);
  REQUIRE(picked);
  const double attach_ms = ms_since(t_attach, *picked);

  // The agent descheduled (SIGSTOP) until its socket overflows, and a loop
  // detached then: its real uevent is lost with the forged ones, and only the
  // rescan that follows ENOBUFS can see it gone.
  agent.process().send_signal(SIGSTOP);
  const bool overflowing =
      sanwatch::test::eventually([&] { return socket_drops(agent.pid()) > 0; }, 20s, 20ms);
  starved.detach();
  std::this_thread::sleep_for(200ms);  // the flood goes on into the full buffer
  const std::uint64_t t_cont = mono_now_ns();
  agent.process().send_signal(SIGCONT);
  REQUIRE(overflowing);
  auto starved_gone = agent.wait_state(starved.name(), "gone", 10s);
  REQUIRE(starved_gone);
  const double resync_ms = ms_since(t_cont, *starved_gone);
  // The agent said so (a warning per overflow it read).
  CHECK(std::any_of(agent.events().begin(), agent.events().end(), [](const json& j) {
    return j.value("msg", "").find("kernel uevents were lost") != std::string::npos;
  }));

  while (static_cast<int>(flood_lag.size()) < cycles ||
         std::chrono::steady_clock::now() - t_flood < std::chrono::duration<double>(flood_s))
    flood_lag.push_back(sanwatch::test::stall_lag_ms(agent, disk, kStallS));
  const auto sent = flood.stop();
  const double cpu_flood = sanwatch::test::proc_cpu_s(agent.pid()) - cpu0;
  // The agent still right after the flood: a stall seen as before.
  const double after_lag = sanwatch::test::stall_lag_ms(agent, disk, kStallS);
  auto after = settled(agent, netns);
  // The counter's own queue read out too (it gets no flood: a moment does).
  std::uint64_t real = kernel.count();
  while (sanwatch::test::eventually([&] { return kernel.count() != real; }, 300ms, 20ms))
    real = kernel.count();
  const std::uint64_t socket_lost = socket_drops(agent.pid());
  const std::uint64_t real_leaving = kernel.count_for(leaving.name()),
                      real_arriving = kernel.count_for(arriving.name());
  CHECK(agent.process().running());
  CHECK(agent.stop() == 0);

  // Counted: every forged one that reached the agent, under its own reason.
  const double d_process = dropped(after, "not_kernel") - dropped(before, "not_kernel");
  const double d_relayed = dropped(after, "relayed") - dropped(before, "relayed");
  const double received =
      after["sanwatch_uevents_received_total"] - before["sanwatch_uevents_received_total"];
  const double total_dropped =
      after["sanwatch_uevents_dropped_total"] - before["sanwatch_uevents_dropped_total"];
  const double overflows =
      after["sanwatch_uevent_overflows_total"] - before["sanwatch_uevent_overflows_total"];
  const double accepted = received - total_dropped;
  const double lost = static_cast<double>(sent.sent()) - d_process - d_relayed;
  CHECK(sent.failed == 0);
  CHECK(d_process <= static_cast<double>(sent.multicast));
  CHECK(d_relayed <= static_cast<double>(sent.relayed));
  CHECK(d_relayed > 0);                           // before the fix: accepted as the kernel's
  CHECK(total_dropped == d_process + d_relayed);  // nothing else was dropped
  // Lost only to the full socket buffer (the kernel's count of it holds the
  // real uevents lost too), which the agent noticed (ENOBUFS).
  CHECK(lost > 0);
  CHECK(lost <= static_cast<double>(socket_lost));
  CHECK(overflows >= 1);
  // Nothing forged accepted: at most the kernel's own uevents were.
  CHECK(accepted <= static_cast<double>(real));

  // No forged uevent changed a state; every real change reported.
  for (const auto& ev : agent.states(a)) CHECK(ev.value("to", "") != "gone");
  CHECK(agent.states(arriving.name()).empty());
  for (const auto* l : {&leaving, &starved}) {
    const auto states = agent.states(l->name());
    std::string series;
    for (const auto& [k, v] : after)
      if (k.find("\"" + l->name() + "\"") != std::string::npos) series += k + "\n";
    INFO(series);
    REQUIRE(states.size() == 1);  // gone, and only after its detach
    CHECK(states[0]["mono_ns"].get<std::uint64_t>() > t_detach);
    CHECK(after[fmt::format("sanwatch_state{{target=\"{}\",target_type=\"device\",state=\"gone\"}}",
                            l->name())] == 1);
  }
  CHECK(after[fmt::format("sanwatch_state{{target=\"{}\",target_type=\"device\",state=\"ok\"}}",
                          a)] == 1);
  CHECK(after[fmt::format("sanwatch_state{{target=\"{}\",target_type=\"device\",state=\"ok\"}}",
                          arriving.name())] == 1);
  const auto lb = sanwatch::test::spread(base_lag), lf = sanwatch::test::spread(flood_lag);
  CHECK(lf.max < lb.max + 250);
  CHECK(after_lag < lb.max + 250);

  const double cores = cpu_flood / sent.seconds;
  WARN(fmt::format(
      "uevent flood: {} forged sent in {:.1f} s ({:.0f}/s: {} multicast, {} relayed by the "
      "kernel); agent dropped {} + {} (not_kernel + relayed), lost {} to its socket buffer "
      "while SIGSTOPped (kernel: {} drops; {} overflows); accepted {} of {} kernel uevents ({} "
      "for {}, {} for {}); stall lag max {:.1f} ms without, {:.1f} ms during, {:.1f} ms after "
      "the flood; detach -> gone {:.0f} ms, attach -> watched {:.0f} ms, SIGCONT -> lost "
      "detach gone {:.0f} ms; agent CPU {:.2f} s ({:.2f} cores)",
      sent.sent(), sent.seconds, sent.rate(), sent.multicast, sent.relayed, d_process, d_relayed,
      lost, socket_lost, overflows, accepted, real, real_leaving, leaving.name(), real_arriving,
      arriving.name(), lb.max, lf.max, after_lag, gone_ms, attach_ms, resync_ms, cpu_flood, cores));
  sanwatch::test::print_fault_row(
      "100,000 uevents/s, and forged uevents",
      fmt::format("{:.0f} forged uevents/s for {:.0f} s in the agent's netns (half multicast "
                  "from a process port, half relayed by the kernel as port 0/uid 0): remove, "
                  "RESIZE, PATH_FAILED of the watched disk, add of an unattached loop, junk; "
                  "{} stalls, a watched loop detached, another attached, the agent SIGSTOPped "
                  "until its socket overflowed and a third loop detached then",
                  sent.rate(), sent.seconds, flood_lag.size()),
      fmt::format("forged: {} dropped as not_kernel, {} as relayed, none accepted, no state "
                  "changed; detach -> gone in {:.0f} ms, attach -> watched in {:.0f} ms; the "
                  "detach lost in the overflow gone {:.0f} ms after SIGCONT (ENOBUFS rescan); "
                  "stall lag max {:.1f} / {:.1f} / {:.1f} ms (before/during/after)",
                  d_process, d_relayed, gone_ms, attach_ms, resync_ms, lb.max, lf.max, after_lag),
      fmt::format("{} forged and {} real uevents to the full socket buffer ({} ENOBUFS, each "
                  "followed by a rescan); no state change missed",
                  lost, static_cast<double>(socket_lost) - lost, overflows),
      {{"sent", sent.sent()},
       {"rate_per_s", sent.rate()},
       {"dropped_not_kernel", d_process},
       {"dropped_relayed", d_relayed},
       {"lost_to_socket_buffer", lost},
       {"socket_drops", socket_lost},
       {"overflows", overflows},
       {"accepted", accepted},
       {"kernel_uevents", real},
       {"stall_lag_ms_base", to_json(lb)},
       {"stall_lag_ms_flood", to_json(lf)},
       {"stall_lag_ms_after", after_lag},
       {"detach_to_gone_ms", gone_ms},
       {"attach_to_watched_ms", attach_ms},
       {"sigcont_to_gone_ms", resync_ms},
       {"agent_cpu_cores", cores}});
}
