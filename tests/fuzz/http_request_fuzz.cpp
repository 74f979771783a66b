// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: each input is the byte stream of one client connection
// to the metrics server (libmicrohttpd's request parsing, our limits and
// routes, the exposition). One server without a listening socket or thread
// serves every input: the bytes go into one end of a socketpair, whose other
// end is handed to the server; once the server has had a few passes to
// answer, the write side is shut down and the server run until it closed
// the connection. The answer is read and dropped.
// The server's open-connection count returning to 0 after each input is the
// per-input leak check for connections (ASan's LeakSanitizer does memory).
//
//   clang++ -std=c++20 -fsanitize=fuzzer,address,undefined -I. -Iagent \
//     tests/fuzz/http_request_fuzz.cpp exporters/{http_server,scrape_cache,
//     metrics_server,metrics,exposition}.cpp agent/base/{clock,utf8}.cpp ...
//   (the full line is in exporters/README.md)
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>

#include "exporters/http_server.h"
#include "exporters/metrics_routes.h"
#include "exporters/scrape_cache.h"

namespace {

using sanwatch::HttpServer;

struct Target {
  sanwatch::ScrapeCache cache;
  std::unique_ptr<HttpServer> server;
};

Target& target() {
  static Target* t = [] {
    auto* t = new Target;
    sanwatch::HttpLimits limits;
    limits.max_request_bytes = 2048;  // small: the limits are reached often
    auto s = HttpServer::external(limits, [t](const sanwatch::HttpRequest& r) {
      return sanwatch::route_metrics_request(t->cache, r);
    });
    if (!s) abort();
    t->server = std::move(s).value();
    return t;
  }();
  return *t;
}

// Drains what the server sent so far; false once the server closed.
bool drain(int fd) {
  char buf[65536];
  for (;;) {
    const ssize_t n = read(fd, buf, sizeof buf);
    if (n > 0) continue;
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Target& t = target();
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0) abort();
  sockaddr_in peer{};
  peer.sin_family = AF_INET;
  peer.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (!t.server->add_connection(sv[1], reinterpret_cast<sockaddr*>(&peer), sizeof peer)) {
    close(sv[0]);
    return 0;
  }
  std::size_t sent = 0;
  bool open = true;
  // The bytes first, with a few passes to answer them: a half-close that
  // comes with the request makes MHD drop it unanswered. Then the half-close,
  // and passes until the server closed (bounded: a server that neither
  // reads nor closes is a finding too).
  for (int round = 0, idle = 0; open && idle < 4; ++round) {
    if (sent < size) {
      const ssize_t n = write(sv[0], data + sent, size - sent);
      if (n > 0) sent += static_cast<std::size_t>(n);
    }
    idle = sent == size ? idle + 1 : 0;
    t.server->run();
    open = drain(sv[0]) && t.server->open_connections() > 0;
  }
  if (open) shutdown(sv[0], SHUT_WR);
  for (int round = 0; open && round < 1000; ++round) {
    t.server->run();
    open = drain(sv[0]) && t.server->open_connections() > 0;
  }
  if (open) abort();
  close(sv[0]);
  return 0;
}
