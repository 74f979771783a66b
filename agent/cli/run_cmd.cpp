// SPDX-License-Identifier: Apache-2.0
#include "cli/run_cmd.h"

#include <fmt/format.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <optional>
#include <utility>

#include "base/clock.h"
#include "base/event_loop.h"
#include "base/sd_notify.h"
#include "cli/agent_ledger.h"
#include "cli/fd_limit.h"
#include "cli/metrics_web.h"
#include "cli/snapshot.h"
#include "detect/event_log.h"
#include "detect/watchdog.h"
#include "exporters/alerts.h"
#include "exporters/journal_sink.h"
#include "exporters/metrics.h"

namespace sanwatch {
namespace {

// Test-only: with SANWATCH_TEST_FREEZE_SIGNAL=1, SIGUSR2 hangs the event loop
// so tests can see the systemd watchdog pings stop.
bool freeze_signal_enabled() {
  const char* v = std::getenv("SANWATCH_TEST_FREEZE_SIGNAL");
  return v && std::strcmp(v, "1") == 0;
}

Result<UniqueFd> block_signals() {
  sigset_t mask;
  sigemptyset(&mask);
  // A shell starts background jobs with SIGINT ignored, and an ignored signal
  // never reaches a signalfd: restore the defaults before blocking.
  for (int s : {SIGINT, SIGTERM, SIGHUP}) {
    signal(s, SIG_DFL);
    sigaddset(&mask, s);
  }
  if (freeze_signal_enabled()) sigaddset(&mask, SIGUSR2);
  if (sigprocmask(SIG_BLOCK, &mask, nullptr)) return errno_error("blocking signals");
  UniqueFd fd(signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK));
  if (!fd.valid()) return errno_error("signalfd");
  return fd;
}

// Everything the running agent is made of, in construction order (the
// dispatcher and exporter outlive the watchdog that feeds them).
struct Agent {
  const RunOptions& opts;
  EventLog log{stderr};
  SystemdNotifier systemd = SystemdNotifier::from_env();
  std::optional<JournalSink> journal = JournalSink::from_env();
  UniqueFd signals;
  std::unique_ptr<EventLoop> loop;
  std::unique_ptr<MetricsExporter> metrics;
  std::shared_ptr<const WebSetup> serving_web;  // what the metrics server started with
  std::shared_ptr<const WebSetup> web;          // the last valid one (users, headers live)
  std::unique_ptr<AlertDispatcher> alerts;
  std::unique_ptr<AgentLedger> ledger;
  std::unique_ptr<Watchdog> watchdog;

  std::string status_line() const {
    unsigned canaries = 0;
    for (const auto& [n, t] : watchdog->targets()) canaries += t.canary >= 0;
    return fmt::format("watching {} devices, {} canaries, metrics on port {}",
                       watchdog->targets().size(), canaries, metrics->port());
  }

  // Copies counters for scrapes every metrics.refresh; states go through at
  // once via the event subscription.
  void publish_metrics() {
    MetricsSnapshot snap = take_snapshot(*watchdog, alerts.get());
    if (ledger) {
      ledger->sample(snap.targets);
      snap.ledger = ledger->status();
      snap.baseline = ledger->baseline_status();
    }
    metrics->publish(std::move(snap));
    const auto every = static_cast<std::uint64_t>(watchdog->config().metrics.refresh.count());
    loop->at(monotonic_ns() + every, [this] { publish_metrics(); });
  }

  // WATCHDOG=1 from the loop itself: a stuck loop stops the pings.
  void ping_systemd(std::uint64_t every) {
    systemd.watchdog();
    loop->at(monotonic_ns() + every, [this, every] { ping_systemd(every); });
  }

  // SIGHUP: a new config that does not validate is rejected with its errors
  // and the running one stays.
  void reload() {
    systemd.reloading();
    auto cfg = read_agent_config(opts.config_path);
    if (!cfg) {
      log.error("configuration rejected, keeping the running one",
                {{"errors", cfg.error().message()}});
    } else {
      apply_web(cfg->web);
      watchdog->reload(std::move(cfg->config));
      alerts->reconfigure(watchdog->config().alerts);
      log.info("configuration reloaded", {{"config", watchdog->config().source}});
    }
    systemd.ready(status_line());
  }

  // SIGHUP with a valid web.yml: users and headers apply at once (they are
  // our own gate); TLS material only at restart, because libmicrohttpd
  // cannot swap a running daemon's credentials and a new daemon would mean
  // a moment without a listening socket.
  void apply_web(std::shared_ptr<const WebSetup> next) {
    const std::optional<TlsMaterial> none;
    if ((next ? next->tls : none) != (serving_web ? serving_web->tls : none))
      log.warn(
          "metrics.web_config: tls_server_config changed: validated, applied at the next "
          "restart; the metrics server keeps its running TLS settings",
          {{"running", serving_web ? describe(*serving_web) : "plain HTTP, no auth"},
           {"new", next ? describe(*next) : "plain HTTP, no auth"}});
    static const WebSetup kNone;
    if (!(next ? *next : kNone).same_gate(web ? *web : kNone)) {
      metrics->update_auth(next.get());
      log.info("metrics.web_config: basic_auth_users and headers applied",
               {{"users", next ? next->config.basic_auth_users.size() : 0}});
    }
    web = std::move(next);
  }

  // Structured records next to the JSON line when stderr is the journal.
  // Only the first failure is logged: the rest would repeat it.
  void subscribe_journal() {
    log.subscribe([this, warned = false](const StateChange& ev) mutable {
      if (auto st = journal->send(ev); !st && !std::exchange(warned, true))
        log.warn("state changes do not reach the journal as structured fields",
                 {{"error", st.error().message()}});
    });
    log.info("state changes also go to the journal as structured fields (SANWATCH_*)");
  }

  void on_signal() {
    signalfd_siginfo si{};
    while (read(signals.get(), &si, sizeof(si)) == sizeof(si)) {
      if (si.ssi_signo == SIGHUP) {
        reload();
      } else if (si.ssi_signo == SIGUSR2) {
        log.warn("SIGUSR2 with SANWATCH_TEST_FREEZE_SIGNAL=1: freezing the event loop");
        for (;;) pause();
      } else {
        log.info(
            fmt::format("signal {}: shutting down", strsignal(static_cast<int>(si.ssi_signo))));
        systemd.stopping();
        loop->stop();
      }
    }
  }

  Status start(AgentConfig ac) {
    Config& cfg = ac.config;
    const MetricsSettings& ms = cfg.metrics;
    raise_fd_limit(ms.max_connections + kOwnDescriptors, log);
    web = serving_web = ac.web;
    if (web)
      for (const auto& w : web->config.warnings) log.warn(w);
    if (web) log.info("metrics endpoint: " + describe(*web), {{"web_config", ms.web_config}});
    auto m = MetricsExporter::start({ms.listen, ms.max_connections, ms.max_connections_per_ip,
                                     std::chrono::ceil<std::chrono::milliseconds>(ms.read_timeout),
                                     ms.max_request_bytes, web});
    if (!m) return m.error();
    metrics = std::move(m).value();
    log.subscribe([e = metrics.get()](const StateChange& ev) {
      e->set_state(ev.target.label, std::string(ev.to()));
    });
    if (journal) subscribe_journal();
    alerts = make_alert_dispatcher(cfg.alerts, log);
    log.subscribe_batch(
        [d = alerts.get()](std::span<const StateChange> evs) { d->on_events(evs); });
    log.subscribe_baseline([d = alerts.get()](const BaselineEvent& e) { d->on_baseline(e); });
    // Before the watchdog: the state changes of its first scan are evidence too.
    if (cfg.ledger.enabled) ledger = AgentLedger::start(cfg, log);
    if (!cfg.ledger.enabled && cfg.baseline.enabled)
      log.info(
          "latency baseline off: it keeps its history in the ledger ([ledger] enabled = false)");
    watchdog = std::make_unique<Watchdog>(std::move(cfg), log, *loop, opts.root);
    if (auto st = watchdog->start(opts.verbose, opts.inflight_slots); !st)
      return Error{st.error().err, "cannot start: " + st.error().message()};
    if (ledger) ledger->check_placement(watchdog->snapshot(), opts.root);
    publish_metrics();
    if (auto st = loop->add_fd(signals.get(), EPOLLIN, [this](std::uint32_t) { on_signal(); }); !st)
      return st;
    if (auto every = systemd.watchdog_interval_ns()) ping_systemd(*every);
    return {};
  }

  void announce_ready() {
    const auto& c = watchdog->config();
    unsigned canaries = 0;
    for (const auto& [n, t] : watchdog->targets()) canaries += t.canary >= 0;
    log.info(
        "ready",
        {{"config", c.source},
         {"devices", watchdog->targets().size()},
         {"canaries", canaries},
         {"attach", watchdog->engine().attach_mode()},
         {"metrics", fmt::format("{}:{}", c.metrics.listen.substr(0, c.metrics.listen.rfind(':')),
                                 metrics->port())}});
    systemd.ready(status_line());
  }
};

}  // namespace

// On a host that boots from the SAN, the agent's own code and data live on
// the disks it watches: a page evicted and faulted in again during a stall
// would stall the agent too. Lock every page it has touched by now (start-up
// ran the hot paths) and every page it touches later; MCL_ONFAULT keeps
// untouched mappings (thread stacks, libraries' unused code) out of memory.
// Needs RLIMIT_MEMLOCK (the unit sets LimitMEMLOCK=infinity) or CAP_IPC_LOCK.
namespace {
bool has_ipc_lock() {
  std::ifstream f("/proc/self/status");
  for (std::string line; std::getline(f, line);)
    if (line.rfind("CapEff:", 0) == 0)
      return (std::stoull(line.substr(7), nullptr, 16) >> 14) & 1;  // CAP_IPC_LOCK
  return false;
}

void lock_memory(EventLog& log) {
  // Locked mappings count whole (169 MiB of address space here, mostly
  // untouched) against a finite RLIMIT_MEMLOCK, and with MCL_FUTURE a later
  // mmap past the limit would fail: lock only without such a limit.
  rlimit lim{};
  if (getrlimit(RLIMIT_MEMLOCK, &lim) == 0 && lim.rlim_cur != RLIM_INFINITY && !has_ipc_lock()) {
    log.info(
        "not locking the agent in memory: RLIMIT_MEMLOCK is finite (LimitMEMLOCK=infinity "
        "in the unit)");
    return;
  }
  if (mlockall(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT) != 0)
    log.warn(std::string("cannot lock the agent in memory (mlockall: ") + std::strerror(errno) +
             "); a stall of the disk holding its binary could delay it");
}
}  // namespace

int run_agent(const RunOptions& o) {
  auto cfg = read_agent_config(o.config_path);
  if (!cfg) {
    fmt::print(stderr, "{}\n", cfg.error().message());
    return 2;
  }
  // systemd hands our capabilities over as ambient ones, and execve() passes
  // the ambient set on: alerts.exec hooks would run with CAP_SYS_ADMIN. Drop
  // it; our own permitted and effective sets stay as they are.
  prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
  Agent a{o};
  a.log.set_level(parse_log_level(cfg->config.log_level));
  auto sig = block_signals();
  auto loop = EventLoop::create();
  if (!sig || !loop) {
    a.log.error(!sig ? sig.error().message() : loop.error().message());
    return 1;
  }
  a.signals = std::move(sig).value();
  a.loop = std::move(loop).value();
  if (auto st = a.start(std::move(cfg).value()); !st) {
    a.log.error(st.error().message());
    return 1;
  }
  // Locked before "ready" (and READY=1): from then on the agent is what the
  // operator relies on, page faults included. MCL_ONFAULT makes it cheap.
  lock_memory(a.log);
  a.announce_ready();
  auto ran = a.loop->run();
  if (!ran) a.log.error(ran.error().message());
  // Open incidents and the last minutes, then the stop row: a clean end.
  if (a.ledger) a.ledger->stop(take_snapshot(*a.watchdog, a.alerts.get()).targets, 5s);
  return ran ? 0 : 1;
}

int check_config(const std::string& path) {
  auto cfg = read_agent_config(path);
  if (!cfg) {
    fmt::print(stderr, "{}\n", cfg.error().message());
    return 2;
  }
  fmt::print("{}", render_config(cfg->config));
  // A TOML comment: the output still loads as a configuration.
  if (cfg->web) fmt::print("# metrics.web_config: {}\n", describe(*cfg->web));
  // Warnings do not make the configuration invalid (exit 0).
  for (const auto& w : metrics_warnings(*cfg)) fmt::print(stderr, "{}\n", w);
  return 0;
}

}  // namespace sanwatch
