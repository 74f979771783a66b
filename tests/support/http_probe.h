// SPDX-License-Identifier: Apache-2.0
// Raw HTTP/1.1 over loopback TCP for the metrics server tests: connections
// from a chosen source address (all of 127/8 is loopback, so per-IP limits
// can be exercised from one host), requests written byte for byte, answers
// read with a deadline.
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>

namespace sanwatch::test {

// A connected TCP socket from `source` (bound before connect) to
// 127.0.0.1:port, or -1 (errno set). Blocking, close-on-exec.
int connect_from(const std::string& source, int port);

struct HttpReply {
  int status = 0;
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
};

// Reads one response from `fd` (Content-Length or up to EOF; HEAD answers
// have no body); nullopt on EOF before a status line, or the deadline.
std::optional<HttpReply> read_reply(int fd, std::chrono::milliseconds timeout, bool head = false);

// Whether the peer closed `fd` (EOF or reset) within `timeout`, discarding
// whatever it sends before that.
bool closed_within(int fd, std::chrono::milliseconds timeout);

// One request on a fresh connection from `source`; nullopt when it fails.
std::optional<HttpReply> http_exchange(int port, const std::string& request,
                                       const std::string& source = "127.0.0.1",
                                       std::chrono::milliseconds timeout = std::chrono::seconds(5));

// "GET <path> HTTP/1.1" with Host and the given extra header lines.
std::string get_request(const std::string& path, const std::string& extra = "",
                        const std::string& method = "GET");

}  // namespace sanwatch::test
