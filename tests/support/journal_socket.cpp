// SPDX-License-Identifier: Apache-2.0
#include "journal_socket.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <stdexcept>

namespace sanwatch::test {
namespace {

std::string errno_text(const std::string& what) { return what + ": " + std::strerror(errno); }

// Everything in an fd passed to us, from its start.
std::string read_fd(int fd) {
  std::string out;
  char buf[65536];
  for (off_t off = 0;;) {
    const ssize_t n = pread(fd, buf, sizeof buf, off);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw std::runtime_error(errno_text("reading a journal memfd"));
    if (n == 0) return out;
    out.append(buf, static_cast<std::size_t>(n));
    off += n;
  }
}

// Closes every fd the control messages carry; returns the first one's data.
std::optional<std::string> passed_fd_data(msghdr& mh) {
  std::optional<std::string> data;
  for (cmsghdr* c = CMSG_FIRSTHDR(&mh); c != nullptr; c = CMSG_NXTHDR(&mh, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    const std::size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (std::size_t i = 0; i < n; ++i) {
      int fd = -1;
      std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
      if (!data) data = read_fd(fd);
      close(fd);
    }
  }
  return data;
}

}  // namespace

std::string JournalRecord::get(const std::string& name) const {
  for (const auto& [k, v] : fields)
    if (k == name) return v;
  return "";
}

std::vector<std::string> JournalRecord::all(const std::string& name) const {
  std::vector<std::string> out;
  for (const auto& [k, v] : fields)
    if (k == name) out.push_back(v);
  return out;
}

std::string JournalRecord::dump() const {
  std::string out;
  for (const auto& [k, v] : fields) out += k + "=" + v + "\n";
  return out;
}

std::optional<JournalRecord> parse_journal_native(std::string_view d) {
  JournalRecord r;
  while (!d.empty()) {
    const auto nl = d.find('\n');
    if (nl == std::string_view::npos) return std::nullopt;
    const auto eq = d.substr(0, nl).find('=');
    if (eq != std::string_view::npos) {
      r.fields.emplace_back(std::string(d.substr(0, eq)),
                            std::string(d.substr(eq + 1, nl - eq - 1)));
      d.remove_prefix(nl + 1);
      continue;
    }
    std::string name(d.substr(0, nl));
    d.remove_prefix(nl + 1);
    if (d.size() < 8) return std::nullopt;
    std::uint64_t len = 0;
    for (int i = 7; i >= 0; --i) len = len << 8 | static_cast<unsigned char>(d[i]);
    d.remove_prefix(8);
    if (d.size() < len + 1 || d[len] != '\n') return std::nullopt;
    r.fields.emplace_back(std::move(name), std::string(d.substr(0, len)));
    d.remove_prefix(len + 1);
  }
  return r;
}

JournalSocket::JournalSocket(const std::string& path) : path_(path) {
  sockaddr_un a{};
  if (path.size() >= sizeof a.sun_path) throw std::runtime_error("socket path too long: " + path);
  fd_ = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) throw std::runtime_error(errno_text("socket"));
  a.sun_family = AF_UNIX;
  std::memcpy(a.sun_path, path.c_str(), path.size() + 1);
  if (bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    const std::string err = errno_text("bind " + path);
    close(fd_);
    throw std::runtime_error(err);
  }
}

JournalSocket::~JournalSocket() {
  close(fd_);
  unlink(path_.c_str());
}

std::optional<JournalRecord> JournalSocket::receive(std::chrono::milliseconds timeout) {
  pollfd p{fd_, POLLIN, 0};
  const int ready = poll(&p, 1, static_cast<int>(timeout.count()));
  if (ready < 0 && errno != EINTR) throw std::runtime_error(errno_text("poll"));
  if (ready <= 0) return std::nullopt;
  std::string buf(256 * 1024, '\0');
  iovec iov{buf.data(), buf.size()};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * 8)];
  msghdr mh{};
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  mh.msg_control = control;
  mh.msg_controllen = sizeof control;
  const ssize_t n = recvmsg(fd_, &mh, MSG_CMSG_CLOEXEC);
  if (n < 0) throw std::runtime_error(errno_text("recvmsg"));
  if (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) throw std::runtime_error("journal datagram cut");
  buf.resize(static_cast<std::size_t>(n));
  if (auto data = passed_fd_data(mh)) buf = std::move(*data);
  auto rec = parse_journal_native(buf);
  if (!rec) throw std::runtime_error("malformed journal record: " + buf);
  records_.push_back(*rec);
  return rec;
}

std::optional<JournalRecord> JournalSocket::wait_for(
    const std::function<bool(const JournalRecord&)>& match, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return std::nullopt;
    auto rec = receive(left);
    if (!rec) return std::nullopt;
    if (match(*rec)) return rec;
  }
}

}  // namespace sanwatch::test
