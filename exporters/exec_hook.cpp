// SPDX-License-Identifier: Apache-2.0
#include "exporters/exec_hook.h"

#include <fcntl.h>
#include <linux/capability.h>
#include <linux/securebits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>
#include <utility>

#include "base/result.h"
#include "base/unique_fd.h"

namespace sanwatch {
namespace {

using ojson = nlohmann::ordered_json;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr std::size_t kMaxOutput = 4096;  // bytes of a run's output kept for the log
// Past the kept bytes, output is only drained (and dropped) this often: a
// hook writing without end (`yes`) would otherwise wake this thread for
// every write it makes, half a CPU for as long as it runs. Between drains it
// blocks on its full pipe (64 KiB), so a merely verbose hook still finishes:
// 1 MiB of output costs it about 1.6 s.
constexpr auto kDrainEvery = std::chrono::milliseconds(100);
// Reads per drain: 16 x 4 KiB empties a full pipe. Bounded so that a writer
// as fast as the reader cannot keep this thread from its deadlines.
constexpr int kReadsPerDrain = 16;
constexpr auto kReapOnStop = 2s;       // bound on the destructor's wait for killed runs
constexpr int kPollWithoutPidfd = 20;  // ms; only kernels without pidfd_open

struct Run {
  pid_t pid = -1;
  UniqueFd pidfd;   // readable once the process exited; invalid on old kernels
  UniqueFd output;  // read end of the run's stdout and stderr
  std::string out;
  Clock::time_point started;
  Clock::time_point deadline;
  Clock::time_point next_drain;  // once `out` is full: not polled before this
  bool killed = false;
  std::string target, to;
};

// posix_spawn attributes and file actions, destroyed on every path.
struct SpawnSetup {
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t attr;
  SpawnSetup() {
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&attr);
  }
  ~SpawnSetup() {
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
  }
  SpawnSetup(const SpawnSetup&) = delete;
  SpawnSetup& operator=(const SpawnSetup&) = delete;
};

// A clean environment: the agent's PATH (or a default) and the SANWATCH_*
// variables. Nothing else of the agent's goes through: under systemd that
// is NOTIFY_SOCKET, WATCHDOG_*, INVOCATION_ID and whatever a drop-in set.
std::vector<std::string> clean_environment(const StateChange& ev) {
  const char* path = std::getenv("PATH");
  std::vector<std::string> out{std::string("PATH=") +
                               (path && *path ? path : "/usr/local/bin:/usr/bin:/bin")};
  for (auto& v : hook_environment(ev)) out.push_back(std::move(v));
  return out;
}

// Called on the hook's own thread before it starts anything: capabilities
// are per thread and inherited by what it spawns. The agent's ambient
// capabilities (the unit's AmbientCapabilities=) would otherwise pass to
// every hook, CAP_SYS_ADMIN included. Run as root, the thread also drops
// its bounding set and sets SECBIT_NOROOT, so a hook run as uid 0 gains no
// capability at exec either. Best effort past the first step: without
// CAP_SETPCAP (the unit's case) the first is all a non-root hook needs.
void limit_hook_privileges() {
  prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
  if (prctl(PR_CAPBSET_READ, CAP_SETPCAP, 0, 0, 0) != 1) return;
  prctl(PR_SET_SECUREBITS, SECBIT_NOROOT | SECBIT_NOROOT_LOCKED, 0, 0, 0);
  for (int cap = 0; cap < 64; ++cap) {
    if (cap == CAP_SETPCAP) continue;  // needed for the drops; goes last
    prctl(PR_CAPBSET_DROP, cap, 0, 0, 0);
  }
  prctl(PR_CAPBSET_DROP, CAP_SETPCAP, 0, 0, 0);
}

std::vector<char*> c_strings(std::vector<std::string>& v) {
  std::vector<char*> p;
  for (auto& s : v) p.push_back(s.data());
  p.push_back(nullptr);
  return p;
}

void configure_spawn(SpawnSetup& s, int in, int out) {
  posix_spawn_file_actions_adddup2(&s.fa, in, 0);
  posix_spawn_file_actions_adddup2(&s.fa, out, 1);
  posix_spawn_file_actions_adddup2(&s.fa, out, 2);
  // Not every descriptor in the agent is O_CLOEXEC (curl's sockets are not).
  posix_spawn_file_actions_addclosefrom_np(&s.fa, 3);
  // Own process group, so the timeout kill reaches whatever the hook
  // started; default mask and dispositions, since the agent blocks
  // SIGTERM/SIGINT/SIGHUP for its signalfd and a child would inherit that.
  posix_spawnattr_setflags(&s.attr,
                           POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  posix_spawnattr_setpgroup(&s.attr, 0);
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&s.attr, &none);
  posix_spawnattr_setsigdefault(&s.attr, &all);
}

Result<Run> spawn_hook(std::vector<std::string> argv, const StateChange& ev) {
  int in[2], out[2];
  if (pipe2(in, O_CLOEXEC)) return errno_error("pipe for the hook's stdin");
  UniqueFd in_r(in[0]), in_w(in[1]);
  if (pipe2(out, O_CLOEXEC)) return errno_error("pipe for the hook's output");
  UniqueFd out_r(out[0]), out_w(out[1]);
  // The event goes into the pipe before the child exists: it is far smaller
  // than the pipe buffer, so this never blocks, and a hook that never reads
  // stdin cannot raise SIGPIPE in the agent.
  const std::string json =
      state_json(ev).dump(-1, ' ', false, ojson::error_handler_t::replace) + "\n";
  fcntl(in_w.get(), F_SETFL, O_NONBLOCK);
  if (write(in_w.get(), json.data(), json.size()) != static_cast<ssize_t>(json.size()))
    return errno_error("writing the event to the hook's stdin");
  in_w.reset();
  fcntl(out_r.get(), F_SETFL, O_NONBLOCK);
  SpawnSetup setup;
  configure_spawn(setup, in_r.get(), out_w.get());
  std::vector<std::string> env = clean_environment(ev);
  auto envp = c_strings(env);
  auto args = c_strings(argv);
  Run r;
  if (int rc =
          posix_spawnp(&r.pid, argv[0].c_str(), &setup.fa, &setup.attr, args.data(), envp.data()))
    return Error{rc, "starting " + argv[0]};
  r.pidfd.reset(static_cast<int>(syscall(SYS_pidfd_open, r.pid, 0)));
  r.output = std::move(out_r);
  r.started = Clock::now();
  r.target = ev.target.label;
  r.to = std::string(ev.to());
  return r;
}

void drain_output(Run& r) {
  char buf[4096];
  for (int i = 0; i < kReadsPerDrain && r.output.valid(); ++i) {
    const ssize_t n = read(r.output.get(), buf, sizeof(buf));
    if (n > 0) {
      r.out.append(buf, std::min<std::size_t>(n, kMaxOutput - std::min(kMaxOutput, r.out.size())));
    } else if (n < 0 && errno == EINTR) {
      continue;  // (counts as one of the reads: a bound, not a tally)
    } else {
      if (n == 0 || errno != EAGAIN) r.output.reset();  // EAGAIN: more later
      return;
    }
  }
}

}  // namespace

std::vector<std::string> hook_environment(const StateChange& ev) {
  return {"SANWATCH_TARGET=" + ev.target.label,      "SANWATCH_TARGET_TYPE=" + ev.target.type,
          "SANWATCH_FROM=" + std::string(ev.from()), "SANWATCH_TO=" + std::string(ev.to()),
          "SANWATCH_REASON=" + ev.transition.reason, "SANWATCH_EVENT_TS=" + ev.ts};
}

struct ExecHook::Impl {
  Impl(const AlertSettings& s, EventLog& l) : log(l), settings(s) {}
  void run();
  void start(const StateChange& ev, const AlertSettings& s);
  void wait_and_handle();
  void timeout(Run& r, Clock::time_point now);
  void finish(Run& r, int status);
  void kill_all();
  void wake_up() {
    const std::uint64_t one = 1;
    [[maybe_unused]] auto n = write(wake.get(), &one, sizeof(one));
  }
  void count(std::uint64_t SinkStats::*counter) {
    std::lock_guard lock(mu);
    ++(stats.*counter);
  }

  EventLog& log;
  UniqueFd wake{eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)};
  std::vector<Run> running;  // worker thread only

  mutable std::mutex mu;  // guards what follows
  AlertSettings settings;
  std::deque<StateChange> queue;
  bool stopping = false;
  bool drop_logged = false;  // once per burst
  SinkStats stats{"exec"};
  std::thread worker;
};

void ExecHook::Impl::run() {
  limit_hook_privileges();
  for (;;) {
    std::vector<StateChange> to_start;
    AlertSettings s;
    {
      std::lock_guard lock(mu);
      if (stopping) break;
      while (running.size() + to_start.size() < settings.exec_max_concurrent && !queue.empty()) {
        to_start.push_back(std::move(queue.front()));
        queue.pop_front();
      }
      if (queue.empty()) drop_logged = false;
      if (!to_start.empty()) s = settings;
    }
    for (const auto& ev : to_start) start(ev, s);
    wait_and_handle();
  }
  kill_all();
}

void ExecHook::Impl::start(const StateChange& ev, const AlertSettings& s) {
  if (s.exec_command.empty()) return;  // removed by a reload meanwhile
  auto r = spawn_hook(s.exec_command, ev);
  if (!r) {
    count(&SinkStats::failed);
    log.error("exec hook could not start", {{"command", s.exec_command[0]},
                                            {"error", r.error().message()},
                                            {"target", ev.target.label}});
    return;
  }
  r->deadline = r->started + s.exec_timeout;
  log.debug("exec hook started", {{"pid", r->pid}, {"target", r->target}, {"to", r->to}});
  running.push_back(std::move(r).value());
}

// Sleeps until the wake eventfd, a run's exit or output, or the nearest
// timeout; then handles whatever happened.
void ExecHook::Impl::wait_and_handle() {
  std::vector<pollfd> fds{{wake.get(), POLLIN, 0}};
  auto now = Clock::now();
  int wait = -1;
  const auto until = [&](Clock::time_point t) {
    return static_cast<int>(std::chrono::ceil<std::chrono::milliseconds>(t - now).count());
  };
  for (const auto& r : running) {
    fds.push_back({r.pidfd.get(), POLLIN, 0});
    // A negative fd is skipped by poll() and keeps the indices in step.
    const bool resting = r.out.size() >= kMaxOutput && now < r.next_drain;
    fds.push_back({resting ? -1 : r.output.get(), POLLIN, 0});
    int ms = r.killed ? -1 : until(r.deadline);
    if (resting && r.output.valid())
      ms = ms < 0 ? until(r.next_drain) : std::min(ms, until(r.next_drain));
    if (!r.pidfd.valid()) ms = ms < 0 ? kPollWithoutPidfd : std::min(ms, kPollWithoutPidfd);
    if (ms >= 0) wait = wait < 0 ? std::max(ms, 0) : std::min(wait, std::max(ms, 0));
  }
  poll(fds.data(), fds.size(), wait);
  if (fds[0].revents) {
    std::uint64_t v;
    [[maybe_unused]] auto n = read(wake.get(), &v, sizeof(v));
  }
  now = Clock::now();
  for (std::size_t i = 0; i < running.size(); ++i) {
    Run& r = running[i];
    if (fds[2 + 2 * i].revents) {
      drain_output(r);
      if (r.out.size() >= kMaxOutput) r.next_drain = now + kDrainEvery;
    }
    if (!r.killed && now >= r.deadline) timeout(r, now);
  }
  // Reap whatever exited; pidfd readiness only told us to look.
  for (auto it = running.begin(); it != running.end();) {
    int status = 0;
    if (waitpid(it->pid, &status, WNOHANG) == it->pid) {
      drain_output(*it);
      finish(*it, status);
      it = running.erase(it);
    } else {
      ++it;
    }
  }
}

void ExecHook::Impl::timeout(Run& r, Clock::time_point now) {
  kill(-r.pid, SIGKILL);
  r.killed = true;
  count(&SinkStats::failed);
  log.warn(
      "exec hook killed at its timeout",
      {{"pid", r.pid},
       {"target", r.target},
       {"to", r.to},
       {"after_ms", std::chrono::duration_cast<std::chrono::milliseconds>(now - r.started).count()},
       {"output", r.out}});
}

void ExecHook::Impl::finish(Run& r, int status) {
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - r.started).count();
  if (r.killed) {
    log.debug("exec hook reaped after its kill", {{"pid", r.pid}, {"ms", ms}});
    return;
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
    count(&SinkStats::delivered);
    log.debug("exec hook done", {{"pid", r.pid}, {"target", r.target}, {"ms", ms}});
    return;
  }
  count(&SinkStats::failed);
  ojson f{{"pid", r.pid}, {"target", r.target}, {"to", r.to}, {"ms", ms}};
  if (WIFEXITED(status))
    f["exit_code"] = WEXITSTATUS(status);
  else
    f["signal"] = strsignal(WTERMSIG(status));
  f["output"] = r.out;
  log.warn("exec hook failed", f);
}

// Shutdown: nothing may outlive the agent's intent to stop; killed runs are
// reaped within a bound (a child stuck in D state is left behind).
void ExecHook::Impl::kill_all() {
  for (auto& r : running) kill(-r.pid, SIGKILL);
  const auto deadline = Clock::now() + kReapOnStop;
  while (!running.empty() && Clock::now() < deadline) {
    std::erase_if(running, [](Run& r) {
      int status;
      return waitpid(r.pid, &status, WNOHANG) == r.pid;
    });
    if (!running.empty()) std::this_thread::sleep_for(5ms);
  }
}

ExecHook::ExecHook(const AlertSettings& settings, EventLog& log)
    : impl_(std::make_unique<Impl>(settings, log)) {
  impl_->worker = std::thread([this] { impl_->run(); });
}

ExecHook::~ExecHook() {
  {
    std::lock_guard lock(impl_->mu);
    impl_->stopping = true;
  }
  impl_->wake_up();
  impl_->worker.join();
}

void ExecHook::on_event(const StateChange& event) {
  bool first_drop = false;
  std::uint32_t cap = 0;
  {
    std::lock_guard lock(impl_->mu);
    if (impl_->settings.exec_command.empty()) return;
    cap = std::max<std::uint32_t>(impl_->settings.queue, 1);
    // Full: the oldest waiting run goes, a newer event says more about now.
    if (impl_->queue.size() >= cap) {
      impl_->queue.pop_front();
      ++impl_->stats.dropped;
      first_drop = !std::exchange(impl_->drop_logged, true);
    }
    impl_->queue.push_back(event);
  }
  impl_->wake_up();
  if (first_drop)
    impl_->log.warn("exec hook queue full, dropping the oldest waiting event", {{"queue", cap}});
}

void ExecHook::reconfigure(const AlertSettings& settings) {
  {
    std::lock_guard lock(impl_->mu);
    impl_->settings = settings;
    if (settings.exec_command.empty()) impl_->queue.clear();
  }
  impl_->wake_up();
}

SinkStats ExecHook::stats() const {
  std::lock_guard lock(impl_->mu);
  SinkStats s = impl_->stats;
  s.queued = impl_->queue.size();
  return s;
}

}  // namespace sanwatch
