// Alert sinks: the pure event -> alert mapping, the bounded queue, delivery
// to loopback HTTP listeners, and the exec hook. No root needed.
#include "alerts.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <cctype>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

#include "alertmanager.h"
#include "clock.h"
#include "exec_hook.h"

using namespace std::chrono_literals;
using nlohmann::ordered_json;
using sanwatch::Alert;
using sanwatch::AlertBook;
using sanwatch::AlertContext;
using sanwatch::AlertQueue;
using sanwatch::AlertSettings;

namespace {

ordered_json event(const std::string& target, const std::string& type, const std::string& from,
                   const std::string& to, const std::string& ts = "2026-11-23T15:43:42.123456Z",
                   ordered_json extra = ordered_json::object()) {
  ordered_json j{{"ts", ts},
                 {"mono_ns", 123456789},
                 {"event", "state"},
                 {"target", target},
                 {"target_type", type},
                 {"from", from},
                 {"to", to},
                 {"reason", "it happened"},
                 {"ios", 12},
                 {"slow_ios", 3},
                 {"max_latency_s", 0.6123456},
                 {"inflight_oldest_s", 0.75},
                 {"errors", 0},
                 {"canary_latency_s", 0.0},
                 {"canary_overdue_s", 0.0},
                 {"canary_errors", 0},
                 {"device", "7:3"}};
  j.update(extra);
  return j;
}

const AlertContext kCtx{"db01", {{"env", "prod"}, {"instance", "not-this"}}};

// Reads a whole file (the EventLog's, a hook's output).
std::string slurp(const std::string& path) {
  std::ifstream f(path);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

// A temp directory removed at scope exit.
struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/sanwatch-alerts-XXXXXX";
    REQUIRE(mkdtemp(tmpl));
    path = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

// An EventLog writing to a file the test can read.
struct FileLog {
  TempDir dir;
  std::string path = dir.path + "/log";
  std::FILE* f = std::fopen(path.c_str(), "w");
  sanwatch::EventLog log{f};
  FileLog() { log.set_level(sanwatch::LogLevel::kDebug); }
  ~FileLog() { std::fclose(f); }
  std::string text() const { return slurp(path); }
};

// Exited: no such process, or a zombie its (new) parent has not reaped yet.
bool dead(pid_t pid) {
  const std::string stat = slurp("/proc/" + std::to_string(pid) + "/stat");
  const auto paren = stat.rfind(')');
  return stat.empty() || (paren != std::string::npos && stat.substr(paren + 2, 1) == "Z");
}

template <typename Pred>
bool eventually(Pred p, std::chrono::milliseconds timeout = 5s) {
  const auto end = std::chrono::steady_clock::now() + timeout;
  while (!p()) {
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

}  // namespace

TEST_CASE("alerts: alertname and severity per target type and state") {
  CHECK(sanwatch::alert_name("device", "stalled") == "SanwatchDeviceStalled");
  CHECK(sanwatch::alert_name("path", "failed") == "SanwatchPathFailed");
  CHECK(sanwatch::alert_name("map", "degraded") == "SanwatchMapDegraded");
  CHECK(sanwatch::alert_name("path", "flapping") == "SanwatchPathFlapping");
  for (const char* s : {"stalled", "failed", "gone", "down"})
    CHECK(sanwatch::alert_severity(s) == "critical");
  for (const char* s : {"slow", "degraded", "flapping"})
    CHECK(sanwatch::alert_severity(s) == "warning");
}

TEST_CASE("alerts: a firing alert carries identity labels and evidence annotations") {
  auto ev = event("loop3", "device", "ok", "stalled", "2026-11-23T15:43:42.123456Z",
                  {{"dm_name", "mpatha"}, {"wwid", "3600a0b80"}, {"last_error", "ioerr"}});
  auto a = sanwatch::alert_for(ev, "stalled", kCtx);
  REQUIRE(a);
  CHECK(a->labels == sanwatch::AlertLabels{{"alertname", "SanwatchDeviceStalled"},
                                           {"severity", "critical"},
                                           {"instance", "db01"},  // computed beats static
                                           {"device", "loop3"},
                                           {"dm_name", "mpatha"},
                                           {"wwid", "3600a0b80"},
                                           {"env", "prod"}});
  CHECK(a->starts_at == "2026-11-23T15:43:42.123456Z");
  CHECK(a->ends_at.empty());
  CHECK_FALSE(a->resolved());
  CHECK(a->annotations.at("reason") == "it happened");
  CHECK(a->annotations.at("summary") == "Device loop3 (mpatha) on db01 is stalled: it happened");
  CHECK(a->annotations.at("max_latency_s") == "0.612346");
  CHECK(a->annotations.at("inflight_oldest_s") == "0.75");
  CHECK(a->annotations.at("ios") == "12");
  CHECK(a->annotations.at("last_error") == "ioerr");
  CHECK(a->annotations.at("major_minor") == "7:3");
  for (const char* k : {"ts", "mono_ns", "event", "from", "to", "target", "device", "wwid"})
    CHECK(a->annotations.count(k) == 0);
  CHECK_FALSE(sanwatch::alert_for(ev, "ok", kCtx));
}

TEST_CASE("alerts: paths and maps are labelled by their type, with array and port") {
  auto ev = event("sdb", "path", "ok", "failed", "2026-11-23T15:43:42.123456Z",
                  {{"map", "mpatha"}, {"array", "pure-01"}, {"target_port", "ct0.fc1"}});
  auto a = sanwatch::alert_for(ev, "failed", kCtx);
  REQUIRE(a);
  CHECK(a->labels.at("alertname") == "SanwatchPathFailed");
  CHECK(a->labels.at("path") == "sdb");
  CHECK(a->labels.at("map") == "mpatha");
  CHECK(a->labels.at("array") == "pure-01");
  CHECK(a->labels.at("target_port") == "ct0.fc1");
  CHECK(a->labels.count("device") == 0);
  CHECK(a->annotations.at("summary") == "Path sdb of mpatha on db01 is failed: it happened");
  auto m = sanwatch::alert_for(event("mpatha", "map", "ok", "degraded", "t", {{"valid_paths", 1}}),
                               "degraded", kCtx);
  REQUIRE(m);
  CHECK(m->labels.at("alertname") == "SanwatchMapDegraded");
  CHECK(m->labels.at("severity") == "warning");
  CHECK(m->labels.at("map") == "mpatha");
  CHECK(m->annotations.at("valid_paths") == "1");
}

TEST_CASE("alerts: a transition resolves the old state's alert, then fires the new one") {
  const std::string t1 = "2026-11-23T15:43:42.000001Z";
  auto fire = sanwatch::transition_alerts(event("loop3", "device", "ok", "slow", t1), kCtx);
  REQUIRE(fire.size() == 1);
  CHECK(fire[0].labels.at("alertname") == "SanwatchDeviceSlow");
  CHECK(fire[0].starts_at == t1);

  auto both = sanwatch::transition_alerts(event("loop3", "device", "slow", "stalled", t1), kCtx);
  REQUIRE(both.size() == 2);
  CHECK(both[0].labels.at("alertname") == "SanwatchDeviceSlow");
  CHECK(both[0].ends_at == t1);
  CHECK(both[0].resolved());
  CHECK(both[1].labels.at("alertname") == "SanwatchDeviceStalled");
  CHECK(both[1].starts_at == t1);
  CHECK_FALSE(both[1].resolved());

  auto back = sanwatch::transition_alerts(event("loop3", "device", "stalled", "ok", t1), kCtx);
  REQUIRE(back.size() == 1);
  CHECK(back[0].labels.at("alertname") == "SanwatchDeviceStalled");
  CHECK(back[0].ends_at == t1);
  CHECK(back[0].annotations.at("summary") ==
        "Device loop3 on db01 is no longer stalled, now ok: it happened");
  CHECK(sanwatch::transition_alerts(event("x", "", "ok", "slow"), kCtx).empty());
}

TEST_CASE("alerts: the book resolves exactly what it sent, with the original startsAt") {
  AlertBook book;
  const std::string t1 = "2026-11-23T15:43:42.000001Z", t2 = "2026-11-23T15:43:45.000002Z";
  auto fired = book.apply(event("loop3", "device", "ok", "stalled", t1), kCtx);
  REQUIRE(fired.size() == 1);
  CHECK(book.size() == 1);
  CHECK(book.is_firing(fired[0]));
  // The later event has a new identity field: the resolve must still match.
  auto done = book.apply(event("loop3", "device", "stalled", "ok", t2, {{"array", "a1"}}), kCtx);
  REQUIRE(done.size() == 1);
  CHECK(done[0].labels == fired[0].labels);
  CHECK(done[0].starts_at == t1);
  CHECK(done[0].ends_at == t2);
  CHECK(book.size() == 0);
  CHECK(book.firing().empty());
}

TEST_CASE("alerts: new static labels resolve the old label set and fire the new one") {
  AlertBook book;
  book.apply(event("loop3", "device", "ok", "slow", "t1"), kCtx);
  CHECK(book.relabel(kCtx, "t2").empty());  // nothing changed
  AlertContext next{"db01", {{"env", "staging"}}};
  auto out = book.relabel(next, "t2");
  REQUIRE(out.size() == 2);
  CHECK(out[0].labels.at("env") == "prod");
  CHECK(out[0].ends_at == "t2");
  CHECK(out[1].labels.at("env") == "staging");
  CHECK(out[1].starts_at == "t1");
  CHECK_FALSE(out[1].resolved());
  REQUIRE(book.firing().size() == 1);
  CHECK(book.firing()[0].labels.at("env") == "staging");
}

TEST_CASE("alerts: the request body is Alertmanager's postable alert array") {
  auto alerts =
      sanwatch::transition_alerts(event("loop3", "device", "slow", "stalled", "t1"), kCtx);
  auto body = sanwatch::alerts_body(alerts);
  REQUIRE(body.is_array());
  REQUIRE(body.size() == 2);
  CHECK(body[0]["endsAt"] == "t1");
  CHECK(body[0]["labels"]["alertname"] == "SanwatchDeviceSlow");
  CHECK(body[1].contains("endsAt") == false);
  CHECK(body[1]["startsAt"] == "t1");
  CHECK(body[1]["annotations"]["reason"] == "it happened");
}

TEST_CASE("alerts: queue overflow evicts what costs least and counts it") {
  auto firing_alert = [](const std::string& t) {
    return *sanwatch::alert_for(event(t, "device", "ok", "slow", "t1"), "slow", kCtx);
  };
  auto resolved_alert = [&](const std::string& t) {
    Alert a = firing_alert(t);
    a.ends_at = "t2";
    return a;
  };
  AlertQueue q(3);
  const auto none = [](const Alert&) { return false; };
  CHECK(q.push(firing_alert("a"), none) == 0);
  CHECK(q.push(resolved_alert("b"), none) == 0);
  CHECK(q.push(firing_alert("c"), none) == 0);
  // Full. "c" still fires: the re-send after recovery covers it.
  const auto c_fires = [](const Alert& a) { return a.labels.at("device") == "c"; };
  CHECK(q.push(firing_alert("d"), c_fires) == 1);
  REQUIRE(q.size() == 3);
  CHECK(q.entries()[2].labels.at("device") == "d");
  CHECK(std::none_of(q.entries().begin(), q.entries().end(),
                     [](const Alert& a) { return a.labels.at("device") == "c"; }));
  // Then the oldest resolved one (b) rather than the older firing one (a).
  CHECK(q.push(firing_alert("e"), none) == 1);
  CHECK(q.entries()[0].labels.at("device") == "a");
  CHECK(q.entries()[1].labels.at("device") == "d");
  // Then the oldest superseded one: "a" again later supersedes the first.
  CHECK(q.push(resolved_alert("a"), none) == 1);
  CHECK(q.entries()[0].labels.at("device") == "d");
  // In flight entries are kept while others can go; shrinking counts too.
  auto batch = q.begin_batch(1);
  REQUIRE(batch.size() == 1);
  CHECK(q.push(firing_alert("f"), none) == 1);
  CHECK(q.entries()[0].labels.at("device") == "d");
  CHECK(q.set_capacity(1, none) == 2);
  CHECK(q.size() == 1);
  CHECK(q.finish_batch(true) == 1);
  CHECK(q.empty());
}

TEST_CASE("alerts: exec hook environment names the transition") {
  auto env = sanwatch::hook_environment(event("sdb", "path", "ok", "failed", "t1"));
  CHECK(env == std::vector<std::string>{"SANWATCH_TARGET=sdb", "SANWATCH_TARGET_TYPE=path",
                                        "SANWATCH_FROM=ok", "SANWATCH_TO=failed",
                                        "SANWATCH_REASON=it happened", "SANWATCH_EVENT_TS=t1"});
}

// ---------------------------------------------------------------------------
// Delivery against loopback listeners.

namespace {

// A minimal HTTP/1.1 server on 127.0.0.1: records each request's body and
// the CLOCK_MONOTONIC time its first byte arrived, answers `status`.
class TestAlertmanager {
 public:
  struct Request {
    std::string head, body;
    std::uint64_t first_byte_ns = 0;
  };

  TestAlertmanager() {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(a);
    REQUIRE(bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0);
    REQUIRE(listen(fd_, 16) == 0);
    REQUIRE(getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) == 0);
    port_ = ntohs(a.sin_port);
    REQUIRE(pipe2(wake_, O_CLOEXEC) == 0);
    thread_ = std::thread([this] { loop(); });
  }
  ~TestAlertmanager() {
    [[maybe_unused]] auto n = write(wake_[1], "x", 1);
    thread_.join();
    for (int fd : {fd_, wake_[0], wake_[1]}) close(fd);
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  void set_status(int s) { status_ = s; }
  int connections() const { return connections_; }
  std::vector<Request> requests() const {
    std::lock_guard lock(mu_);
    return requests_;
  }
  bool wait_for(std::size_t n, std::chrono::milliseconds timeout = 5s) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return requests_.size() >= n; });
  }
  // Alert objects (body array elements) received so far, in order.
  std::vector<nlohmann::json> alerts() const {
    std::vector<nlohmann::json> out;
    for (const auto& r : requests())
      for (auto& a : nlohmann::json::parse(r.body)) out.push_back(a);
    return out;
  }

 private:
  struct Conn {
    int fd;
    std::string buf;
    std::uint64_t first_ns = 0;
  };

  void loop() {
    std::vector<Conn> conns;
    for (;;) {
      std::vector<pollfd> p{{wake_[0], POLLIN, 0}, {fd_, POLLIN, 0}};
      for (auto& c : conns) p.push_back({c.fd, POLLIN, 0});
      poll(p.data(), p.size(), -1);
      const std::uint64_t now = sanwatch::monotonic_ns();  // upper bound of the arrival
      if (p[0].revents) break;
      if (p[1].revents) {
        conns.push_back({accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC), "", 0});
        ++connections_;
      }
      for (std::size_t i = 0; i + 2 < p.size(); ++i) {
        if (!p[i + 2].revents) continue;
        char buf[65536];
        const ssize_t n = read(conns[i].fd, buf, sizeof(buf));
        if (n <= 0) {
          close(conns[i].fd);
          conns[i].fd = -1;
          continue;
        }
        if (conns[i].buf.empty()) conns[i].first_ns = now;
        conns[i].buf.append(buf, n);
        serve(conns[i], now);
      }
      std::erase_if(conns, [](const Conn& c) { return c.fd < 0; });
    }
    for (auto& c : conns) close(c.fd);
  }

  // Answers every complete request in the buffer.
  void serve(Conn& c, std::uint64_t now) {
    for (;;) {
      const auto end = c.buf.find("\r\n\r\n");
      if (end == std::string::npos) return;
      std::string head = c.buf.substr(0, end);
      std::size_t length = 0;
      std::string lower = head;
      std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
      if (auto k = lower.find("content-length:"); k != std::string::npos)
        length = std::stoul(head.substr(k + 15));
      if (c.buf.size() < end + 4 + length) return;
      {
        std::lock_guard lock(mu_);
        requests_.push_back({head, c.buf.substr(end + 4, length), c.first_ns});
      }
      cv_.notify_all();
      c.buf.erase(0, end + 4 + length);
      c.first_ns = c.buf.empty() ? 0 : now;
      const std::string reply = "HTTP/1.1 " + std::to_string(status_.load()) +
                                " X\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nno";
      [[maybe_unused]] auto n = send(c.fd, reply.data(), reply.size(), MSG_NOSIGNAL);
    }
  }

  int fd_ = -1;
  int port_ = 0;
  int wake_[2] = {-1, -1};
  std::atomic<int> status_{200};
  std::atomic<int> connections_{0};
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Request> requests_;
  std::thread thread_;
};

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
  CHECK(log.text().find("alertmanager unreachable") != std::string::npos);
  CHECK(eventually([&] { return log.text().find("reachable again") != std::string::npos; }));
}

TEST_CASE("alerts: every URL gets every alert, a rejected batch is not retried") {
  TestAlertmanager a, b;
  FileLog log;
  auto d = sanwatch::make_alert_dispatcher(settings_for({a.url(), b.url() + "/"}), log.log);
  d->on_event(event("loop3", "device", "ok", "slow"));
  d->on_event(event("loop3", "device", "slow", "ok"));
  d->on_event(ordered_json{{"event", "log"}, {"msg", "not a state"}});
  for (auto* am : {&a, &b}) {
    REQUIRE(eventually([&] { return am->alerts().size() >= 2; }));
    CHECK(has_alert(am->alerts(), "SanwatchDeviceSlow", "loop3", false));
    CHECK(has_alert(am->alerts(), "SanwatchDeviceSlow", "loop3", true));
  }
  REQUIRE(d->stats().size() == 2);
  // 400: Alertmanager refused the content; retrying cannot help.
  b.set_status(400);
  d->on_event(event("loop4", "device", "ok", "slow"));
  REQUIRE(eventually([&] { return d->stats()[1].dropped == 1; }));
  std::this_thread::sleep_for(300ms);
  CHECK(d->stats()[1].failed == 1);
  CHECK(log.text().find("alertmanager rejected alerts") != std::string::npos);
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
      eventually([&] { return has_alert(am.alerts(), "SanwatchDeviceStalled", "loop3", true); }));
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
    auto got = am.alerts();
    for (int i = 1; i < 5; ++i)
      if (!has_alert(got, "SanwatchDeviceSlow", "loop" + std::to_string(i), false)) return false;
    return has_alert(got, "SanwatchDeviceSlow", "loop0", true);
  }));
  CHECK(log.text().find("queue full") != std::string::npos);
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
      eventually([&] { return has_alert(a.alerts(), "SanwatchDeviceFailed", "loop3", false); }));
  d->reconfigure(settings_for({b.url()}));
  REQUIRE(
      eventually([&] { return has_alert(b.alerts(), "SanwatchDeviceFailed", "loop3", false); }));
  REQUIRE(d->stats().size() == 1);
  CHECK(d->stats()[0].sink == "alertmanager:" + b.url());
}

TEST_CASE("alerts: state change to first byte of the POST on the wire") {
  TestAlertmanager am;
  FileLog log;
  auto d = sanwatch::make_alert_dispatcher(settings_for({am.url()}), log.log);
  log.log.subscribe([&](const ordered_json& j) { d->on_event(j); });
  std::vector<double> ms;
  for (int i = 0; i < 21; ++i) {
    sanwatch::Transition t;
    t.from = i % 2 ? sanwatch::Health::kStalled : sanwatch::Health::kOk;
    t.to = i % 2 ? sanwatch::Health::kOk : sanwatch::Health::kStalled;
    t.at_ns = sanwatch::monotonic_ns();
    t.reason = "unit latency probe";
    log.log.state("loop9", "device", t, {{"device", "7:9"}});
    REQUIRE(am.wait_for(i + 1));
    const double lag = static_cast<double>(am.requests().back().first_byte_ns - t.at_ns) / 1e6;
    // The first one pays the TCP handshake; the rest reuse the connection.
    if (i == 0)
      WARN("first POST (new connection): " << lag << " ms after the state change");
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
  log.log.subscribe_batch([&](std::span<const ordered_json> evs) { d->on_events(evs); });
  sanwatch::Transition t{sanwatch::Health::kOk,
                         sanwatch::Health::kFailed,
                         sanwatch::monotonic_ns(),
                         "dm-multipath failed the path",
                         {}};
  {
    sanwatch::EventLog::Batch batch(log.log);
    log.log.state("sdb", "path", t, {{"device", "8:16"}, {"map", "mpatha"}});
    t.to = sanwatch::Health::kDegraded;
    t.reason = "1 of 2 paths valid";
    log.log.state("mpatha", "map", t, {{"device", "254:0"}, {"dm_name", "mpatha"}});
    std::this_thread::sleep_for(50ms);
    CHECK(am.requests().empty());  // held until the batch ends
  }
  REQUIRE(am.wait_for(1));
  std::this_thread::sleep_for(200ms);
  const auto reqs = am.requests();
  REQUIRE(reqs.size() == 1);
  CHECK(reqs[0].body.find("SanwatchPathFailed") != std::string::npos);
  CHECK(reqs[0].body.find("SanwatchMapDegraded") != std::string::npos);
  // Only state events are alerts.
  const ordered_json not_state{{"event", "log"}, {"msg", "x"}};
  d->on_events({&not_state, 1});
  std::this_thread::sleep_for(100ms);
  CHECK(am.requests().size() == 1);
}

// ---------------------------------------------------------------------------
// Exec hook.

TEST_CASE("alerts: the exec hook gets the event on stdin and SANWATCH_ variables") {
  TempDir dir;
  FileLog log;
  AlertSettings s;
  const std::string out = dir.path + "/event";
  s.exec_command = {"/bin/sh", "-c", "cat > \"$1.tmp\"; env > \"$1.env\"; mv \"$1.tmp\" \"$1\"",
                    "hook", out};
  auto d = sanwatch::make_alert_dispatcher(s, log.log);
  const auto ev = event("sdb", "path", "ok", "failed");
  d->on_event(ev);
  REQUIRE(eventually([&] { return d->stats().back().delivered == 1; }));
  CHECK(nlohmann::ordered_json::parse(slurp(out)) == ev);
  const std::string env = slurp(out + ".env");
  for (const auto& v : sanwatch::hook_environment(ev))
    CHECK(env.find(v + "\n") != std::string::npos);
  CHECK(env.find("PATH=") != std::string::npos);  // the agent's own environment too
  CHECK(d->stats().back().sink == "exec");
}

TEST_CASE("alerts: an exec hook over its timeout is killed with its group and reaped") {
  TempDir dir;
  FileLog log;
  AlertSettings s;
  s.exec_timeout = 200ms;
  const std::string pidfile = dir.path + "/pid";
  // The shell forks sleep (not exec): the kill must reach the whole group.
  s.exec_command = {"/bin/sh", "-c", "sleep 60 & echo $$ $! > \"$1\"; wait", "hook", pidfile};
  auto d = sanwatch::make_alert_dispatcher(s, log.log);
  const auto start = std::chrono::steady_clock::now();
  d->on_event(event("loop3", "device", "ok", "stalled"));
  REQUIRE(eventually([&] { return d->stats().back().failed == 1; }));
  const auto took = std::chrono::steady_clock::now() - start;
  CHECK(took >= 190ms);
  CHECK(took < 2s);
  pid_t shell = 0, sleeper = 0;
  std::ifstream(pidfile) >> shell >> sleeper;
  REQUIRE(sleeper > 0);
  CHECK(eventually([&] { return kill(shell, 0) != 0; }));  // gone, not even a zombie: reaped
  CHECK(eventually([&] { return dead(sleeper); }));
  CHECK(log.text().find("exec hook killed at its timeout") != std::string::npos);
}

TEST_CASE("alerts: exec hooks run at most max_concurrent at once, overflow is counted") {
  TempDir dir;
  FileLog log;
  AlertSettings s;
  s.exec_max_concurrent = 1;
  s.queue = 2;
  // mkdir is atomic: it fails if another run holds the directory.
  s.exec_command = {"/bin/sh", "-c",
                    "mkdir \"$1/lock\" || echo overlap >> \"$1/bad\"; sleep 0.1; rmdir \"$1/lock\"",
                    "hook", dir.path};
  auto d = sanwatch::make_alert_dispatcher(s, log.log);
  for (int i = 0; i < 6; ++i)
    d->on_event(event("loop" + std::to_string(i), "device", "ok", "slow"));
  REQUIRE(eventually([&] {
    auto st = d->stats().back();
    return st.queued == 0 && st.delivered + st.failed + st.dropped == 6;
  }));
  const auto st = d->stats().back();
  CHECK(st.failed == 0);
  CHECK(st.dropped >= 3);
  CHECK(st.delivered >= 2);
  CHECK_FALSE(std::filesystem::exists(dir.path + "/bad"));
  // A command that does not exist fails cleanly.
  s.exec_command = {"/nonexistent/hook"};
  d->reconfigure(s);
  d->on_event(event("loop9", "device", "ok", "slow"));
  REQUIRE(eventually([&] { return d->stats().back().failed == 1; }));
  CHECK(log.text().find("exec hook could not start") != std::string::npos);
}
