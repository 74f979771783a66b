// SPDX-License-Identifier: Apache-2.0
// Child processes for tests: run a command with a timeout, or keep one running
// (e.g. the sanwatch binary) and read its output line by line.
//
// Every child gets stdin from /dev/null, no inherited file descriptors beyond
// 0-2, default signal dispositions, and its own process group, so a kill on
// timeout also takes down anything it started.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace sanwatch::test {

struct CommandResult {
  // Exit status; 128+N when killed by signal N; -1 when the child could not be
  // reaped in time (e.g. stuck in uninterruptible I/O after the kill).
  int exit_code = -1;
  bool timed_out = false;
  std::string out;
  std::string err;

  bool ok() const { return exit_code == 0 && !timed_out; }
};

// Runs argv (argv[0] is looked up in PATH). On timeout the process group gets
// SIGKILL and timed_out is set. Throws std::runtime_error only when the
// command cannot be started at all.
CommandResult run_command(const std::vector<std::string>& argv,
                          std::chrono::milliseconds timeout = std::chrono::seconds(10));

// "a b 'c d'" for messages.
std::string format_command(const std::vector<std::string>& argv);

class ChildProcess {
 public:
  enum class Stream { kStdout, kStderr };

  struct Options {
    // Empty: capture through a pipe (read_line / captured). Otherwise the
    // stream is appended to this file and not captured.
    std::string stdout_path;
    std::string stderr_path;
    // "KEY=VALUE" entries added to (or overriding) the inherited environment.
    std::vector<std::string> extra_env;
  };

  // Starts argv (argv[0] looked up in PATH); throws std::runtime_error.
  explicit ChildProcess(const std::vector<std::string>& argv, Options options = {});
  // SIGKILLs the process group if the child is still running and reaps it
  // (bounded: a child stuck in D state is left behind rather than hanging).
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }

  // Next complete line (without '\n') from the stream; a final unterminated
  // line is returned at EOF. nullopt on timeout or when the stream is done.
  std::optional<std::string> read_line(Stream stream, std::chrono::milliseconds timeout);
  // Reads lines until one contains `needle`; returns it, or nullopt on
  // timeout/EOF. Skipped lines stay available through captured().
  std::optional<std::string> wait_for_line(Stream stream, const std::string& needle,
                                           std::chrono::milliseconds timeout);
  // Everything captured from the stream so far, including lines already read.
  std::string captured(Stream stream) const;
  // Waits until both captured streams reached EOF; false on timeout.
  bool wait_for_output_eof(std::chrono::milliseconds timeout);

  // Sends sig to the child (or its whole process group). No-op once reaped.
  void send_signal(int sig, bool whole_group = false);
  // Waits for exit; returns the exit code (128+N for signal N) or nullopt on
  // timeout.
  std::optional<int> wait(std::chrono::milliseconds timeout);
  // Non-blocking check.
  bool running();
  std::optional<int> exit_code() const { return exit_code_; }

 private:
  struct Output {
    std::string data;
    std::size_t consumed = 0;
    bool eof = true;  // set to false when the stream is a pipe
  };

  void spawn(const std::vector<std::string>& argv, const Options& options);
  void reader_main();
  bool try_reap(int flags);
  Output& output(Stream s) { return s == Stream::kStdout ? out_ : err_; }
  const Output& output(Stream s) const { return s == Stream::kStdout ? out_ : err_; }

  pid_t pid_ = -1;
  int pidfd_ = -1;
  std::optional<int> exit_code_;
  int out_fd_ = -1;
  int err_fd_ = -1;
  int wake_pipe_[2] = {-1, -1};
  mutable std::mutex mu_;
  std::condition_variable cv_;
  Output out_;
  Output err_;
  std::thread reader_;
};

}  // namespace sanwatch::test
