// SPDX-License-Identifier: Apache-2.0
#include "http_probe.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>

namespace sanwatch::test {

int connect_from(const std::string& source, int port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in src{};
  src.sin_family = AF_INET;
  inet_pton(AF_INET, source.c_str(), &src.sin_addr);
  sockaddr_in dst{};
  dst.sin_family = AF_INET;
  dst.sin_port = htons(static_cast<std::uint16_t>(port));
  dst.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd, reinterpret_cast<sockaddr*>(&src), sizeof src) != 0 ||
      connect(fd, reinterpret_cast<sockaddr*>(&dst), sizeof dst) != 0) {
    const int e = errno;
    close(fd);
    errno = e;
    return -1;
  }
  return fd;
}

namespace {

using Clock = std::chrono::steady_clock;

// Appends what arrives before the deadline; false on EOF/error/timeout.
bool read_more(int fd, std::string& buf, Clock::time_point end) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - Clock::now());
  if (left.count() <= 0) return false;
  pollfd p{fd, POLLIN, 0};
  if (poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
  char chunk[65536];
  const ssize_t n = read(fd, chunk, sizeof chunk);
  if (n <= 0) return false;
  buf.append(chunk, static_cast<std::size_t>(n));
  return true;
}

void parse_head(const std::string& head, HttpReply& r) {
  std::size_t pos = head.find("\r\n");
  r.status = std::atoi(head.substr(head.find(' ') + 1, 3).c_str());
  while (pos != std::string::npos && pos + 2 < head.size()) {
    const std::size_t next = head.find("\r\n", pos + 2);
    const std::string line = head.substr(pos + 2, next - pos - 2);
    if (const auto colon = line.find(':'); colon != std::string::npos) {
      std::string name = line.substr(0, colon);
      std::transform(name.begin(), name.end(), name.begin(),
                     [](unsigned char c) { return std::tolower(c); });
      std::string value = line.substr(colon + 1);
      value.erase(0, value.find_first_not_of(' '));
      r.headers[name] = value;
    }
    pos = next;
  }
}

}  // namespace

std::optional<HttpReply> read_reply(int fd, std::chrono::milliseconds timeout, bool head) {
  const auto end = Clock::now() + timeout;
  std::string buf;
  std::size_t head_end;
  while ((head_end = buf.find("\r\n\r\n")) == std::string::npos)
    if (!read_more(fd, buf, end)) return std::nullopt;
  HttpReply r;
  parse_head(buf.substr(0, head_end), r);
  r.body = buf.substr(head_end + 4);
  if (head) return r;
  if (const auto it = r.headers.find("content-length"); it != r.headers.end()) {
    const std::size_t want = std::stoul(it->second);
    while (r.body.size() < want)
      if (!read_more(fd, r.body, end)) return std::nullopt;
  } else {
    while (read_more(fd, r.body, end)) {
    }
  }
  return r;
}

bool closed_within(int fd, std::chrono::milliseconds timeout) {
  const auto end = Clock::now() + timeout;
  char chunk[4096];
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - Clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left.count())) < 0) return false;
    if (!p.revents) continue;
    if (read(fd, chunk, sizeof chunk) <= 0) return true;
  }
}

std::optional<HttpReply> http_exchange(int port, const std::string& request,
                                       const std::string& source,
                                       std::chrono::milliseconds timeout) {
  const int fd = connect_from(source, port);
  if (fd < 0) return std::nullopt;
  std::optional<HttpReply> r;
  if (write(fd, request.data(), request.size()) == static_cast<ssize_t>(request.size()))
    r = read_reply(fd, timeout, request.rfind("HEAD ", 0) == 0);
  close(fd);
  return r;
}

std::string get_request(const std::string& path, const std::string& extra,
                        const std::string& method) {
  return method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" + extra + "\r\n";
}

}  // namespace sanwatch::test
