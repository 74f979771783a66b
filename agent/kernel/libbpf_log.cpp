// SPDX-License-Identifier: Apache-2.0
#include "kernel/libbpf_log.h"

#include <cstdio>

namespace sanwatch {
namespace {
thread_local LibbpfLog* t_active = nullptr;
}

LibbpfLog::LibbpfLog(bool verbose) : verbose_(verbose) {
  t_active = this;
  previous_ = libbpf_set_print(&LibbpfLog::print);
}

LibbpfLog::~LibbpfLog() {
  libbpf_set_print(previous_);
  t_active = nullptr;
}

int LibbpfLog::print(enum libbpf_print_level level, const char* fmt, va_list args) {
  LibbpfLog* self = t_active;
  // The verifier log arrives as one long string: size the buffer to it.
  va_list copy;
  va_copy(copy, args);
  const int n = std::vsnprintf(nullptr, 0, fmt, copy);
  va_end(copy);
  std::string buf(n > 0 ? static_cast<std::size_t>(n) : 0, '\0');
  std::vsnprintf(buf.data(), buf.size() + 1, fmt, args);
  if (self && level != LIBBPF_DEBUG) {
    std::string line = buf;
    while (!line.empty() && (line.back() == '\n' || line.back() == ' ')) line.pop_back();
    if (auto nl = line.rfind('\n'); nl != std::string::npos) line.erase(0, nl + 1);
    if (line.rfind("libbpf: ", 0) == 0) line.erase(0, 8);
    if (!line.empty()) self->last_ = line;
  }
  if (self && self->verbose_) std::fputs(buf.c_str(), stderr);
  return 0;
}

}  // namespace sanwatch
