// SPDX-License-Identifier: Apache-2.0
// sanwatch-labprobe: timestamps for the lab detection benchmark
// (bench/lab/detect-path.sh), where the guest has busybox only and busybox
// cannot read CLOCK_MONOTONIC.
//
//   sanwatch-labprobe http --port-file FILE [--timeout S]
//     An HTTP/1.1 sink on 127.0.0.1 (ephemeral port, written to FILE) that
//     answers every request 200 and prints one line per request:
//       HTTP first_byte_ns=N seen_ns=N done_ns=N bytes=N clock=kernel|user
//            alerts=Name:firing,Name:resolved,...
//     first_byte_ns is the kernel's receive timestamp of the request's first
//     segment (SO_TIMESTAMPNS, converted to CLOCK_MONOTONIC), so the probe's
//     own wake-up delay is not counted; seen_ns is when the probe woke up.
//   sanwatch-labprobe uevents [--timeout S] [--all]
//     A second NETLINK_KOBJECT_UEVENT listener, independent of the agent:
//       UEVENT recv_ns=N seqnum=N action=A dm_action=A dm_path=M:m dm_valid=N
//     for every dm-multipath uevent (every uevent with --all).
//   sanwatch-labprobe nvme-connect OPTIONS
//     One write() of OPTIONS (transport=tcp,traddr=...,nqn=...) to
//     /dev/nvme-fabrics and the kernel's reply read back from the same fd
//     (instance=N,cntlid=N), printed: busybox cannot read that reply.
//   sanwatch-labprobe write FILE VALUE | unlink PATH | symlink TARGET LINK
//     The one syscall, CLOCK_MONOTONIC read just before it, printed as
//     T0_NS=N: the start of a detection lag (an nvmet configfs change).
//   sanwatch-labprobe wait-file FILE VALUE [--timeout S]
//     Re-reads FILE every 0.5 ms until its first line is VALUE and prints
//     SEEN_NS=N (exit 1 on timeout): when sysfs showed a change.
//
// Both run at SCHED_FIFO priority when allowed, so they wake before the agent
// and their stamps sit as close to the kernel's send as user space gets.
// Both exit by themselves after --timeout seconds (default 600) or on SIGTERM.
#include <fcntl.h>
#include <linux/netlink.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <string_view>
#include <vector>

namespace {

std::uint64_t clock_ns(clockid_t id) {
  timespec ts{};
  clock_gettime(id, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ull + ts.tv_nsec;
}
std::uint64_t mono_ns() { return clock_ns(CLOCK_MONOTONIC); }

// Owning fd, closed on every path.
struct Fd {
  int fd = -1;
  explicit Fd(int f = -1) : fd(f) {}
  Fd(Fd&& o) noexcept : fd(o.fd) { o.fd = -1; }
  Fd& operator=(Fd&& o) noexcept {
    std::swap(fd, o.fd);
    return *this;
  }
  ~Fd() {
    if (fd >= 0) close(fd);
  }
};

int fail(const char* what) {
  std::fprintf(stderr, "sanwatch-labprobe: %s: %s\n", what, std::strerror(errno));
  return 1;
}

void emit(const std::string& line) {
  std::fwrite(line.data(), 1, line.size(), stdout);
  std::fflush(stdout);  // the scenario greps the file while we run
}

void try_realtime() {
  sched_param p{};
  p.sched_priority = 10;
  if (sched_setscheduler(0, SCHED_FIFO, &p) != 0)
    std::fprintf(stderr, "sanwatch-labprobe: no SCHED_FIFO (%s), stamps include wake-up delays\n",
                 std::strerror(errno));
}

// ---------------------------------------------------------------- uevents

std::string uevent_line(std::string_view msg, std::uint64_t at, bool all) {
  std::string action, seqnum, dm_action, dm_path, dm_valid;
  for (std::size_t pos = 0; pos < msg.size();) {
    std::size_t end = msg.find('\0', pos);
    if (end == std::string_view::npos) end = msg.size();
    const std::string_view f = msg.substr(pos, end - pos);
    pos = end + 1;
    const std::size_t eq = f.find('=');
    if (eq == std::string_view::npos) continue;
    const std::string_view k = f.substr(0, eq), v = f.substr(eq + 1);
    if (k == "ACTION") action = v;
    if (k == "SEQNUM") seqnum = v;
    if (k == "DM_ACTION") dm_action = v;
    if (k == "DM_PATH") dm_path = v;
    if (k == "DM_NR_VALID_PATHS") dm_valid = v;
  }
  if (dm_action.empty() && !all) return "";
  return "UEVENT recv_ns=" + std::to_string(at) + " seqnum=" + seqnum + " action=" + action +
         " dm_action=" + (dm_action.empty() ? "-" : dm_action) +
         " dm_path=" + (dm_path.empty() ? "-" : dm_path) +
         " dm_valid=" + (dm_valid.empty() ? "-" : dm_valid) + "\n";
}

int run_uevents(std::uint64_t deadline, bool all) {
  Fd s(socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_KOBJECT_UEVENT));
  if (s.fd < 0) return fail("socket(NETLINK_KOBJECT_UEVENT)");
  const int buf = 8 << 20;
  if (setsockopt(s.fd, SOL_SOCKET, SO_RCVBUFFORCE, &buf, sizeof buf) != 0)
    setsockopt(s.fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);
  sockaddr_nl addr{};
  addr.nl_family = AF_NETLINK;
  addr.nl_groups = 1;  // the kernel's group
  if (bind(s.fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return fail("bind");
  emit("UEVENT-READY\n");
  std::vector<char> msg(16384);
  while (mono_ns() < deadline) {
    pollfd p{s.fd, POLLIN, 0};
    if (poll(&p, 1, 200) <= 0) continue;
    sockaddr_nl from{};
    socklen_t len = sizeof from;
    const ssize_t n = recvfrom(s.fd, msg.data(), msg.size(), MSG_DONTWAIT,
                               reinterpret_cast<sockaddr*>(&from), &len);
    const std::uint64_t at = mono_ns();  // first thing after the message is ours
    if (n <= 0 || from.nl_pid != 0) continue;
    if (auto line = uevent_line({msg.data(), static_cast<std::size_t>(n)}, at, all); !line.empty())
      emit(line);
  }
  return 0;
}

// ---------------------------------------------------------------- http

// "Name:firing,Name:resolved" from an Alertmanager v2 body. sanwatch sends
// each alert as an object with sorted keys, {"annotations":...,"endsAt"
// (resolved only),"labels":{..."alertname":...}}; that opening cannot occur
// inside a JSON string (its quotes would be escaped), so it splits alerts.
std::string alert_names(std::string_view body) {
  static constexpr std::string_view kAlert = "{\"annotations\":", kName = "\"alertname\":\"";
  std::string out;
  for (std::size_t at = body.find(kAlert); at != std::string_view::npos;) {
    const std::size_t next = body.find(kAlert, at + 1);
    const std::string_view alert =
        body.substr(at, next == std::string_view::npos ? body.npos : next - at);
    at = next;
    const std::size_t name = alert.find(kName);
    if (name == std::string_view::npos) continue;
    const std::size_t start = name + kName.size(), end = alert.find('"', start);
    if (end == std::string_view::npos) continue;
    if (!out.empty()) out += ',';
    out += alert.substr(start, end - start);
    out += alert.find("\"endsAt\"") != std::string_view::npos ? ":resolved" : ":firing";
  }
  return out.empty() ? "-" : out;
}

struct Conn {
  Fd fd;
  std::string buf;
  std::uint64_t first_ns = 0, seen_ns = 0;
  bool kernel_clock = false;
};

// Kernel receive time of what recvmsg returned, as CLOCK_MONOTONIC.
std::uint64_t rx_stamp(msghdr& mh, std::uint64_t seen) {
  for (cmsghdr* c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_TIMESTAMPNS) continue;
    timespec ts{};
    std::memcpy(&ts, CMSG_DATA(c), sizeof ts);
    const std::uint64_t real =
        static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ull + ts.tv_nsec;
    const std::uint64_t offset = clock_ns(CLOCK_REALTIME) - mono_ns();
    const std::uint64_t mono = real - offset;
    // The two clock reads above are not one instant: allow the stamp to land
    // a little after `seen`. One from another clock or far off is worthless.
    if (real <= offset || mono > seen + 1'000'000 || mono + 10'000'000'000ull < seen) continue;
    return std::min(mono, seen);
  }
  return 0;
}

// Reads what is there; false when the peer closed or failed.
bool read_some(Conn& c, std::uint64_t seen) {
  char data[16384];
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(timespec)) * 2];
  iovec iov{data, sizeof data};
  msghdr mh{};
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  mh.msg_control = control;
  mh.msg_controllen = sizeof control;
  const ssize_t n = recvmsg(c.fd.fd, &mh, MSG_DONTWAIT);
  if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) return false;
  if (n < 0) return true;
  if (c.buf.empty()) {  // a new request starts with these bytes
    c.seen_ns = seen;
    const std::uint64_t k = rx_stamp(mh, seen);
    c.kernel_clock = k != 0;
    c.first_ns = k ? k : seen;
  }
  c.buf.append(data, static_cast<std::size_t>(n));
  return true;
}

// Answers every complete request in c.buf; false on a write error.
bool serve(Conn& c) {
  for (;;) {
    const std::size_t hdr_end = c.buf.find("\r\n\r\n");
    if (hdr_end == std::string::npos) return true;
    std::size_t body_len = 0;
    const std::size_t cl = c.buf.find("Content-Length:");
    if (cl != std::string::npos && cl < hdr_end)
      body_len = std::strtoul(c.buf.c_str() + cl + 15, nullptr, 10);
    const std::size_t total = hdr_end + 4 + body_len;
    if (c.buf.size() < total) return true;
    const std::string_view body(c.buf.data() + hdr_end + 4, body_len);
    emit("HTTP first_byte_ns=" + std::to_string(c.first_ns) +
         " seen_ns=" + std::to_string(c.seen_ns) + " done_ns=" + std::to_string(mono_ns()) +
         " bytes=" + std::to_string(total) + " clock=" + (c.kernel_clock ? "kernel" : "user") +
         " alerts=" + alert_names(body) + "\n");
    static constexpr std::string_view kOk = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    if (send(c.fd.fd, kOk.data(), kOk.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(kOk.size()))
      return false;
    c.buf.erase(0, total);
    if (!c.buf.empty()) c.seen_ns = c.first_ns = mono_ns();  // pipelined: no better stamp
  }
}

Fd listen_loopback(const char* port_file) {
  Fd s(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  // On the listener, so the kernel stamps packets from the start (the first
  // request may be queued before accept) and accepted sockets inherit it.
  const int one = 1;
  if (s.fd < 0 || setsockopt(s.fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof one) != 0 ||
      bind(s.fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || listen(s.fd, 16) != 0 ||
      getsockname(s.fd, reinterpret_cast<sockaddr*>(&a), &len) != 0)
    return Fd();
  std::FILE* f = std::fopen(port_file, "w");
  if (!f) return Fd();
  std::fprintf(f, "%u\n", ntohs(a.sin_port));
  std::fclose(f);
  return s;
}

int run_http(std::uint64_t deadline, const char* port_file) {
  Fd ls = listen_loopback(port_file);
  if (ls.fd < 0) return fail("listen on 127.0.0.1");
  std::vector<Conn> conns;
  while (mono_ns() < deadline) {
    std::vector<pollfd> p{{ls.fd, POLLIN, 0}};
    for (auto& c : conns) p.push_back({c.fd.fd, POLLIN, 0});
    if (poll(p.data(), p.size(), 200) <= 0) continue;
    const std::uint64_t seen = mono_ns();
    for (std::size_t i = conns.size(); i-- > 0;) {
      if (!p[i + 1].revents) continue;
      if (!read_some(conns[i], seen) || !serve(conns[i])) conns.erase(conns.begin() + i);
    }
    if (p[0].revents & POLLIN) {
      const int one = 1;
      Fd c(accept4(ls.fd, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));
      if (c.fd >= 0 && setsockopt(c.fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof one) == 0)
        conns.push_back(Conn{std::move(c)});
    }
  }
  return 0;
}

// ------------------------------------------------------- one-shot commands

int nvme_connect(const char* options) {
  Fd f(open("/dev/nvme-fabrics", O_RDWR | O_CLOEXEC));
  if (f.fd < 0) return fail("/dev/nvme-fabrics");
  const std::size_t n = std::strlen(options);
  if (write(f.fd, options, n) != static_cast<ssize_t>(n)) return fail("nvme-fabrics write");
  char reply[256] = {};
  const ssize_t got = read(f.fd, reply, sizeof reply - 1);
  if (got < 0) return fail("nvme-fabrics read");
  std::printf("%s\n", std::string(reply, static_cast<std::size_t>(got)).c_str());
  return 0;
}

int stamped(const std::string& mode, char** args) {
  const std::uint64_t t0 = mono_ns();
  int rc = -1;
  if (mode == "unlink") {
    rc = unlink(args[0]);
  } else if (mode == "symlink") {
    rc = symlink(args[0], args[1]);
  } else {
    Fd f(open(args[0], O_WRONLY | O_CLOEXEC));
    const std::size_t n = std::strlen(args[1]);
    rc = f.fd >= 0 && write(f.fd, args[1], n) == static_cast<ssize_t>(n) ? 0 : -1;
  }
  if (rc != 0) return fail(args[0]);
  std::printf("T0_NS=%llu\n", static_cast<unsigned long long>(t0));
  return 0;
}

int wait_file(const char* path, const char* value, double timeout_s) {
  const std::uint64_t end = mono_ns() + static_cast<std::uint64_t>(timeout_s * 1e9);
  const std::string want = value;
  while (mono_ns() < end) {
    Fd f(open(path, O_RDONLY | O_CLOEXEC));
    char buf[256];
    const ssize_t n = f.fd >= 0 ? read(f.fd, buf, sizeof buf - 1) : -1;
    const std::uint64_t now = mono_ns();
    if (n >= 0) {
      std::string line(buf, static_cast<std::size_t>(n));
      line = line.substr(0, line.find('\n'));
      if (line == want) {
        std::printf("SEEN_NS=%llu\n", static_cast<unsigned long long>(now));
        return 0;
      }
    }
    timespec half{0, 500'000};
    nanosleep(&half, nullptr);
  }
  std::fprintf(stderr, "sanwatch-labprobe: %s never read '%s'\n", path, value);
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "nvme-connect" && argc == 3) return nvme_connect(argv[2]);
  if ((mode == "write" || mode == "symlink") && argc == 4) return stamped(mode, argv + 2);
  if (mode == "unlink" && argc == 3) return stamped(mode, argv + 2);
  if (mode == "wait-file" && (argc == 4 || (argc == 6 && std::string(argv[4]) == "--timeout")))
    return wait_file(argv[2], argv[3], argc == 6 ? std::atof(argv[5]) : 10);
  const char* port_file = nullptr;
  double timeout_s = 600;
  bool all = false;
  for (int i = 2; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--port-file" && i + 1 < argc)
      port_file = argv[++i];
    else if (a == "--timeout" && i + 1 < argc)
      timeout_s = std::atof(argv[++i]);
    else if (a == "--all")
      all = true;
    else
      mode.clear();
  }
  if (timeout_s <= 0 || (mode == "http" && !port_file) || (mode != "http" && mode != "uevents")) {
    std::fprintf(stderr,
                 "usage: sanwatch-labprobe http --port-file FILE [--timeout S]\n"
                 "       sanwatch-labprobe uevents [--timeout S] [--all]\n"
                 "       sanwatch-labprobe nvme-connect OPTIONS\n"
                 "       sanwatch-labprobe write FILE VALUE | unlink PATH | symlink TARGET LINK\n"
                 "       sanwatch-labprobe wait-file FILE VALUE [--timeout S]\n");
    return 2;
  }
  try_realtime();
  const std::uint64_t deadline = mono_ns() + static_cast<std::uint64_t>(timeout_s * 1e9);
  return mode == "http" ? run_http(deadline, port_file) : run_uevents(deadline, all);
}
