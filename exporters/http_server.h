// SPDX-License-Identifier: Apache-2.0
// A small HTTP/1.1 server on libmicrohttpd (MHD) for /metrics: one epoll
// thread, so a connection held open by a slow or idle client costs an fd
// and a small buffer, never a thread; total and per-IP connection limits
// counted by reason; requests counted by status.
//
// Also constructible without a listening socket or thread (external()):
// connections are handed in with add_connection() and driven by run(), which
// is how the fuzz target feeds it bytes over a socketpair.
//
// Internal to exporters (and the fuzz target); MetricsExporter is the API.
#pragma once

#include <sys/socket.h>

#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/result.h"
#include "exporters/metrics_snapshot.h"

struct MHD_Daemon;
struct MHD_Connection;
struct MHD_OptionItem;

namespace sanwatch {

struct HttpLimits {
  unsigned max_connections = 1024;       // open connections in total
  unsigned max_connections_per_ip = 32;  // open connections from one address
  // No bytes for this long closes the connection (also the keep-alive idle
  // timeout). MHD counts whole seconds: rounded up, at least 1 s.
  std::chrono::milliseconds read_timeout{5000};
  // Request line + headers; beyond it MHD answers 414 or 431 and closes.
  std::size_t max_request_bytes = 8192;
};

// TLS through libmicrohttpd's GnuTLS (MHD_USE_TLS): PEM text, kept by the
// server for the daemon's lifetime.
struct HttpTls {
  std::string cert_pem, key_pem;
  // CA certificates: with them GnuTLS asks clients for a certificate (and
  // the handler can verify it); without, it never asks.
  std::string trust_pem;
  std::string priorities = "NORMAL";  // GnuTLS priority string (protocol versions)
};

class HttpServer;

// One request, as the handler sees it.
struct HttpRequest {
  const HttpServer& server;    // its counters, for a handler that reports them
  MHD_Connection* connection;  // for the auth check (MHD's basic-auth helpers, the TLS session)
  std::string_view method, path;
  std::string_view peer;  // the client's address bytes (the per-IP key); empty for AF_UNIX
  // A request header's value; empty when absent.
  std::string_view header(const char* name) const;
};

struct HttpResponse {
  unsigned status = 200;
  std::string content_type;
  // Shared: a cached body goes out to many scrapers without a copy.
  std::shared_ptr<const std::string> body;
  std::vector<std::pair<std::string, std::string>> headers;
};

using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;

class HttpServer {
 public:
  // Listens on host:port (port 0: any free port) with an internal epoll
  // thread. Fails with the bind error when the address cannot be used.
  // With `tls`, HTTPS only: a plain HTTP request fails the handshake.
  static Result<std::unique_ptr<HttpServer>> listen(const std::string& listen,
                                                    const HttpLimits& limits, HttpHandler handler,
                                                    std::optional<HttpTls> tls = std::nullopt);
  // No listening socket and no thread: see add_connection() and run().
  static Result<std::unique_ptr<HttpServer>> external(const HttpLimits& limits,
                                                      HttpHandler handler);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  int port() const { return port_; }
  HttpStats stats() const;

  // External mode: hands over a connected socket (the server closes it).
  Status add_connection(int fd, const sockaddr* addr, socklen_t addrlen);
  // External mode: one pass over the connections, without blocking.
  void run();
  // External mode: open connections right now.
  unsigned open_connections() const;

 private:
  explicit HttpServer(const HttpLimits& limits, HttpHandler handler);
  Status start(unsigned flags, int listen_fd);
  void append_tls_options(std::vector<MHD_OptionItem>& opts) const;

  struct Callbacks;  // MHD's C callbacks, in http_server.cpp
  friend struct Callbacks;
  bool queue(MHD_Connection* c, const HttpResponse& r);
  void count_request(unsigned status);

  HttpLimits limits_;
  HttpHandler handler_;
  std::optional<HttpTls> tls_;  // MHD reads the PEM text at start; kept for good measure
  MHD_Daemon* daemon_ = nullptr;
  int port_ = 0;

  // Written on the MHD thread, read by stats() from a scrape or a test.
  mutable std::mutex mu_;
  unsigned open_ = 0;
  std::map<std::string, unsigned> per_ip_;  // raw address bytes -> open connections
  HttpStats stats_;
};

}  // namespace sanwatch
