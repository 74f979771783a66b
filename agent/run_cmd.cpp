#include "run_cmd.h"

#include <fmt/format.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>

#include "alerts.h"
#include "clock.h"
#include "event_log.h"
#include "event_loop.h"
#include "metrics.h"
#include "snapshot.h"
#include "watchdog.h"

namespace sanwatch {
namespace {

Result<Config> read_config(const std::string& path) {
  if (path.empty()) return parse_config(embedded_default_config(), "<embedded default>");
  return load_config(path);
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
  if (sigprocmask(SIG_BLOCK, &mask, nullptr)) return errno_error("blocking signals");
  UniqueFd fd(signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK));
  if (!fd.valid()) return errno_error("signalfd");
  return fd;
}

// SIGHUP: a new config that does not validate is rejected with its errors
// and the running one stays.
void reload(const RunOptions& o, Watchdog& w, EventLog& log, AlertDispatcher& alerts) {
  auto cfg = read_config(o.config_path);
  if (!cfg) {
    log.error("configuration rejected, keeping the running one",
              {{"errors", cfg.error().message()}});
    return;
  }
  w.reload(std::move(cfg).value());
  alerts.reconfigure(w.config().alerts);
  log.info("configuration reloaded", {{"config", w.config().source}});
}

// Copies counters for scrapes every metrics.refresh; states go through at
// once via the event subscription.
void publish_metrics(Watchdog& w, MetricsExporter& m, EventLoop& loop, const AlertDispatcher* a) {
  m.publish(take_snapshot(w, a));
  const auto every = static_cast<std::uint64_t>(w.config().metrics.refresh.count());
  loop.at(monotonic_ns() + every, [&w, &m, &loop, a] { publish_metrics(w, m, loop, a); });
}

void on_signal(int fd, const RunOptions& o, Watchdog& w, EventLog& log, EventLoop& loop,
               AlertDispatcher& alerts) {
  signalfd_siginfo si{};
  while (read(fd, &si, sizeof(si)) == sizeof(si)) {
    if (si.ssi_signo == SIGHUP) {
      reload(o, w, log, alerts);
    } else {
      log.info(fmt::format("signal {}: shutting down", strsignal(static_cast<int>(si.ssi_signo))));
      loop.stop();
    }
  }
}

}  // namespace

int run_agent(const RunOptions& o) {
  auto cfg = read_config(o.config_path);
  if (!cfg) {
    fmt::print(stderr, "{}\n", cfg.error().message());
    return 2;
  }
  EventLog log;
  log.set_level(parse_log_level(cfg->log_level));
  auto sig = block_signals();
  auto loop = EventLoop::create();
  if (!sig || !loop) {
    log.error(!sig ? sig.error().message() : loop.error().message());
    return 1;
  }
  auto metrics = MetricsExporter::start(cfg->metrics.listen);
  if (!metrics) {
    log.error(metrics.error().message());
    return 1;
  }
  log.subscribe([m = metrics->get()](const nlohmann::ordered_json& ev) {
    m->set_state(ev["target"].get<std::string>(), ev["to"].get<std::string>());
  });
  auto alerts = make_alert_dispatcher(cfg->alerts, log);
  log.subscribe([d = alerts.get()](const nlohmann::ordered_json& ev) { d->on_event(ev); });
  Watchdog w(std::move(cfg).value(), log, **loop, o.root);
  if (auto st = w.start(o.verbose); !st) {
    log.error("cannot start: " + st.error().message());
    return 1;
  }
  publish_metrics(w, **metrics, **loop, alerts.get());
  const int sfd = sig->get();
  if (auto st = (*loop)->add_fd(sfd, EPOLLIN,
                                [&](std::uint32_t) { on_signal(sfd, o, w, log, **loop, *alerts); });
      !st) {
    log.error(st.error().message());
    return 1;
  }
  unsigned canaries = 0;
  for (const auto& [n, t] : w.targets()) canaries += t.canary >= 0;
  const std::string host =
      w.config().metrics.listen.substr(0, w.config().metrics.listen.rfind(':'));
  log.info("ready", {{"config", w.config().source},
                     {"devices", w.targets().size()},
                     {"canaries", canaries},
                     {"attach", w.engine().attach_mode()},
                     {"metrics", fmt::format("{}:{}", host, (*metrics)->port())}});
  if (auto st = (*loop)->run(); !st) {
    log.error(st.error().message());
    return 1;
  }
  return 0;
}

int check_config(const std::string& path) {
  auto cfg = read_config(path);
  if (!cfg) {
    fmt::print(stderr, "{}\n", cfg.error().message());
    return 2;
  }
  fmt::print("{}", render_config(*cfg));
  return 0;
}

}  // namespace sanwatch
