// SPDX-License-Identifier: Apache-2.0
// Routes libbpf's log. libbpf has one process-wide print hook, so this is
// the single piece of global state: a LibbpfLog installs itself for its
// lifetime, keeps the last warning for one-line error messages, and echoes
// everything to stderr only when verbose (-v).
#pragma once

#include <bpf/libbpf.h>

#include <cstdarg>
#include <string>

namespace sanwatch {

class LibbpfLog {
 public:
  explicit LibbpfLog(bool verbose);
  ~LibbpfLog();
  LibbpfLog(const LibbpfLog&) = delete;
  LibbpfLog& operator=(const LibbpfLog&) = delete;

  // Last non-debug line libbpf printed, trimmed; empty if none.
  std::string last_line() const { return last_; }

 private:
  static int print(enum libbpf_print_level level, const char* fmt, va_list args);
  bool verbose_;
  std::string last_;
  libbpf_print_fn_t previous_;
};

}  // namespace sanwatch
