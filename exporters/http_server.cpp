// SPDX-License-Identifier: Apache-2.0
#include "exporters/http_server.h"

#include <fmt/format.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <unistd.h>

#include <charconv>
#include <cstdarg>
#include <cstdio>

#include "base/unique_fd.h"

namespace sanwatch {

namespace {

// Room in a connection's memory pool beyond max_request_bytes: MHD's parsed
// header entries and the response headers it writes there.
constexpr std::size_t kResponseHeadRoom = 2048;

// Where a request's one and only response was queued (MHD's per-request
// context): later calls for the same request only drain its upload.
char g_answered;

// The address bytes of a peer: the per-IP key.
std::string ip_key(const sockaddr* a) {
  if (!a) return {};
  if (a->sa_family == AF_INET) {
    const auto& in = reinterpret_cast<const sockaddr_in*>(a)->sin_addr;
    return {reinterpret_cast<const char*>(&in), sizeof in};
  }
  if (a->sa_family == AF_INET6) {
    const auto& in6 = reinterpret_cast<const sockaddr_in6*>(a)->sin6_addr;
    return {reinterpret_cast<const char*>(&in6), sizeof in6};
  }
  return {};  // AF_UNIX (socketpairs in the fuzz target): one shared key
}

// host:port, IPv6 in brackets; an empty host (":9847") is every address.
Result<UniqueFd> bind_listener(const std::string& listen, int& port) {
  const auto colon = listen.rfind(':');
  if (colon == std::string::npos) return Error{EINVAL, "listen address must be HOST:PORT"};
  std::string host = listen.substr(0, colon);
  const std::string service = listen.substr(colon + 1);
  if (host.size() > 1 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* res = nullptr;
  if (const int rc =
          getaddrinfo(host.empty() ? nullptr : host.c_str(), service.c_str(), &hints, &res);
      rc != 0)
    return Error{EINVAL, fmt::format("cannot resolve {}: {}", listen, gai_strerror(rc))};
  Error last{EADDRNOTAVAIL, "no address for " + listen};
  UniqueFd fd;
  for (addrinfo* a = res; a && !fd.valid(); a = a->ai_next) {
    UniqueFd s(socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    const int one = 1;
    if (s.valid() && setsockopt(s.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) == 0 &&
        bind(s.get(), a->ai_addr, a->ai_addrlen) == 0 && ::listen(s.get(), 1024) == 0)
      fd = std::move(s);
    else
      last = errno_error("cannot serve metrics on " + listen);
  }
  freeaddrinfo(res);
  if (!fd.valid()) return last;
  sockaddr_storage sa{};
  socklen_t len = sizeof sa;
  if (getsockname(fd.get(), reinterpret_cast<sockaddr*>(&sa), &len) != 0)
    return errno_error("getsockname");
  port = sa.ss_family == AF_INET6 ? ntohs(reinterpret_cast<sockaddr_in6*>(&sa)->sin6_port)
                                  : ntohs(reinterpret_cast<sockaddr_in*>(&sa)->sin_port);
  return fd;
}

}  // namespace

// MHD's callbacks; `cls` is always the HttpServer.
struct HttpServer::Callbacks {
  // Refusals happen here, before MHD allocates anything for the connection.
  // Every callback runs on the one MHD thread, so the check here and the
  // count in connection() cannot interleave with another connection's.
  static MHD_Result accept(void* cls, const sockaddr* addr, socklen_t) {
    auto& s = *static_cast<HttpServer*>(cls);
    std::lock_guard<std::mutex> lock(s.mu_);
    if (s.open_ >= s.limits_.max_connections) {
      ++s.stats_.refused_max_connections;
      return MHD_NO;
    }
    const auto it = s.per_ip_.find(ip_key(addr));
    if (it != s.per_ip_.end() && it->second >= s.limits_.max_connections_per_ip) {
      ++s.stats_.refused_per_ip;
      return MHD_NO;
    }
    return MHD_YES;
  }

  static void connection(void* cls, MHD_Connection* c, void** socket_context,
                         MHD_ConnectionNotificationCode code) {
    auto& s = *static_cast<HttpServer*>(cls);
    std::lock_guard<std::mutex> lock(s.mu_);
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
      const auto* info = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
      auto* key = new std::string(ip_key(info ? info->client_addr : nullptr));
      *socket_context = key;
      ++s.open_;
      ++s.per_ip_[*key];
      return;
    }
    std::unique_ptr<std::string> key(static_cast<std::string*>(*socket_context));
    *socket_context = nullptr;
    if (!key) return;
    --s.open_;
    if (auto it = s.per_ip_.find(*key); it != s.per_ip_.end() && --it->second == 0)
      s.per_ip_.erase(it);
  }

  static MHD_Result request(void* cls, MHD_Connection* c, const char* url, const char* method,
                            const char*, const char*, std::size_t* upload_size, void** req_cls) {
    auto& s = *static_cast<HttpServer*>(cls);
    if (*req_cls == &g_answered) {
      *upload_size = 0;  // a body after the answer (405 to a POST): dropped
      return MHD_YES;
    }
    *req_cls = &g_answered;
    const auto* ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    const auto* key = ci ? static_cast<const std::string*>(ci->socket_context) : nullptr;
    const HttpResponse r =
        s.handler_(HttpRequest{s, c, method, url, key ? std::string_view(*key) : ""});
    return s.queue(c, r) ? MHD_YES : MHD_NO;
  }

  // MHD answers requests it cannot parse or hold (400, 414, 431) itself,
  // without calling request(); its log line is the only trace of the
  // status, so it is counted from there (the unit test checks the text
  // still parses). Nothing is printed: stderr carries the agent's JSON.
  static void log(void* cls, const char* fmt, va_list ap) {
    char line[160];
    std::vsnprintf(line, sizeof line, fmt, ap);
    static constexpr std::string_view kCode = "HTTP response code is ";
    const std::string_view text(line);
    const auto at = text.find(kCode);
    if (at == std::string_view::npos) return;
    unsigned code = 0;
    const char* p = line + at + kCode.size();
    if (std::from_chars(p, line + text.size(), code).ec == std::errc{} && code >= 100 && code < 600)
      static_cast<HttpServer*>(cls)->count_request(code);
  }

  static void free_body(void* cls) { delete static_cast<std::shared_ptr<const std::string>*>(cls); }
};

std::string_view HttpRequest::header(const char* name) const {
  const char* v = MHD_lookup_connection_value(connection, MHD_HEADER_KIND, name);
  return v ? std::string_view(v) : std::string_view();
}

HttpServer::HttpServer(const HttpLimits& limits, HttpHandler handler)
    : limits_(limits), handler_(std::move(handler)) {}

HttpServer::~HttpServer() {
  if (daemon_) MHD_stop_daemon(daemon_);  // also closes the listening socket
}

Result<std::unique_ptr<HttpServer>> HttpServer::listen(const std::string& listen,
                                                       const HttpLimits& limits,
                                                       HttpHandler handler,
                                                       std::optional<HttpTls> tls) {
  std::unique_ptr<HttpServer> s(new HttpServer(limits, std::move(handler)));
  s->tls_ = std::move(tls);
  auto fd = bind_listener(listen, s->port_);
  if (!fd) return fd.error();
  const unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | (s->tls_ ? MHD_USE_TLS : 0);
  if (auto st = s->start(flags, fd->get()); !st) return st.error();
  fd->release();  // MHD's now
  return s;
}

Result<std::unique_ptr<HttpServer>> HttpServer::external(const HttpLimits& limits,
                                                         HttpHandler handler) {
  std::unique_ptr<HttpServer> s(new HttpServer(limits, std::move(handler)));
  // select(), level-triggered (MHD's only external mode besides epoll):
  // a half-close that arrives with the last bytes is seen at once, where
  // edge-triggered epoll misses it after a short read and closes such a
  // connection only at the read timeout. Small descriptors only.
  if (auto st = s->start(MHD_USE_NO_LISTEN_SOCKET, -1); !st) return st.error();
  return s;
}

// One place for every daemon option.
Status HttpServer::start(unsigned flags, int listen_fd) {
  using C = Callbacks;
  const auto timeout_s = static_cast<unsigned>((limits_.read_timeout.count() + 999) / 1000);
  // MHD counts a connection until its cleanup, a loop pass after it closed:
  // its own limit is a backstop above ours, so refusals are ours and counted.
  const unsigned mhd_limit = limits_.max_connections * 2 + 16;
  std::vector<MHD_OptionItem> opts = {
      // First, so that no start-up message goes to MHD's default (stderr).
      {MHD_OPTION_EXTERNAL_LOGGER, reinterpret_cast<intptr_t>(&C::log), this},
      {MHD_OPTION_CONNECTION_LIMIT, mhd_limit, nullptr},
      {MHD_OPTION_CONNECTION_TIMEOUT, std::max(1u, timeout_s), nullptr},
      // The request line and headers live in this per-connection pool, next
      // to the response headers; a request that does not fit gets 414/431.
      {MHD_OPTION_CONNECTION_MEMORY_LIMIT,
       static_cast<intptr_t>(limits_.max_request_bytes + kResponseHeadRoom), nullptr},
      {MHD_OPTION_NOTIFY_CONNECTION, reinterpret_cast<intptr_t>(&C::connection), this},
  };
  if (listen_fd >= 0) opts.push_back({MHD_OPTION_LISTEN_SOCKET, listen_fd, nullptr});
  if (tls_) append_tls_options(opts);
  opts.push_back({MHD_OPTION_END, 0, nullptr});
  daemon_ = MHD_start_daemon(flags | MHD_USE_ERROR_LOG, 0, &C::accept, this, &C::request, this,
                             MHD_OPTION_ARRAY, opts.data(), MHD_OPTION_END);
  if (!daemon_)
    return Error{EINVAL, tls_ ? "libmicrohttpd could not start the metrics server with TLS "
                                "(certificate, key or priorities refused)"
                              : "libmicrohttpd could not start the metrics server"};
  return {};
}

void HttpServer::append_tls_options(std::vector<MHD_OptionItem>& opts) const {
  auto text = [](const std::string& s) {
    return reinterpret_cast<void*>(const_cast<char*>(s.c_str()));
  };
  opts.push_back({MHD_OPTION_HTTPS_MEM_CERT, 0, text(tls_->cert_pem)});
  opts.push_back({MHD_OPTION_HTTPS_MEM_KEY, 0, text(tls_->key_pem)});
  // With a trust list MHD has GnuTLS request (not require) a client
  // certificate; the handler decides what a missing or bad one means.
  if (!tls_->trust_pem.empty())
    opts.push_back({MHD_OPTION_HTTPS_MEM_TRUST, 0, text(tls_->trust_pem)});
  opts.push_back({MHD_OPTION_HTTPS_PRIORITIES, 0, text(tls_->priorities)});
}

bool HttpServer::queue(MHD_Connection* c, const HttpResponse& r) {
  static const std::string kEmpty;
  const std::string& body = r.body ? *r.body : kEmpty;
  auto* keep = new std::shared_ptr<const std::string>(r.body);
  MHD_Response* resp = MHD_create_response_from_buffer_with_free_callback_cls(
      body.size(), const_cast<char*>(body.data()), &Callbacks::free_body, keep);
  if (!resp) {
    delete keep;
    return false;
  }
  if (!r.content_type.empty())
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, r.content_type.c_str());
  for (const auto& [k, v] : r.headers) MHD_add_response_header(resp, k.c_str(), v.c_str());
  const bool ok = MHD_queue_response(c, r.status, resp) == MHD_YES;
  MHD_destroy_response(resp);  // MHD holds its own reference while sending
  if (ok) count_request(r.status);
  return ok;
}

void HttpServer::count_request(unsigned status) {
  std::lock_guard<std::mutex> lock(mu_);
  ++stats_.requests[status];
}

HttpStats HttpServer::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  HttpStats s = stats_;
  s.open = open_;
  return s;
}

unsigned HttpServer::open_connections() const {
  std::lock_guard<std::mutex> lock(mu_);
  return open_;
}

Status HttpServer::add_connection(int fd, const sockaddr* addr, socklen_t addrlen) {
  // MHD closes the socket even when it refuses it.
  if (MHD_add_connection(daemon_, fd, addr, addrlen) != MHD_YES)
    return errno_error("MHD_add_connection");
  return {};
}

void HttpServer::run() { MHD_run(daemon_); }

}  // namespace sanwatch
