// SPDX-License-Identifier: Apache-2.0
#include "process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <stdexcept>

extern char** environ;

namespace sanwatch::test {

namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

std::string errno_text(int err) { return std::strerror(err); }

void close_fd(int& fd) {
  if (fd >= 0) close(fd);
  fd = -1;
}

int decode_status(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

// The inherited environment with extra "KEY=VALUE" entries applied on top.
std::vector<std::string> build_env(const std::vector<std::string>& extra) {
  std::map<std::string, std::string> vars;
  auto add = [&](const std::string& kv) {
    const auto eq = kv.find('=');
    vars[kv.substr(0, eq)] = kv;
  };
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) add(*e);
  for (const auto& kv : extra) add(kv);
  std::vector<std::string> env;
  for (auto& [key, kv] : vars) env.push_back(kv);
  return env;
}

std::vector<char*> c_strings(std::vector<std::string>& v) {
  std::vector<char*> out;
  for (auto& s : v) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

// Redirects child fd `target` to the pipe's write end or to an append-mode
// file; fills `pipe_fds` when a pipe is used.
void redirect(posix_spawn_file_actions_t* fa, int target, const std::string& path,
              int pipe_fds[2]) {
  if (!path.empty()) {
    posix_spawn_file_actions_addopen(fa, target, path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    return;
  }
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) {
    throw std::runtime_error("pipe2 failed: " + errno_text(errno));
  }
  posix_spawn_file_actions_adddup2(fa, pipe_fds[1], target);
}

void set_spawn_attributes(posix_spawnattr_t* attr) {
  posix_spawnattr_init(attr);
  // Own process group: a timeout kill reaches grandchildren too. Reset the
  // mask and dispositions: the test process may block or ignore signals
  // (SIGPIPE especially), and both would be inherited across exec.
  posix_spawnattr_setflags(attr,
                           POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  posix_spawnattr_setpgroup(attr, 0);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(attr, &none);
  sigset_t defaults;
  sigemptyset(&defaults);
  for (int sig : {SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGCHLD, SIGUSR1, SIGUSR2, SIGALRM}) {
    sigaddset(&defaults, sig);
  }
  posix_spawnattr_setsigdefault(attr, &defaults);
}

}  // namespace

std::string format_command(const std::vector<std::string>& argv) {
  std::string s;
  for (const auto& a : argv) {
    if (!s.empty()) s += ' ';
    const bool quote = a.empty() || a.find_first_of(" \t'\"$\\") != std::string::npos;
    s += quote ? "'" + a + "'" : a;
  }
  return s;
}

ChildProcess::ChildProcess(const std::vector<std::string>& argv, Options options) {
  if (argv.empty()) throw std::runtime_error("ChildProcess: empty argv");
  if (pipe2(wake_pipe_, O_CLOEXEC) != 0) {
    throw std::runtime_error("pipe2 failed: " + errno_text(errno));
  }
  try {
    spawn(argv, options);
  } catch (...) {
    close_fd(wake_pipe_[0]);
    close_fd(wake_pipe_[1]);
    throw;
  }
  pidfd_ = static_cast<int>(syscall(SYS_pidfd_open, pid_, 0));  // -1: fall back to polling
  out_.eof = out_fd_ < 0;
  err_.eof = err_fd_ < 0;
  if (out_fd_ >= 0 || err_fd_ >= 0) reader_ = std::thread([this] { reader_main(); });
}

void ChildProcess::spawn(const std::vector<std::string>& argv, const Options& options) {
  int out_pipe[2] = {-1, -1};
  int err_pipe[2] = {-1, -1};
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawnattr_t attr;
  set_spawn_attributes(&attr);
  int rc = 0;
  try {
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    redirect(&fa, 1, options.stdout_path, out_pipe);
    redirect(&fa, 2, options.stderr_path, err_pipe);
    // Never leak the test's descriptors (e.g. an open loop device) into
    // children that may outlive a test step.
    posix_spawn_file_actions_addclosefrom_np(&fa, 3);
    std::vector<std::string> args = argv;
    std::vector<std::string> env = build_env(options.extra_env);
    auto c_args = c_strings(args);
    auto c_env = c_strings(env);
    rc = posix_spawnp(&pid_, args[0].c_str(), &fa, &attr, c_args.data(), c_env.data());
  } catch (...) {
    rc = -1;
  }
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  close_fd(out_pipe[1]);
  close_fd(err_pipe[1]);
  out_fd_ = out_pipe[0];
  err_fd_ = err_pipe[0];
  if (rc != 0) {
    close_fd(out_fd_);
    close_fd(err_fd_);
    pid_ = -1;
    throw std::runtime_error("cannot start '" + format_command(argv) +
                             "': " + (rc > 0 ? errno_text(rc) : "setup failed"));
  }
}

ChildProcess::~ChildProcess() {
  if (pid_ > 0 && !exit_code_) {
    send_signal(SIGKILL, /*whole_group=*/true);
    wait(milliseconds(2000));
  }
  if (reader_.joinable()) {
    const char c = 'q';
    [[maybe_unused]] const ssize_t n = write(wake_pipe_[1], &c, 1);
    reader_.join();
  }
  close_fd(out_fd_);
  close_fd(err_fd_);
  close_fd(pidfd_);
  close_fd(wake_pipe_[0]);
  close_fd(wake_pipe_[1]);
}

// Drains both pipes continuously so a chatty child never blocks on a full
// pipe while the test is busy elsewhere.
void ChildProcess::reader_main() {
  char buf[65536];
  for (;;) {
    pollfd fds[3];
    int n = 0;
    fds[n++] = {wake_pipe_[0], POLLIN, 0};
    if (out_fd_ >= 0) fds[n++] = {out_fd_, POLLIN, 0};
    if (err_fd_ >= 0) fds[n++] = {err_fd_, POLLIN, 0};
    if (n == 1) return;
    if (poll(fds, n, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (fds[0].revents != 0) return;
    for (int i = 1; i < n; ++i) {
      if (fds[i].revents == 0) continue;
      const bool is_out = fds[i].fd == out_fd_;
      const ssize_t r = read(fds[i].fd, buf, sizeof(buf));
      if (r < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      std::lock_guard lk(mu_);
      Output& o = is_out ? out_ : err_;
      if (r > 0) {
        o.data.append(buf, static_cast<std::size_t>(r));
      } else {
        o.eof = true;
        close_fd(is_out ? out_fd_ : err_fd_);
      }
      cv_.notify_all();
    }
  }
}

std::optional<std::string> ChildProcess::read_line(Stream stream, milliseconds timeout) {
  std::unique_lock lk(mu_);
  Output& o = output(stream);
  const auto ready = [&] { return o.eof || o.data.find('\n', o.consumed) != std::string::npos; };
  if (!cv_.wait_for(lk, timeout, ready)) return std::nullopt;
  const auto pos = o.data.find('\n', o.consumed);
  if (pos != std::string::npos) {
    std::string line = o.data.substr(o.consumed, pos - o.consumed);
    o.consumed = pos + 1;
    return line;
  }
  if (o.consumed < o.data.size()) {
    std::string line = o.data.substr(o.consumed);
    o.consumed = o.data.size();
    return line;
  }
  return std::nullopt;
}

std::optional<std::string> ChildProcess::wait_for_line(Stream stream, const std::string& needle,
                                                       milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    const auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
    auto line = read_line(stream, std::max(left, milliseconds(0)));
    if (!line) return std::nullopt;
    if (line->find(needle) != std::string::npos) return line;
  }
}

std::string ChildProcess::captured(Stream stream) const {
  std::lock_guard lk(mu_);
  return output(stream).data;
}

bool ChildProcess::wait_for_output_eof(milliseconds timeout) {
  std::unique_lock lk(mu_);
  return cv_.wait_for(lk, timeout, [&] { return out_.eof && err_.eof; });
}

void ChildProcess::send_signal(int sig, bool whole_group) {
  // Once reaped the pid may belong to someone else.
  if (pid_ <= 0 || exit_code_) return;
  kill(whole_group ? -pid_ : pid_, sig);
}

bool ChildProcess::try_reap(int flags) {
  if (exit_code_) return true;
  int status = 0;
  pid_t r;
  do {
    r = waitpid(pid_, &status, flags);
  } while (r < 0 && errno == EINTR);
  if (r == pid_) {
    exit_code_ = decode_status(status);
  } else if (r < 0) {
    exit_code_ = -1;  // ECHILD: reaped elsewhere (e.g. SIGCHLD ignored)
  }
  return exit_code_.has_value();
}

std::optional<int> ChildProcess::wait(milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    if (try_reap(WNOHANG)) return exit_code_;
    const auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return std::nullopt;
    if (pidfd_ >= 0) {
      pollfd p{pidfd_, POLLIN, 0};
      poll(&p, 1, static_cast<int>(std::min<long>(left.count(), 1000)));
    } else {
      std::this_thread::sleep_for(std::min(left, milliseconds(5)));
    }
  }
}

bool ChildProcess::running() { return !try_reap(WNOHANG); }

CommandResult run_command(const std::vector<std::string>& argv, milliseconds timeout) {
  ChildProcess child(argv);
  CommandResult r;
  auto code = child.wait(timeout);
  if (!code) {
    r.timed_out = true;
    child.send_signal(SIGKILL, /*whole_group=*/true);
    code = child.wait(milliseconds(2000));
  }
  r.exit_code = code.value_or(-1);
  // A surviving grandchild may hold the pipes open; don't wait for it long.
  child.wait_for_output_eof(milliseconds(r.timed_out ? 100 : 1000));
  r.out = child.captured(ChildProcess::Stream::kStdout);
  r.err = child.captured(ChildProcess::Stream::kStderr);
  return r;
}

}  // namespace sanwatch::test
