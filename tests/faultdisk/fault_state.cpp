// SPDX-License-Identifier: Apache-2.0
// The ctl command language of sanwatch-faultdisk (parsing, applying) and
// the fault state it steers.
#include "fault_state.h"

#include <cerrno>
#include <charconv>
#include <sstream>

namespace faultdisk {

std::optional<std::uint64_t> parse_u64(std::string_view s) {
  std::uint64_t v = 0;
  const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || ptr != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}

namespace {

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

}  // namespace

std::vector<std::string> split_words(std::string_view line) {
  std::vector<std::string> words;
  std::istringstream in{std::string(line)};
  for (std::string w; in >> w;) words.push_back(w);
  return words;
}

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

}  // namespace faultdisk
