// SPDX-License-Identifier: Apache-2.0
#include "exporters/alertmanager.h"

#include <curl/curl.h>
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <utility>

#include "base/clock.h"
#include "base/version.h"

namespace sanwatch {

// ---------------------------------------------------------------------------
// Delivery.

namespace {

using ojson = nlohmann::ordered_json;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr std::size_t kMaxBatch = 256;  // alerts per POST
constexpr auto kFirstBackoff = 100ms;
constexpr auto kMaxBackoff = 30s;
constexpr std::size_t kMaxResponse = 2048;  // bytes of an error response kept for the log

struct CurlEasyFree {
  void operator()(CURL* h) const { curl_easy_cleanup(h); }
};
struct CurlMultiFree {
  void operator()(CURLM* m) const { curl_multi_cleanup(m); }
};
struct CurlSlistFree {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};

std::size_t keep_response(char* p, std::size_t size, std::size_t n, void* user) {
  auto* s = static_cast<std::string*>(user);
  s->append(p, std::min(size * n, kMaxResponse - std::min(kMaxResponse, s->size())));
  return size * n;
}

struct Endpoint {
  explicit Endpoint(std::string u, std::size_t cap) : url(std::move(u)), queue(cap) {}
  std::string url;
  std::string post_url;
  std::string ready_url;
  std::unique_ptr<CURL, CurlEasyFree> easy;
  std::unique_ptr<CURL, CurlEasyFree> check;  // the health check's own handle
  bool checking = false;
  Clock::time_point check_at{};  // next health check (pushed back by every POST)
  std::string check_response;
  std::array<char, CURL_ERROR_SIZE> check_error{};
  AlertQueue queue;
  std::string body;
  std::string response;
  std::array<char, CURL_ERROR_SIZE> error{};
  bool busy = false;
  std::size_t firing_sent = 0;  // re-sent firing alerts in the request on the wire
  Clock::time_point retry_at{};
  Clock::time_point resend_at{};
  Clock::duration backoff{};
  std::uint64_t failures_in_row = 0;
  bool drop_logged = false;  // once per outage
  SinkStats stats;
};

// Options both of an endpoint's handles share. They share its connection too:
// the multi handle keeps one connection cache for all its transfers.
void set_common(CURL* e, Endpoint* ep, std::string& response,
                std::array<char, CURL_ERROR_SIZE>& error) {
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);  // threads: no SIGALRM for DNS timeouts
  curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
  curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(e, CURLOPT_USERAGENT, (std::string("sanwatch/") + kVersion).c_str());
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, keep_response);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, &response);
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, error.data());
  curl_easy_setopt(e, CURLOPT_PRIVATE, ep);
}

// What went wrong with a finished transfer, for the log: curl's own error
// text, or the HTTP status and the start of the response body.
std::string failure_text(CURLcode rc, long status, const char* error, const std::string& response) {
  if (rc != CURLE_OK) return error[0] ? error : curl_easy_strerror(rc);
  return fmt::format("HTTP {}: {}", status, response);
}

// Both timeouts at once; options change between transfers only.
void set_timeouts(CURL* e, Clock::duration timeout) {
  const long ms =
      std::max<long>(1, std::chrono::duration_cast<std::chrono::milliseconds>(timeout).count());
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, ms);
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, ms);
}

}  // namespace

struct AlertmanagerSink::Impl {
  Impl(const AlertSettings& s, EventLog& l);
  void run();
  void apply(const AlertSettings& s);
  std::unique_ptr<Endpoint> make_endpoint(const std::string& url);
  void enqueue(const std::vector<Alert>& alerts);
  void pump();
  void maybe_start(Endpoint& ep, Clock::time_point now);
  void maybe_check(Endpoint& ep, Clock::time_point now);
  bool collect();
  void finished(Endpoint& ep, CURLcode rc, long status);
  void checked(Endpoint& ep, CURLcode rc, long status);
  void remove_transfers(Endpoint* ep);
  int wait_ms() const;
  void publish();
  bool ensure_multi();
  void flush();
  void take_events(const std::vector<StateChange>& events,
                   const std::vector<BaselineEvent>& baseline);
  void wake();
  void wait();

  EventLog& log;
  // Worker-thread state. The header list and the multi handle are declared
  // before the endpoints so that they outlive the easy handles using them.
  AlertSettings settings;
  AlertContext ctx;
  AlertBook book;
  std::unique_ptr<curl_slist, CurlSlistFree> headers;
  std::unique_ptr<CURLM, CurlMultiFree> multi;  // created with the first endpoint
  std::vector<std::unique_ptr<Endpoint>> endpoints;
  bool flushing = false;  // shutting down: no health checks

  // Shared with the event loop (on_events, reconfigure) and stats().
  mutable std::mutex mu;
  std::condition_variable idle;  // the worker's wait while there is no multi handle
  std::vector<StateChange> inbox;
  std::vector<BaselineEvent> baseline_inbox;
  std::optional<AlertSettings> new_settings;
  bool stopping = false;
  std::vector<SinkStats> published;
  std::thread worker;
};

AlertmanagerSink::Impl::Impl(const AlertSettings& s, EventLog& l) : log(l) {
  curl_slist* h = curl_slist_append(nullptr, "Content-Type: application/json");
  // No "Expect: 100-continue" on larger bodies: it costs a round trip, or a
  // 1 s wait with servers that ignore it.
  headers.reset(curl_slist_append(h, "Expect:"));
  apply(s);
  publish();
}

// libcurl's global set-up initialises OpenSSL (~3 MB resident) even for
// plain http, so curl is set up only once an Alertmanager is configured; until
// then the worker waits on a condition variable instead of curl_multi_poll.
bool AlertmanagerSink::Impl::ensure_multi() {
  if (multi) return true;
  static std::once_flag curl_init;
  std::call_once(curl_init, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  std::lock_guard lock(mu);  // wake() reads the pointer from other threads
  multi.reset(curl_multi_init());
  return multi != nullptr;
}

void AlertmanagerSink::Impl::wake() {
  std::lock_guard lock(mu);
  if (multi)
    curl_multi_wakeup(multi.get());  // the worker may be in curl_multi_poll
  else
    idle.notify_one();
}

void AlertmanagerSink::Impl::wait() {
  if (multi) {
    curl_multi_poll(multi.get(), nullptr, 0, wait_ms(), nullptr);
    return;
  }
  std::unique_lock lock(mu);
  idle.wait_for(lock, std::chrono::milliseconds(wait_ms()), [this] {
    return stopping || !inbox.empty() || !baseline_inbox.empty() || new_settings;
  });
}

std::unique_ptr<Endpoint> AlertmanagerSink::Impl::make_endpoint(const std::string& url) {
  if (!ensure_multi()) return nullptr;
  auto ep = std::make_unique<Endpoint>(url, settings.queue);
  ep->easy.reset(curl_easy_init());
  if (!ep->easy) return nullptr;
  ep->stats.sink = "alertmanager:" + url;
  std::string base = url;
  while (!base.empty() && base.back() == '/') base.pop_back();
  ep->post_url = base + "/api/v2/alerts";
  ep->ready_url = base + "/-/ready";
  ep->check.reset(curl_easy_init());
  if (!ep->check) return nullptr;
  CURL* e = ep->easy.get();
  set_common(e, ep.get(), ep->response, ep->error);
  curl_easy_setopt(e, CURLOPT_URL, ep->post_url.c_str());
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(e, CURLOPT_POST, 1L);
  set_common(ep->check.get(), ep.get(), ep->check_response, ep->check_error);
  curl_easy_setopt(ep->check.get(), CURLOPT_URL, ep->ready_url.c_str());
  curl_easy_setopt(ep->check.get(), CURLOPT_HTTPGET, 1L);
  ep->check_at = Clock::now();  // at once: the first alert then finds a connection open
  return ep;
}

// URLs no longer listed go away with their queue; new ones start with a
// re-send of everything firing, so a newly added Alertmanager knows the
// current state at once.
void AlertmanagerSink::Impl::apply(const AlertSettings& s) {
  settings = s;
  std::vector<std::unique_ptr<Endpoint>> next;
  for (const auto& url : s.alertmanager_urls) {
    auto same = [&](const auto& ep) { return ep && ep->url == url; };
    if (std::any_of(next.begin(), next.end(), same)) continue;  // listed twice
    auto it = std::find_if(endpoints.begin(), endpoints.end(), same);
    std::unique_ptr<Endpoint> ep = it != endpoints.end() ? std::move(*it) : make_endpoint(url);
    if (!ep) {
      log.error("alertmanager: cannot create a curl handle", {{"url", url}});
      continue;
    }
    if (it == endpoints.end()) ep->resend_at = Clock::now();
    const auto firing = [this](const Alert& a) { return book.is_firing(a); };
    ep->stats.dropped += ep->queue.set_capacity(s.queue, firing);
    next.push_back(std::move(ep));
  }
  for (auto& old : endpoints) remove_transfers(old.get());
  endpoints = std::move(next);
  if (AlertContext c = alert_context(s); c != ctx) {
    const bool first = ctx.instance.empty();
    ctx = std::move(c);
    if (!first) enqueue(book.relabel(ctx, rfc3339_now()));
  }
}

void AlertmanagerSink::Impl::enqueue(const std::vector<Alert>& alerts) {
  if (alerts.empty()) return;
  const auto firing = [this](const Alert& a) { return book.is_firing(a); };
  for (auto& ep : endpoints) {
    for (const auto& a : alerts) {
      if (const std::size_t n = ep->queue.push(a, firing); n) {
        if (!std::exchange(ep->drop_logged, true))
          log.warn("alertmanager: queue full, dropping alerts",
                   {{"url", ep->url}, {"queue", settings.queue}});
        ep->stats.dropped += n;
      }
    }
  }
}

void AlertmanagerSink::Impl::maybe_start(Endpoint& ep, Clock::time_point now) {
  if (ep.busy || now < ep.retry_at) return;
  const bool resend = book.size() > 0 && now >= ep.resend_at;
  if (ep.queue.empty() && !resend) return;
  std::vector<Alert> batch = ep.queue.begin_batch(kMaxBatch);
  ep.firing_sent = 0;
  if (resend) {
    // After the queued ones: the current state is the last word.
    for (auto& a : book.firing()) batch.push_back(std::move(a));
    ep.firing_sent = batch.size() - ep.queue.in_flight();
  }
  ep.body = alerts_body(batch).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  ep.response.clear();
  ep.error[0] = '\0';
  set_timeouts(ep.easy.get(), settings.timeout);  // a reload may have changed it
  curl_easy_setopt(ep.easy.get(), CURLOPT_POSTFIELDSIZE, static_cast<long>(ep.body.size()));
  curl_easy_setopt(ep.easy.get(), CURLOPT_POSTFIELDS, ep.body.c_str());
  if (curl_multi_add_handle(multi.get(), ep.easy.get()) != CURLM_OK) {
    ep.queue.finish_batch(false);
    ep.retry_at = now + kFirstBackoff;
    return;
  }
  ep.busy = true;
}

// An Alertmanager that has not heard from us for alerts.health_check gets a
// GET /-/ready: a dead alert path shows (log, sanwatch_alert_sink_up) before
// an incident needs it, and the first alert finds a connection already open.
// Only while no POST is on the wire: a POST answers the same question.
void AlertmanagerSink::Impl::maybe_check(Endpoint& ep, Clock::time_point now) {
  if (flushing || settings.health_check == Duration::zero() || ep.checking || ep.busy ||
      now < ep.check_at)
    return;
  ep.check_response.clear();
  ep.check_error[0] = '\0';
  set_timeouts(ep.check.get(), settings.timeout);
  if (curl_multi_add_handle(multi.get(), ep.check.get()) != CURLM_OK) {
    ep.check_at = now + settings.health_check;
    return;
  }
  ep.checking = true;
}

// Starts what can start and lets curl move every transfer as far as it can
// without blocking; again while transfers finish (a finished one may have
// more queued behind it).
void AlertmanagerSink::Impl::pump() {
  if (!multi) return;  // no Alertmanager configured yet
  do {
    const auto now = Clock::now();
    for (auto& ep : endpoints) {
      maybe_start(*ep, now);
      maybe_check(*ep, now);
    }
    int running = 0;
    curl_multi_perform(multi.get(), &running);
  } while (collect());
}

bool AlertmanagerSink::Impl::collect() {
  bool any = false;
  int left = 0;
  while (CURLMsg* m = curl_multi_info_read(multi.get(), &left)) {
    if (m->msg != CURLMSG_DONE) continue;
    // m is invalid once the handle is removed: copy what is needed first.
    CURL* easy = m->easy_handle;
    const CURLcode rc = m->data.result;
    char* priv = nullptr;
    curl_easy_getinfo(easy, CURLINFO_PRIVATE, &priv);
    auto* ep = reinterpret_cast<Endpoint*>(priv);
    long status = 0;
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
    curl_multi_remove_handle(multi.get(), easy);
    if (!ep) continue;
    if (easy == ep->check.get()) {
      ep->checking = false;
      checked(*ep, rc, status);
    } else {
      ep->busy = false;
      finished(*ep, rc, status);
    }
    any = true;
  }
  return any;
}

void AlertmanagerSink::Impl::finished(Endpoint& ep, CURLcode rc, long status) {
  const auto now = Clock::now();
  const bool ok = rc == CURLE_OK && status >= 200 && status < 300;
  // A 4xx other than timeout/rate limit will not get better by retrying.
  const bool rejected =
      rc == CURLE_OK && status >= 400 && status < 500 && status != 408 && status != 429;
  const bool carried_firing = ep.firing_sent > 0;
  if (ok || rejected) {
    ep.check_at = now + settings.health_check;  // it answered: no check needed for a while
    ep.stats.up = 1;
  }
  if (ok) {
    ep.stats.delivered += ep.queue.finish_batch(true) + ep.firing_sent;
    if (ep.failures_in_row)
      log.info("alertmanager reachable again",
               {{"url", ep.url}, {"failed_attempts", ep.failures_in_row}});
    // Back after an outage, re-send the firing set at once: it covers firing
    // alerts evicted from a full queue meanwhile.
    if (carried_firing)
      ep.resend_at = now + settings.resend;
    else if (ep.failures_in_row)
      ep.resend_at = now;
    ep.failures_in_row = 0;
    ep.drop_logged = false;
    ep.backoff = {};
    return;
  }
  ++ep.stats.failed;
  const std::string what = failure_text(rc, status, ep.error.data(), ep.response);
  if (rejected) {
    ep.stats.dropped += ep.queue.finish_batch(true);
    if (carried_firing) ep.resend_at = now + settings.resend;
    log.error("alertmanager rejected alerts", {{"url", ep.url}, {"error", what}});
    return;
  }
  ep.queue.finish_batch(false);
  ep.stats.up = 0;  // logged below, with the retry
  ep.backoff = ep.backoff == Clock::duration{}
                   ? Clock::duration(kFirstBackoff)
                   : std::min<Clock::duration>(2 * ep.backoff, kMaxBackoff);
  ep.retry_at = now + ep.backoff;
  const ojson fields{
      {"url", ep.url},
      {"error", what},
      {"queued", ep.queue.size()},
      {"retry_in_ms", std::chrono::duration_cast<std::chrono::milliseconds>(ep.backoff).count()}};
  if (ep.failures_in_row++ == 0)
    log.warn("alertmanager unreachable, retrying with backoff", fields);
  else
    log.debug("alertmanager still unreachable", fields);
}

// Logs changes only; a failed POST logs its own. Any HTTP answer below 500
// means the server is there: a proxy that does not pass /-/ready (404, 403)
// may still pass the POSTs, and those report their own failures.
void AlertmanagerSink::Impl::checked(Endpoint& ep, CURLcode rc, long status) {
  ep.check_at = Clock::now() + settings.health_check;
  const bool ok = rc == CURLE_OK && status >= 200 && status < 500 && status != 408 && status != 429;
  const int was = std::exchange(ep.stats.up, ok ? 1 : 0);
  if (ok && was == 0) log.info("alertmanager health check passed again", {{"url", ep.ready_url}});
  if (ok || was == 0) return;
  log.warn("alertmanager health check failed: alerts cannot be delivered now",
           {{"url", ep.ready_url},
            {"error", failure_text(rc, status, ep.check_error.data(), ep.check_response)}});
}

int AlertmanagerSink::Impl::wait_ms() const {
  const auto now = Clock::now();
  auto next = now + 1s;
  for (const auto& ep : endpoints) {
    if (ep->busy) continue;  // curl's own timeouts cover transfers in progress
    if (!ep->checking && settings.health_check != Duration::zero())
      next = std::min(next, std::max(ep->check_at, now));
    if (!ep->queue.empty()) next = std::min(next, std::max(ep->retry_at, now));
    if (book.size()) next = std::min(next, std::max({ep->resend_at, ep->retry_at, now}));
  }
  return static_cast<int>(std::chrono::ceil<std::chrono::milliseconds>(next - now).count());
}

void AlertmanagerSink::Impl::publish() {
  std::vector<SinkStats> s;
  for (const auto& ep : endpoints) {
    ep->stats.queued = ep->queue.size();
    s.push_back(ep->stats);
  }
  std::lock_guard lock(mu);
  published = std::move(s);
}

// On shutdown: what the event loop handed over last (a state change just
// before SIGTERM) still goes out, for at most one request timeout (capped at
// 2 s, inside systemd's stop timeout); queued alerts an Alertmanager that is
// down cannot take are dropped with the process.
void AlertmanagerSink::Impl::flush() {
  if (!multi) return;
  flushing = true;
  std::vector<StateChange> events;
  std::vector<BaselineEvent> baseline;
  {
    std::lock_guard lock(mu);
    events.swap(inbox);
    baseline.swap(baseline_inbox);
  }
  take_events(events, baseline);
  const auto deadline = Clock::now() + std::min<Clock::duration>(settings.timeout, 2s);
  for (;;) {
    pump();
    const bool pending =
        std::any_of(endpoints.begin(), endpoints.end(), [](const auto& ep) { return ep->busy; });
    if (!pending || Clock::now() >= deadline) break;
    curl_multi_poll(multi.get(), nullptr, 0, 20, nullptr);
  }
  publish();
}

// Events from the event loop become queued alerts for every endpoint.
void AlertmanagerSink::Impl::take_events(const std::vector<StateChange>& events,
                                         const std::vector<BaselineEvent>& baseline) {
  const auto take = [this](const auto& apply) {
    const bool was_quiet = book.size() == 0;
    enqueue(apply());
    // The periodic re-send starts one period after the first alert fires.
    if (was_quiet && book.size())
      for (auto& ep : endpoints) ep->resend_at = Clock::now() + settings.resend;
  };
  for (const auto& ev : events) take([&] { return book.apply(ev, ctx); });
  for (const auto& ev : baseline) take([&] { return book.apply_baseline(ev, ctx); });
}

void AlertmanagerSink::Impl::run() {
  for (;;) {
    std::vector<StateChange> events;
    std::vector<BaselineEvent> baseline;
    std::optional<AlertSettings> s;
    {
      std::lock_guard lock(mu);
      if (stopping) break;
      events.swap(inbox);
      baseline.swap(baseline_inbox);
      s.swap(new_settings);
    }
    if (s) apply(*s);
    take_events(events, baseline);
    pump();
    publish();
    wait();
  }
  flush();
  for (auto& ep : endpoints) remove_transfers(ep.get());
}

// A handle must leave the multi handle before it is freed.
void AlertmanagerSink::Impl::remove_transfers(Endpoint* ep) {
  if (!ep) return;
  if (ep->busy) curl_multi_remove_handle(multi.get(), ep->easy.get());
  if (ep->checking) curl_multi_remove_handle(multi.get(), ep->check.get());
}

AlertmanagerSink::AlertmanagerSink(const AlertSettings& settings, EventLog& log)
    : impl_(std::make_unique<Impl>(settings, log)) {
  impl_->worker = std::thread([this] { impl_->run(); });
}

AlertmanagerSink::~AlertmanagerSink() {
  {
    std::lock_guard lock(impl_->mu);
    impl_->stopping = true;
  }
  impl_->wake();
  impl_->worker.join();
}

void AlertmanagerSink::on_events(std::span<const StateChange> events) {
  if (events.empty()) return;
  {
    std::lock_guard lock(impl_->mu);
    impl_->inbox.insert(impl_->inbox.end(), events.begin(), events.end());
  }
  // Wakes the worker out of curl_multi_poll (the condition variable of a
  // thread that also waits on sockets).
  impl_->wake();
}

void AlertmanagerSink::on_baseline(const BaselineEvent& event) {
  {
    std::lock_guard lock(impl_->mu);
    impl_->baseline_inbox.push_back(event);
  }
  impl_->wake();
}

void AlertmanagerSink::reconfigure(const AlertSettings& settings) {
  {
    std::lock_guard lock(impl_->mu);
    impl_->new_settings = settings;
  }
  impl_->wake();
}

std::vector<SinkStats> AlertmanagerSink::stats() const {
  std::lock_guard lock(impl_->mu);
  return impl_->published;
}

}  // namespace sanwatch
