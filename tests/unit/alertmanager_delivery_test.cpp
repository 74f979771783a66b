// Alertmanager delivery against loopback HTTP listeners: retries and
// backoff, several URLs, re-sends, a full queue, reconfiguration, latency
// and batching. No root needed.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <cctype>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "alerts_test_util.h"
#include "base/clock.h"
#include "exporters/alertmanager.h"
#include "exporters/alerts.h"

using namespace std::chrono_literals;
using namespace alerts_test;
using nlohmann::ordered_json;
using sanwatch::AlertSettings;

// ---------------------------------------------------------------------------
// Delivery against loopback listeners.

namespace {

// A minimal HTTP/1.1 server on 127.0.0.1: records each POST's body and the
// CLOCK_MONOTONIC time its first byte arrived, answers `status`; counts GETs
// (the sink's health checks) apart and answers them `check_status`.
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
  void set_check_status(int s) { check_status_ = s; }
  int connections() const { return connections_; }
  int checks() const { return checks_; }
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
      const bool check = head.rfind("GET /-/ready ", 0) == 0;
      if (check) {
        ++checks_;
      } else {
        std::lock_guard lock(mu_);
        requests_.push_back({head, c.buf.substr(end + 4, length), c.first_ns});
      }
      cv_.notify_all();
      c.buf.erase(0, end + 4 + length);
      c.first_ns = c.buf.empty() ? 0 : now;
      const std::string reply = "HTTP/1.1 " +
                                std::to_string(check ? check_status_.load() : status_.load()) +
                                " X\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nno";
      [[maybe_unused]] auto n = send(c.fd, reply.data(), reply.size(), MSG_NOSIGNAL);
    }
  }

  int fd_ = -1;
  int port_ = 0;
  int wake_[2] = {-1, -1};
  std::atomic<int> status_{200};
  std::atomic<int> check_status_{200};
  std::atomic<int> connections_{0};
  std::atomic<int> checks_{0};
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
  log.log.subscribe([&](const sanwatch::StateChange& c) { d->on_event(c); });
  // As an agent that has been up a while: the start-up health check has
  // opened the connection. (A POST never waits for a check in progress: one
  // racing it opens a second connection.)
  REQUIRE(eventually([&] { return d->stats().at(0).up == 1; }));
  std::vector<double> ms;
  for (int i = 0; i < 21; ++i) {
    sanwatch::Transition t;
    t.from = i % 2 ? sanwatch::Health::kStalled : sanwatch::Health::kOk;
    t.to = i % 2 ? sanwatch::Health::kOk : sanwatch::Health::kStalled;
    t.at_ns = sanwatch::monotonic_ns();
    t.reason = "unit latency probe";
    log.log.state(identity("loop9", "device", "7:9"), t);
    REQUIRE(am.wait_for(i + 1));
    const double lag = static_cast<double>(am.requests().back().first_byte_ns - t.at_ns) / 1e6;
    // The first one runs code for the first time; all reuse the connection.
    if (i == 0)
      WARN("first POST: " << lag << " ms after the state change");
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
  log.log.subscribe_batch([&](std::span<const sanwatch::StateChange> evs) { d->on_events(evs); });
  sanwatch::Transition t{sanwatch::Health::kOk,
                         sanwatch::Health::kFailed,
                         sanwatch::monotonic_ns(),
                         "dm-multipath failed the path",
                         {}};
  {
    sanwatch::EventLog::Batch batch(log.log);
    auto sdb = identity("sdb", "path", "8:16");
    sdb.map = "mpatha";
    log.log.state(sdb, t);
    t.to = sanwatch::Health::kDegraded;
    t.reason = "1 of 2 paths valid";
    auto map = identity("mpatha", "map", "254:0");
    map.dm_name = "mpatha";
    log.log.state(map, t);
    std::this_thread::sleep_for(50ms);
    CHECK(am.requests().empty());  // held until the batch ends
  }
  REQUIRE(am.wait_for(1));
  std::this_thread::sleep_for(200ms);
  const auto reqs = am.requests();
  REQUIRE(reqs.size() == 1);
  CHECK(reqs[0].body.find("SanwatchPathFailed") != std::string::npos);
  CHECK(reqs[0].body.find("SanwatchMapDegraded") != std::string::npos);
}

TEST_CASE(
    "alerts: a health check at start reads the Alertmanager up, and alerts reuse its connection") {
  TestAlertmanager am;
  FileLog fl;
  auto sink = sanwatch::make_alert_dispatcher(settings_for({am.url()}), fl.log);
  REQUIRE(eventually([&] { return am.checks() == 1; }));
  REQUIRE(eventually([&] { return sink->stats().at(0).up == 1; }));
  CHECK(am.requests().empty());  // no alert yet: nothing POSTed
  sink->on_event(event("sdb", "device", "ok", "stalled"));
  REQUIRE(am.wait_for(1));
  CHECK(am.connections() == 1);  // the first alert found the connection open
  CHECK(am.checks() == 1);       // and a POST stands for the next check
}

TEST_CASE(
    "alerts: a dead or unready Alertmanager reads down before any alert, and is logged once") {
  FileLog fl;
  SECTION("nothing listening") {
    int port = 0;
    {
      TestAlertmanager gone;  // a port that was free a moment ago
      port = std::stoi(gone.url().substr(gone.url().rfind(':') + 1));
    }
    auto sink = sanwatch::make_alert_dispatcher(
        settings_for({"http://127.0.0.1:" + std::to_string(port)}), fl.log);
    REQUIRE(eventually([&] { return sink->stats().at(0).up == 0; }));
  }
  SECTION("not ready (HTTP 503)") {
    TestAlertmanager am;
    am.set_check_status(503);
    auto sink = sanwatch::make_alert_dispatcher(settings_for({am.url()}), fl.log);
    REQUIRE(eventually([&] { return sink->stats().at(0).up == 0; }));
    CHECK(am.requests().empty());
  }
  const std::string text = fl.text();
  CHECK(text.find("alertmanager health check failed") != std::string::npos);
  CHECK(text.find("health check failed") == text.rfind("health check failed"));
}

TEST_CASE("alerts: health checks can be turned off, and a proxy's 404 still reads reachable") {
  TestAlertmanager am;
  FileLog fl;
  SECTION("health_check = 0s: no GET, up is unknown until a POST") {
    auto s = settings_for({am.url()});
    s.health_check = std::chrono::seconds(0);
    auto sink = sanwatch::make_alert_dispatcher(s, fl.log);
    std::this_thread::sleep_for(300ms);
    CHECK(am.checks() == 0);
    CHECK(sink->stats().at(0).up == -1);
    sink->on_event(event("sdb", "device", "ok", "stalled"));
    REQUIRE(am.wait_for(1));
    CHECK(eventually([&] { return sink->stats().at(0).up == 1; }));
    CHECK(am.checks() == 0);
  }
  SECTION("a 404 for /-/ready: the server answered") {
    am.set_check_status(404);
    auto sink = sanwatch::make_alert_dispatcher(settings_for({am.url()}), fl.log);
    REQUIRE(eventually([&] { return am.checks() == 1; }));
    CHECK(eventually([&] { return sink->stats().at(0).up == 1; }));
    CHECK(fl.text().find("health check failed") == std::string::npos);
  }
}
