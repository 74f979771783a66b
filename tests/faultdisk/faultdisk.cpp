// SPDX-License-Identifier: Apache-2.0
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

#include "faultdisk.h"

#include <fuse_lowlevel.h>
#include <linux/loop.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

namespace faultdisk {

void log_line(const std::string& msg) {
  std::fprintf(stderr, "sanwatch-faultdisk: %s\n", msg.c_str());
  std::fflush(stderr);
}

Daemon* g_daemon = nullptr;

namespace {

fuse_session* g_session = nullptr;
int g_wake_pipe[2] = {-1, -1};

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
}  // namespace faultdisk

using namespace faultdisk;

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
