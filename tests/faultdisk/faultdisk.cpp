// sanwatch-faultdisk: a FUSE filesystem exposing an in-memory disk image whose
// latency and errors can be changed at run time. Integration tests put a loop
// device on top of <mnt>/disk and steer faults by writing to <mnt>/ctl.
//
//   sanwatch-faultdisk MOUNTPOINT [--size-mib N] [--foreground]
//                      [--max-background N] [--max-threads N] [--exit-with-parent]
//
// ctl commands (one per write): read_delay <dur>, write_delay <dur>, stall,
// release, eio on|off, eio_range <off> <len> [read|write|rw], eio_clear, reset.
// Reading ctl returns the settings and counters as key=value lines.

// FUSE_USE_VERSION comes from CMake: 312 when libfuse >= 3.12 so that
// fuse_loop_cfg_set_max_threads() exists (the 3.5 API caps the loop at 10
// threads, which would leave no thread to serve "release" once 10 requests are
// held by a stall).
#ifndef FUSE_USE_VERSION
#define FUSE_USE_VERSION 35
#endif

#include <fuse.h>
#include <fuse_lowlevel.h>
#include <linux/falloc.h>
#include <linux/loop.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

using Micros = std::chrono::microseconds;
using Clock = std::chrono::steady_clock;

constexpr const char* kDiskPath = "/disk";
constexpr const char* kCtlPath = "/ctl";

void log_line(const std::string& msg) {
  std::fprintf(stderr, "sanwatch-faultdisk: %s\n", msg.c_str());
  std::fflush(stderr);
}

// ---------------------------------------------------------------------------
// Parsing helpers

std::optional<std::uint64_t> parse_u64(std::string_view s) {
  std::uint64_t v = 0;
  const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || ptr != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}

// "250us", "10ms", "2s" or plain microseconds.
std::optional<Micros> parse_duration(std::string_view s) {
  std::uint64_t scale = 1;
  if (s.ends_with("us")) {
    s.remove_suffix(2);
  } else if (s.ends_with("ms")) {
    s.remove_suffix(2);
    scale = 1000;
  } else if (s.ends_with("s")) {
    s.remove_suffix(1);
    scale = 1000000;
  }
  const auto v = parse_u64(s);
  if (!v || *v > (std::uint64_t{1} << 40) / scale) return std::nullopt;
  return Micros(*v * scale);
}

std::vector<std::string> split_words(std::string_view line) {
  std::vector<std::string> words;
  std::istringstream in{std::string(line)};
  for (std::string w; in >> w;) words.push_back(w);
  return words;
}

// ---------------------------------------------------------------------------
// Fault state shared by all FUSE worker threads.

enum class Dir { kRead, kWrite };

struct EioRange {
  std::uint64_t offset;
  std::uint64_t length;
  bool reads;
  bool writes;
};

class FaultState {
 public:
  // Applies one ctl line; returns an error message for a bad command.
  std::optional<std::string> apply(const std::vector<std::string>& w);
  // Called before every disk read/write: waits out stalls and delays, then
  // returns 0 or -EIO.
  int gate(Dir dir, std::uint64_t offset, std::uint64_t length);
  std::string render(std::uint64_t size_bytes);
  // Ends all waits for good; used when the daemon is going away.
  void shutdown();

 private:
  std::optional<std::string> apply_locked(const std::vector<std::string>& w);
  std::optional<std::string> apply_eio_range(const std::vector<std::string>& w);
  bool fails_locked(Dir dir, std::uint64_t offset, std::uint64_t length) const;
  void release_locked();

  std::mutex mu_;
  std::condition_variable cv_;
  Micros read_delay_{0};
  Micros write_delay_{0};
  bool stalled_ = false;
  // Bumped by every release so a waiter cannot miss a release followed by a
  // new stall before it got to run.
  std::uint64_t release_gen_ = 0;
  // Bumped by reset: requests sleeping out a delay finish early, so a test's
  // teardown never waits for a long injected delay.
  std::uint64_t reset_gen_ = 0;
  bool eio_all_ = false;
  std::vector<EioRange> eio_ranges_;
  bool shutting_down_ = false;
  std::uint64_t reads_ = 0;
  std::uint64_t writes_ = 0;
  std::uint64_t held_ = 0;
  std::uint64_t eio_returned_ = 0;
};

std::optional<std::string> FaultState::apply(const std::vector<std::string>& w) {
  std::lock_guard lk(mu_);
  auto err = apply_locked(w);
  cv_.notify_all();
  return err;
}

std::optional<std::string> FaultState::apply_locked(const std::vector<std::string>& w) {
  const std::string& cmd = w[0];
  const std::size_t nargs = w.size() - 1;
  if ((cmd == "read_delay" || cmd == "write_delay") && nargs == 1) {
    const auto d = parse_duration(w[1]);
    if (!d) return "bad duration '" + w[1] + "' (use e.g. 500us, 10ms, 1s)";
    (cmd == "read_delay" ? read_delay_ : write_delay_) = *d;
  } else if (cmd == "stall" && nargs == 0) {
    stalled_ = true;
  } else if (cmd == "release" && nargs == 0) {
    release_locked();
  } else if (cmd == "eio" && nargs == 1 && (w[1] == "on" || w[1] == "off")) {
    eio_all_ = w[1] == "on";
  } else if (cmd == "eio_range") {
    return apply_eio_range(w);
  } else if (cmd == "eio_clear" && nargs == 0) {
    eio_ranges_.clear();
  } else if (cmd == "reset" && nargs == 0) {
    read_delay_ = write_delay_ = Micros(0);
    eio_all_ = false;
    eio_ranges_.clear();
    release_locked();
    ++reset_gen_;
  } else {
    return "unknown command or wrong arguments";
  }
  return std::nullopt;
}

std::optional<std::string> FaultState::apply_eio_range(const std::vector<std::string>& w) {
  if (w.size() != 3 && w.size() != 4) return "usage: eio_range <offset> <length> [read|write|rw]";
  const auto off = parse_u64(w[1]);
  const auto len = parse_u64(w[2]);
  if (!off || !len || *len == 0) return "bad offset/length";
  const std::string mode = w.size() == 4 ? w[3] : "rw";
  if (mode != "read" && mode != "write" && mode != "rw") return "bad mode '" + mode + "'";
  eio_ranges_.push_back({*off, *len, mode != "write", mode != "read"});
  return std::nullopt;
}

void FaultState::release_locked() {
  stalled_ = false;
  ++release_gen_;
}

bool FaultState::fails_locked(Dir dir, std::uint64_t offset, std::uint64_t length) const {
  if (eio_all_) return true;
  for (const auto& r : eio_ranges_) {
    if (!(dir == Dir::kRead ? r.reads : r.writes)) continue;
    if (offset < r.offset + r.length && r.offset < offset + length) return true;
  }
  return false;
}

int FaultState::gate(Dir dir, std::uint64_t offset, std::uint64_t length) {
  std::unique_lock lk(mu_);
  ++(dir == Dir::kRead ? reads_ : writes_);
  if (stalled_ && !shutting_down_) {
    const std::uint64_t gen = release_gen_;
    ++held_;
    cv_.wait(lk, [&] { return release_gen_ != gen || shutting_down_; });
    --held_;
  }
  const Micros delay = dir == Dir::kRead ? read_delay_ : write_delay_;
  if (delay.count() > 0) {
    // A timed wait on the condition variable rather than a sleep, so that
    // reset and shutdown do not have to wait for long delays.
    const auto deadline = Clock::now() + delay;
    const std::uint64_t gen = reset_gen_;
    cv_.wait_until(lk, deadline, [&] { return shutting_down_ || reset_gen_ != gen; });
  }
  if (!shutting_down_ && fails_locked(dir, offset, length)) {
    ++eio_returned_;
    return -EIO;
  }
  return 0;
}

std::string FaultState::render(std::uint64_t size_bytes) {
  std::lock_guard lk(mu_);
  std::ostringstream out;
  out << "size_bytes=" << size_bytes << "\n"
      << "read_delay_us=" << read_delay_.count() << "\n"
      << "write_delay_us=" << write_delay_.count() << "\n"
      << "stalled=" << (stalled_ ? 1 : 0) << "\n"
      << "eio=" << (eio_all_ ? 1 : 0) << "\n"
      << "eio_ranges=";
  for (std::size_t i = 0; i < eio_ranges_.size(); ++i) {
    const auto& r = eio_ranges_[i];
    out << (i ? "," : "") << r.offset << "+" << r.length << ":"
        << (r.reads && r.writes ? "rw" : (r.reads ? "read" : "write"));
  }
  out << "\n"
      << "reads=" << reads_ << "\n"
      << "writes=" << writes_ << "\n"
      << "held=" << held_ << "\n"
      << "eio_returned=" << eio_returned_ << "\n";
  return out.str();
}

void FaultState::shutdown() {
  std::lock_guard lk(mu_);
  shutting_down_ = true;
  stalled_ = false;
  ++release_gen_;
  cv_.notify_all();
}

// ---------------------------------------------------------------------------
// Daemon-wide state

struct Config {
  std::string mountpoint;
  std::uint64_t size_mib = 64;
  unsigned max_background = 256;
  // More threads than max_background so that ctl requests (which are not
  // background requests) always find a free thread while I/O is held.
  unsigned max_threads = 320;
  bool exit_with_parent = false;
};

struct Daemon {
  Config cfg;
  timespec started{};
  std::uint64_t size_bytes = 0;
  char* data = nullptr;
  FaultState faults;
};

Daemon* g_daemon = nullptr;
fuse_session* g_session = nullptr;
int g_wake_pipe[2] = {-1, -1};

Daemon& self() { return *g_daemon; }

// ---------------------------------------------------------------------------
// FUSE operations

int fd_getattr(const char* path, struct stat* st, fuse_file_info*) {
  std::memset(st, 0, sizeof(*st));
  st->st_uid = getuid();
  st->st_gid = getgid();
  st->st_atim = st->st_mtim = st->st_ctim = self().started;
  if (std::strcmp(path, "/") == 0) {
    st->st_mode = S_IFDIR | 0755;
    st->st_nlink = 2;
  } else if (std::strcmp(path, kDiskPath) == 0) {
    st->st_mode = S_IFREG | 0644;
    st->st_nlink = 1;
    st->st_size = static_cast<off_t>(self().size_bytes);
  } else if (std::strcmp(path, kCtlPath) == 0) {
    st->st_mode = S_IFREG | 0644;
    st->st_nlink = 1;
  } else {
    return -ENOENT;
  }
  return 0;
}

int fd_readdir(const char* path, void* buf, fuse_fill_dir_t fill, off_t, fuse_file_info*,
               fuse_readdir_flags) {
  if (std::strcmp(path, "/") != 0) return -ENOTDIR;
  for (const char* name : {".", "..", "disk", "ctl"}) {
    fill(buf, name, nullptr, 0, static_cast<fuse_fill_dir_flags>(0));
  }
  return 0;
}

int fd_open(const char* path, fuse_file_info* fi) {
  const bool is_disk = std::strcmp(path, kDiskPath) == 0;
  const bool is_ctl = std::strcmp(path, kCtlPath) == 0;
  if (!is_disk && !is_ctl) return -ENOENT;
  // direct_io: the page cache must never answer for the disk (latency would
  // be fake), and ctl content is generated per open.
  fi->direct_io = 1;
  fi->keep_cache = 0;
  if (is_ctl && (fi->flags & O_ACCMODE) != O_WRONLY) {
    // Snapshot at open so a reader sees one consistent status.
    fi->fh =
        reinterpret_cast<std::uint64_t>(new std::string(self().faults.render(self().size_bytes)));
  }
  return 0;
}

int fd_release(const char*, fuse_file_info* fi) {
  delete reinterpret_cast<std::string*>(fi->fh);
  fi->fh = 0;
  return 0;
}

int copy_out(const std::string& src, char* buf, std::size_t size, off_t off) {
  if (off < 0 || static_cast<std::size_t>(off) >= src.size()) return 0;
  const std::size_t n = std::min(size, src.size() - static_cast<std::size_t>(off));
  std::memcpy(buf, src.data() + off, n);
  return static_cast<int>(n);
}

int fd_read(const char* path, char* buf, std::size_t size, off_t off, fuse_file_info* fi) {
  Daemon& d = self();
  if (std::strcmp(path, kCtlPath) == 0) {
    if (fi->fh != 0) return copy_out(*reinterpret_cast<std::string*>(fi->fh), buf, size, off);
    return copy_out(d.faults.render(d.size_bytes), buf, size, off);
  }
  if (std::strcmp(path, kDiskPath) != 0) return -ENOENT;
  if (off < 0) return -EINVAL;
  if (const int rc = d.faults.gate(Dir::kRead, off, size); rc != 0) return rc;
  const auto uoff = static_cast<std::uint64_t>(off);
  if (uoff >= d.size_bytes) return 0;
  const std::size_t n = std::min<std::uint64_t>(size, d.size_bytes - uoff);
  std::memcpy(buf, d.data + uoff, n);
  return static_cast<int>(n);
}

int apply_ctl(const char* buf, std::size_t size) {
  std::istringstream in{std::string(buf, size)};
  bool any = false;
  for (std::string line; std::getline(in, line);) {
    const auto words = split_words(line);
    if (words.empty()) continue;
    any = true;
    if (const auto err = self().faults.apply(words)) {
      log_line("bad ctl command '" + line + "': " + *err);
      return -EINVAL;
    }
    log_line("ctl: " + line);
  }
  if (!any) {
    log_line("bad ctl command: empty write");
    return -EINVAL;
  }
  return static_cast<int>(size);
}

int fd_write(const char* path, const char* buf, std::size_t size, off_t off, fuse_file_info*) {
  if (std::strcmp(path, kCtlPath) == 0) return apply_ctl(buf, size);
  if (std::strcmp(path, kDiskPath) != 0) return -ENOENT;
  Daemon& d = self();
  if (off < 0) return -EINVAL;
  if (const int rc = d.faults.gate(Dir::kWrite, off, size); rc != 0) return rc;
  const auto uoff = static_cast<std::uint64_t>(off);
  if (uoff >= d.size_bytes) return -ENOSPC;
  const std::size_t n = std::min<std::uint64_t>(size, d.size_bytes - uoff);
  std::memcpy(d.data + uoff, buf, n);
  return static_cast<int>(n);
}

// Shell redirections (echo stall > ctl) open with O_TRUNC.
int fd_truncate(const char* path, off_t size, fuse_file_info*) {
  if (std::strcmp(path, kCtlPath) == 0) return 0;
  if (std::strcmp(path, kDiskPath) == 0) {
    return static_cast<std::uint64_t>(size) == self().size_bytes ? 0 : -EINVAL;
  }
  return -ENOENT;
}

int fd_fsync(const char*, int, fuse_file_info*) { return 0; }

// Discards on the loop device arrive as hole punches; zero the range so a
// discarded block reads back as zeros, like a thin-provisioned disk.
int fd_fallocate(const char* path, int mode, off_t off, off_t len, fuse_file_info*) {
  if (std::strcmp(path, kDiskPath) != 0) return -EOPNOTSUPP;
  if (!(mode & (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE))) return -EOPNOTSUPP;
  Daemon& d = self();
  if (off < 0 || len < 0) return -EINVAL;
  const auto uoff = static_cast<std::uint64_t>(off);
  if (uoff >= d.size_bytes) return 0;
  const std::size_t n = std::min<std::uint64_t>(len, d.size_bytes - uoff);
  std::memset(d.data + uoff, 0, n);
  return 0;
}

void* fd_init(fuse_conn_info* conn, fuse_config* cfg) {
  const Config& c = self().cfg;
  // The default of 12 background requests caps the loop device's in-flight
  // async direct I/O at 12, which would make queue-depth tests lie.
  conn->max_background = c.max_background;
  conn->congestion_threshold = c.max_background * 3 / 4;
  if (conn->capable & FUSE_CAP_ASYNC_DIO) conn->want |= FUSE_CAP_ASYNC_DIO;
  cfg->direct_io = 1;
  cfg->kernel_cache = 0;
  log_line("init: max_background=" + std::to_string(conn->max_background) +
           " congestion_threshold=" + std::to_string(conn->congestion_threshold) +
           " async_dio=" + std::to_string((conn->want & FUSE_CAP_ASYNC_DIO) != 0) +
           " max_write=" + std::to_string(conn->max_write));
  return g_daemon;
}

fuse_operations make_operations() {
  fuse_operations ops{};
  ops.getattr = fd_getattr;
  ops.readdir = fd_readdir;
  ops.open = fd_open;
  ops.release = fd_release;
  ops.read = fd_read;
  ops.write = fd_write;
  ops.truncate = fd_truncate;
  ops.fsync = fd_fsync;
  ops.fallocate = fd_fallocate;
  ops.init = fd_init;
  return ops;
}

// ---------------------------------------------------------------------------
// Shutdown handling
//
// SIGTERM must end the FUSE loop even while requests are held by a stall.
// libfuse joins its workers on exit, and a worker blocked in a stall cannot be
// cancelled, so the held requests have to be released first. A signal handler
// cannot take the fault mutex, so it only flags the session and pokes a pipe;
// the watcher thread does the rest.

extern "C" void on_terminate(int) {
  const int saved_errno = errno;
  if (g_session != nullptr) fuse_session_exit(g_session);
  const char c = 't';
  [[maybe_unused]] const ssize_t n = write(g_wake_pipe[1], &c, 1);
  errno = saved_errno;
}

void install_signal_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_terminate;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;  // no SA_RESTART: libfuse's sem_wait must see EINTR
  for (int sig : {SIGTERM, SIGINT, SIGHUP}) sigaction(sig, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);
}

// Detaches (or, while open, sets autoclear on) loop devices backed by our disk,
// so a test process that died without cleaning up leaves nothing behind.
void detach_own_loop_devices(const std::string& disk_path) {
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/sys/block", ec)) {
    const std::string name = entry.path().filename();
    if (!name.starts_with("loop")) continue;
    std::ifstream in(entry.path() / "loop" / "backing_file");
    std::string backing;
    if (!std::getline(in, backing) || backing != disk_path) continue;
    const int fd = open(("/dev/" + name).c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    if (ioctl(fd, LOOP_CLR_FD, 0) == 0) log_line("detached orphaned /dev/" + name);
    close(fd);
  }
}

// True once the parent is being killed: SIGKILL pending, or its main thread
// already gone. A parent with a thread stuck in uninterruptible I/O on our
// loop device cannot finish dying (so we are never reparented) until that
// I/O is let go.
bool parent_dying(pid_t parent) {
  std::ifstream in("/proc/" + std::to_string(parent) + "/status");
  if (!in) return true;
  for (std::string line; std::getline(in, line);) {
    if (line.starts_with("State:")) {
      const auto pos = line.find_first_not_of(" \t", 6);
      if (pos != std::string::npos && (line[pos] == 'Z' || line[pos] == 'X')) return true;
    } else if (line.starts_with("SigPnd:") || line.starts_with("ShdPnd:")) {
      const std::uint64_t mask = std::stoull(line.substr(7), nullptr, 16);
      if (mask & (std::uint64_t{1} << (SIGKILL - 1))) return true;
    }
  }
  return false;
}

// Waits for a termination signal, or, with --exit-with-parent, for the parent
// to die (getppid() changes once we are reparented).
void watcher_main(pid_t parent) {
  const bool watch_parent = self().cfg.exit_with_parent;
  bool released = false;
  for (;;) {
    pollfd p{g_wake_pipe[0], POLLIN, 0};
    const int rc = poll(&p, 1, watch_parent ? 250 : -1);
    if (rc > 0) break;
    if (!watch_parent) continue;
    if (getppid() != parent) {
      log_line("parent process died; cleaning up and exiting");
      self().faults.shutdown();
      detach_own_loop_devices(std::filesystem::path(self().cfg.mountpoint) / "disk");
      kill(getpid(), SIGTERM);  // only the main thread accepts it (see main)
      break;
    }
    if (!released && parent_dying(parent)) {
      log_line("parent process is being killed; releasing all faults");
      self().faults.shutdown();
      released = true;
    }
  }
  self().faults.shutdown();
}

// ---------------------------------------------------------------------------
// Command line and main

[[noreturn]] void usage(const std::string& why) {
  std::fprintf(stderr,
               "sanwatch-faultdisk: %s\n"
               "usage: sanwatch-faultdisk MOUNTPOINT [--size-mib N] [--foreground]\n"
               "       [--max-background N] [--max-threads N] [--exit-with-parent]\n",
               why.c_str());
  std::exit(2);
}

Config parse_args(int argc, char** argv) {
  Config c;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto number = [&](std::uint64_t max) {
      if (i + 1 >= argc) usage(a + " needs a value");
      const auto v = parse_u64(argv[++i]);
      if (!v || *v == 0 || *v > max) usage("bad value for " + a);
      return *v;
    };
    if (a == "--size-mib") {
      c.size_mib = number(1 << 20);
    } else if (a == "--max-background") {
      c.max_background = static_cast<unsigned>(number(65535));
    } else if (a == "--max-threads") {
      c.max_threads = static_cast<unsigned>(number(4096));
    } else if (a == "--foreground" || a == "-f") {
      // Always in the foreground; accepted for symmetry with FUSE tools.
    } else if (a == "--exit-with-parent") {
      c.exit_with_parent = true;
    } else if (!a.starts_with("-") && c.mountpoint.empty()) {
      c.mountpoint = std::filesystem::absolute(a);
    } else {
      usage("unexpected argument '" + a + "'");
    }
  }
  if (c.mountpoint.empty()) usage("missing MOUNTPOINT");
  return c;
}

int run_loop(fuse* f, const Config& c) {
#if FUSE_USE_VERSION >= 312
  fuse_loop_config* loop_cfg = fuse_loop_cfg_create();
  fuse_loop_cfg_set_max_threads(loop_cfg, c.max_threads);
  const int rc = fuse_loop_mt(f, loop_cfg);
  fuse_loop_cfg_destroy(loop_cfg);
#else
  fuse_loop_config loop_cfg{};
  loop_cfg.clone_fd = 0;
  loop_cfg.max_idle_threads = c.max_threads;
  const int rc = fuse_loop_mt(f, &loop_cfg);
#endif
  return rc;
}

fuse* mount_fs(const Config& c) {
  static const fuse_operations ops = make_operations();
  std::vector<std::string> arg_strings = {"sanwatch-faultdisk", "-o",
                                          "fsname=sanwatch-faultdisk,subtype=sanwatch-faultdisk"};
  std::vector<char*> argv;
  for (auto& s : arg_strings) argv.push_back(s.data());
  fuse_args args = FUSE_ARGS_INIT(static_cast<int>(argv.size()), argv.data());
  fuse* f = fuse_new(&args, &ops, sizeof(ops), g_daemon);
  fuse_opt_free_args(&args);
  if (f == nullptr) return nullptr;
  if (fuse_mount(f, c.mountpoint.c_str()) != 0) {
    fuse_destroy(f);
    return nullptr;
  }
  return f;
}

char* map_disk(std::uint64_t size) {
  // Anonymous and MAP_NORESERVE: untouched blocks cost nothing and read as 0.
  void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                 -1, 0);
  return p == MAP_FAILED ? nullptr : static_cast<char*>(p);
}

}  // namespace

int main(int argc, char** argv) {
  static Daemon daemon;
  g_daemon = &daemon;
  daemon.cfg = parse_args(argc, argv);
  daemon.size_bytes = daemon.cfg.size_mib << 20;
  clock_gettime(CLOCK_REALTIME, &daemon.started);
  daemon.data = map_disk(daemon.size_bytes);
  if (daemon.data == nullptr) {
    log_line(std::string("cannot allocate the disk image: ") + std::strerror(errno));
    return 1;
  }
  if (pipe2(g_wake_pipe, O_CLOEXEC) != 0) return 1;
  const pid_t parent = getppid();

  fuse* f = mount_fs(daemon.cfg);
  if (f == nullptr) {
    log_line("cannot mount at " + daemon.cfg.mountpoint);
    return 1;
  }
  g_session = fuse_get_session(f);

  // Start the watcher with all signals blocked so that termination signals
  // reach the main thread (libfuse's workers block them too) and interrupt
  // the loop's sem_wait.
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, &old);
  std::thread watcher(watcher_main, parent);
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  install_signal_handlers();

  log_line("mounted " + daemon.cfg.mountpoint + " size_mib=" + std::to_string(daemon.cfg.size_mib) +
           " max_threads=" + std::to_string(daemon.cfg.max_threads));
  const int rc = run_loop(f, daemon.cfg);

  on_terminate(0);  // wakes the watcher if the loop ended without a signal
  watcher.join();
  fuse_unmount(f);
  fuse_destroy(f);
  log_line("unmounted, exiting");
  return rc == 0 || rc == SIGTERM || rc == SIGINT || rc == SIGHUP ? 0 : 1;
}
