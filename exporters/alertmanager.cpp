#include "alertmanager.h"

#include <curl/curl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <utility>

#include "clock.h"
#include "version.h"

namespace sanwatch {
namespace {

using ojson = nlohmann::ordered_json;

// Event fields that are not evidence: they become labels, startsAt, or the
// summary, or mean nothing to a person reading the alert.
constexpr std::array<std::string_view, 8> kMetaFields = {
    "ts", "mono_ns", "event", "target", "target_type", "from", "to", "reason"};
// Identity fields that become labels when present (routing and silencing
// match on them: silence one array, route one map to its DBA team).
constexpr std::array<std::string_view, 5> kIdentityLabels = {"wwid", "array", "target_port",
                                                             "dm_name", "map"};

std::string field(const ojson& ev, std::string_view key) {
  const auto it = ev.find(key);
  return it != ev.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::string camel(std::string_view s) {
  std::string out;
  bool up = true;
  for (char c : s) {
    if (c == '_' || c == '-' || c == ' ') {
      up = true;
      continue;
    }
    out += up ? static_cast<char>(std::toupper(static_cast<unsigned char>(c))) : c;
    up = false;
  }
  return out;
}

// Annotations are strings; 6 significant digits are plenty for seconds.
std::string text(const ojson& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_float()) return fmt::format("{:.6g}", v.get<double>());
  return v.dump();
}

template <std::size_t N>
bool one_of(const std::array<std::string_view, N>& names, std::string_view k) {
  return std::find(names.begin(), names.end(), k) != names.end();
}

// "Device loop3 on db01", "Path sdb of mpatha on db01".
std::string subject(const ojson& ev, const AlertContext& ctx) {
  const std::string type = field(ev, "target_type");
  const std::string noun = type == "map" ? "Multipath map" : camel(type);
  std::string s = noun + " " + field(ev, "target");
  const std::string dm = field(ev, "dm_name"), map = field(ev, "map");
  if (type == "path" && !map.empty())
    s += " of " + map;
  else if (!dm.empty() && dm != field(ev, "target"))
    s += " (" + dm + ")";
  return s + " on " + ctx.instance;
}

Alert resolved(Alert a, const std::string& ends_at, const std::string& summary) {
  a.ends_at = ends_at;
  if (a.starts_at.empty()) a.starts_at = ends_at;
  if (!summary.empty()) a.annotations["summary"] = summary;
  return a;
}

}  // namespace

std::string Alert::fingerprint() const {
  std::string fp;
  for (const auto& [k, v] : labels) fp += k + '\x1f' + v + '\x1e';
  return fp;
}

AlertContext alert_context(const AlertSettings& s) {
  AlertContext c{s.instance, s.labels};
  if (c.instance.empty()) {
    std::array<char, 256> host{};
    if (gethostname(host.data(), host.size() - 1) == 0) c.instance = host.data();
    if (c.instance.empty()) c.instance = "localhost";
  }
  return c;
}

std::string alert_name(std::string_view target_type, std::string_view state) {
  return "Sanwatch" + camel(target_type) + camel(state);
}

std::string alert_severity(std::string_view state) {
  for (std::string_view s : {"stalled", "failed", "gone", "down"})
    if (state == s) return "critical";
  return "warning";
}

std::optional<Alert> alert_for(const ojson& ev, const std::string& state, const AlertContext& ctx) {
  const std::string type = field(ev, "target_type"), target = field(ev, "target");
  if (state.empty() || state == "ok" || type.empty() || target.empty()) return std::nullopt;
  Alert a;
  // Static labels first: the computed ones win a name clash, like
  // Prometheus' external labels never override a series' own.
  for (const auto& [k, v] : ctx.labels) a.labels[k] = v;
  for (const auto& [k, v] : ev.items()) {
    if (one_of(kIdentityLabels, k)) {
      if (const std::string s = text(v); !s.empty()) a.labels[k] = s;
    } else if (k == "device") {
      a.annotations["major_minor"] = text(v);  // "device" is the label of device targets
    } else if (!one_of(kMetaFields, k)) {
      a.annotations[k] = text(v);
    }
  }
  a.labels["alertname"] = alert_name(type, state);
  a.labels["severity"] = alert_severity(state);
  a.labels["instance"] = ctx.instance;
  a.labels[type] = target;
  a.annotations["reason"] = field(ev, "reason");
  a.annotations["summary"] = subject(ev, ctx) + " is " + state + ": " + field(ev, "reason");
  a.starts_at = field(ev, "ts");
  return a;
}

std::vector<Alert> transition_alerts(const ojson& ev, const AlertContext& ctx) {
  AlertBook fresh;
  return fresh.apply(ev, ctx);
}

nlohmann::json alerts_body(const std::vector<Alert>& alerts) {
  auto body = nlohmann::json::array();
  for (const auto& a : alerts) {
    nlohmann::json j{{"labels", a.labels}, {"annotations", a.annotations}};
    if (!a.starts_at.empty()) j["startsAt"] = a.starts_at;
    if (!a.ends_at.empty()) j["endsAt"] = a.ends_at;
    body.push_back(std::move(j));
  }
  return body;
}

std::vector<Alert> AlertBook::apply(const ojson& ev, const AlertContext& ctx) {
  std::vector<Alert> out;
  const std::string type = field(ev, "target_type"), target = field(ev, "target");
  const std::string from = field(ev, "from"), to = field(ev, "to"), ts = field(ev, "ts");
  if (type.empty() || target.empty() || to.empty()) return out;
  const std::string key = type + "/" + target;
  const auto gone_summary = [&](const std::string& state) {
    return subject(ev, ctx) + " is no longer " + state + ", now " + to + ": " + field(ev, "reason");
  };
  if (auto it = firing_.find(key); it != firing_.end()) {
    const std::string was = field(it->second.event, "to");
    out.push_back(resolved(it->second.alert, ts, gone_summary(was)));
    firing_.erase(it);
  } else if (auto a = alert_for(ev, from, ctx)) {
    // No history (first event after a start or a reload): rebuilt from this
    // event, it has the same labels unless the identity fields changed.
    out.push_back(resolved(*a, ts, gone_summary(from)));
  }
  if (auto a = alert_for(ev, to, ctx)) {
    out.push_back(*a);
    firing_[key] = Entry{std::move(*a), ev};
  }
  return out;
}

std::vector<Alert> AlertBook::relabel(const AlertContext& ctx, const std::string& now_ts) {
  std::vector<Alert> out;
  for (auto& [key, e] : firing_) {
    auto a = alert_for(e.event, field(e.event, "to"), ctx);
    if (!a || a->labels == e.alert.labels) continue;
    a->starts_at = e.alert.starts_at;
    out.push_back(resolved(e.alert, now_ts, ""));
    out.push_back(*a);
    e.alert = std::move(*a);
  }
  return out;
}

std::vector<Alert> AlertBook::firing() const {
  std::vector<Alert> out;
  for (const auto& [key, e] : firing_) out.push_back(e.alert);
  return out;
}

bool AlertBook::is_firing(const Alert& a) const {
  for (const auto& [key, e] : firing_)
    if (e.alert.labels == a.labels && e.alert.starts_at == a.starts_at) return true;
  return false;
}

std::size_t AlertQueue::victim(const FiringPred& still_firing) const {
  for (std::size_t i = in_flight_; i < q_.size(); ++i)
    if (!q_[i].resolved() && still_firing && still_firing(q_[i])) return i;
  std::map<std::string, std::size_t> last;
  for (std::size_t i = 0; i < q_.size(); ++i) last[q_[i].fingerprint()] = i;
  for (std::size_t i = in_flight_; i < q_.size(); ++i)
    if (q_[i].resolved() || last[q_[i].fingerprint()] != i) return i;
  // Only in-flight entries left: evict the oldest anyway, the bound is hard.
  return in_flight_ < q_.size() ? in_flight_ : 0;
}

void AlertQueue::evict(std::size_t i) {
  q_.erase(q_.begin() + static_cast<std::ptrdiff_t>(i));
  if (i < in_flight_) --in_flight_;
}

std::size_t AlertQueue::push(Alert a, const FiringPred& still_firing) {
  std::size_t evicted = 0;
  for (; q_.size() >= capacity_; ++evicted) evict(victim(still_firing));
  q_.push_back(std::move(a));
  return evicted;
}

std::size_t AlertQueue::set_capacity(std::size_t capacity, const FiringPred& still_firing) {
  capacity_ = capacity ? capacity : 1;
  std::size_t evicted = 0;
  for (; q_.size() > capacity_; ++evicted) evict(victim(still_firing));
  return evicted;
}

std::vector<Alert> AlertQueue::begin_batch(std::size_t max) {
  in_flight_ = std::min(max, q_.size());
  return {q_.begin(), q_.begin() + static_cast<std::ptrdiff_t>(in_flight_)};
}

std::size_t AlertQueue::finish_batch(bool remove) {
  const std::size_t n = in_flight_;
  if (remove) q_.erase(q_.begin(), q_.begin() + static_cast<std::ptrdiff_t>(n));
  in_flight_ = 0;
  return remove ? n : 0;
}

// ---------------------------------------------------------------------------
// Delivery.

namespace {

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
  std::unique_ptr<CURL, CurlEasyFree> easy;
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

}  // namespace

struct AlertmanagerSink::Impl {
  Impl(const AlertSettings& s, EventLog& l);
  void run();
  void apply(const AlertSettings& s);
  std::unique_ptr<Endpoint> make_endpoint(const std::string& url);
  void enqueue(const std::vector<Alert>& alerts);
  void pump();
  void maybe_start(Endpoint& ep, Clock::time_point now);
  bool collect();
  void finished(Endpoint& ep, CURLcode rc, long status);
  int wait_ms() const;
  void publish();
  bool ensure_multi();
  void flush();
  void take_events(const std::vector<ojson>& events);
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

  // Shared with the event loop (on_events, reconfigure) and stats().
  mutable std::mutex mu;
  std::condition_variable idle;  // the worker's wait while there is no multi handle
  std::vector<ojson> inbox;
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
  idle.wait_for(lock, std::chrono::milliseconds(wait_ms()),
                [this] { return stopping || !inbox.empty() || new_settings; });
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
  CURL* e = ep->easy.get();
  curl_easy_setopt(e, CURLOPT_URL, ep->post_url.c_str());
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(e, CURLOPT_POST, 1L);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);  // threads: no SIGALRM for DNS timeouts
  curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
  curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(e, CURLOPT_USERAGENT, (std::string("sanwatch/") + kVersion).c_str());
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, keep_response);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, &ep->response);
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, ep->error.data());
  curl_easy_setopt(e, CURLOPT_PRIVATE, ep.get());
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
  for (auto& old : endpoints)
    if (old && old->busy) curl_multi_remove_handle(multi.get(), old->easy.get());
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
  // Options are set between transfers only (a reload may change the timeout).
  const long ms = std::max<long>(
      1, std::chrono::duration_cast<std::chrono::milliseconds>(settings.timeout).count());
  curl_easy_setopt(ep.easy.get(), CURLOPT_TIMEOUT_MS, ms);
  curl_easy_setopt(ep.easy.get(), CURLOPT_CONNECTTIMEOUT_MS, ms);
  curl_easy_setopt(ep.easy.get(), CURLOPT_POSTFIELDSIZE, static_cast<long>(ep.body.size()));
  curl_easy_setopt(ep.easy.get(), CURLOPT_POSTFIELDS, ep.body.c_str());
  if (curl_multi_add_handle(multi.get(), ep.easy.get()) != CURLM_OK) {
    ep.queue.finish_batch(false);
    ep.retry_at = now + kFirstBackoff;
    return;
  }
  ep.busy = true;
}

// Starts what can start and lets curl move every transfer as far as it can
// without blocking; again while transfers finish (a finished one may have
// more queued behind it).
void AlertmanagerSink::Impl::pump() {
  if (!multi) return;  // no Alertmanager configured yet
  do {
    const auto now = Clock::now();
    for (auto& ep : endpoints) maybe_start(*ep, now);
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
    ep->busy = false;
    finished(*ep, rc, status);
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
  const std::string what = rc != CURLE_OK
                               ? std::string(ep.error[0] ? ep.error.data() : curl_easy_strerror(rc))
                               : fmt::format("HTTP {}: {}", status, ep.response);
  if (rejected) {
    ep.stats.dropped += ep.queue.finish_batch(true);
    if (carried_firing) ep.resend_at = now + settings.resend;
    log.error("alertmanager rejected alerts", {{"url", ep.url}, {"error", what}});
    return;
  }
  ep.queue.finish_batch(false);
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

int AlertmanagerSink::Impl::wait_ms() const {
  const auto now = Clock::now();
  auto next = now + 1s;
  for (const auto& ep : endpoints) {
    if (ep->busy) continue;  // curl's own timeouts cover transfers in progress
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
  std::vector<ojson> events;
  {
    std::lock_guard lock(mu);
    events.swap(inbox);
  }
  take_events(events);
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
void AlertmanagerSink::Impl::take_events(const std::vector<ojson>& events) {
  for (const auto& ev : events) {
    const bool was_quiet = book.size() == 0;
    enqueue(book.apply(ev, ctx));
    // The periodic re-send starts one period after the first alert fires.
    if (was_quiet && book.size())
      for (auto& ep : endpoints) ep->resend_at = Clock::now() + settings.resend;
  }
}

void AlertmanagerSink::Impl::run() {
  for (;;) {
    std::vector<ojson> events;
    std::optional<AlertSettings> s;
    {
      std::lock_guard lock(mu);
      if (stopping) break;
      events.swap(inbox);
      s.swap(new_settings);
    }
    if (s) apply(*s);
    take_events(events);
    pump();
    publish();
    wait();
  }
  flush();
  for (auto& ep : endpoints)
    if (ep->busy) curl_multi_remove_handle(multi.get(), ep->easy.get());
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

void AlertmanagerSink::on_events(std::span<const ojson> events) {
  {
    std::lock_guard lock(impl_->mu);
    const std::size_t before = impl_->inbox.size();
    for (const auto& ev : events)
      if (const auto kind = ev.find("event"); kind != ev.end() && *kind == "state")
        impl_->inbox.push_back(ev);
    if (impl_->inbox.size() == before) return;
  }
  // Wakes the worker out of curl_multi_poll (the condition variable of a
  // thread that also waits on sockets).
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
