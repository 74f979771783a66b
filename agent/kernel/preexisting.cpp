// SPDX-License-Identifier: Apache-2.0
#include "kernel/preexisting.h"

#include <charconv>

namespace sanwatch {
namespace {

// Whitespace-separated unsigned fields; nullopt at the first malformed one.
template <class Fn>
bool for_fields(std::string_view text, Fn&& fn) {
  std::size_t i = 0, n = 0;
  for (;;) {
    while (i < text.size() && (text[i] == ' ' || text[i] == '\t' || text[i] == '\n')) ++i;
    if (i == text.size()) return true;
    std::uint64_t v = 0;
    auto [end, ec] = std::from_chars(text.data() + i, text.data() + text.size(), v);
    if (ec != std::errc() ||
        (end != text.data() + text.size() && *end != ' ' && *end != '\t' && *end != '\n'))
      return false;
    if (!fn(n++, v)) return true;
    i = static_cast<std::size_t>(end - text.data());
  }
}

}  // namespace

std::optional<unsigned> parse_inflight(std::string_view text) {
  std::uint64_t sum = 0;
  std::size_t fields = 0;
  if (!for_fields(text, [&](std::size_t i, std::uint64_t v) {
        sum += v;
        fields = i + 1;
        return i < 1;
      }))
    return std::nullopt;
  if (fields != 2 || sum > 0xffffffffu) return std::nullopt;
  return static_cast<unsigned>(sum);
}

std::optional<std::uint64_t> parse_io_ticks_ms(std::string_view stat) {
  std::optional<std::uint64_t> ticks;
  if (!for_fields(stat, [&](std::size_t i, std::uint64_t v) {
        if (i == 9) ticks = v;
        return i < 9;
      }))
    return std::nullopt;
  return ticks;
}

void PreexistingIo::begin(unsigned count, std::uint64_t now_ns,
                          std::optional<std::uint64_t> io_ticks_ms) {
  count_ = count;
  since_ns_ = now_ns;
  ticks0_ = io_ticks_ms;
}

void PreexistingIo::update(std::optional<unsigned> inflight, std::uint64_t now_ns,
                           std::optional<std::uint64_t> io_ticks_ms) {
  if (!count_) return;
  if (inflight && *inflight < count_) count_ = *inflight;
  if (ticks0_ && io_ticks_ms && now_ns > since_ns_ && *io_ticks_ms >= *ticks0_) {
    const std::uint64_t wall_ms = (now_ns - since_ns_) / 1'000'000;
    if (wall_ms > *io_ticks_ms - *ticks0_ + kIdleProofMs) count_ = 0;
  }
}

}  // namespace sanwatch
