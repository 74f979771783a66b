// SPDX-License-Identifier: Apache-2.0
#include "host/scsi_counters.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>

namespace sanwatch {
namespace {

Result<UniqueFd> open_attr(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return errno_error("open " + path);
  return fd;
}

// sysfs answers a read at offset 0 with the whole attribute, fresh.
Result<std::uint64_t> read_counter(const UniqueFd& fd, const char* name) {
  char buf[32];
  ssize_t n;
  do {
    n = ::pread(fd.get(), buf, sizeof buf, 0);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return errno_error(std::string("read ") + name);
  auto v = parse_scsi_counter(std::string_view(buf, static_cast<std::size_t>(n)));
  if (!v) return Error{EINVAL, std::string("malformed ") + name};
  return *v;
}

}  // namespace

ScsiCounters ScsiCounters::since(const ScsiCounters& before) const {
  const auto d = [](std::uint64_t now, std::uint64_t then) {
    return now >= then ? now - then : now;
  };
  return {d(iodone, before.iodone), d(ioerr, before.ioerr), d(iotmo, before.iotmo)};
}

std::optional<std::uint64_t> parse_scsi_counter(std::string_view s) {
  if (!s.empty() && s.back() == '\n') s.remove_suffix(1);
  if (s.size() < 3 || s[0] != '0' || (s[1] != 'x' && s[1] != 'X')) return std::nullopt;
  s.remove_prefix(2);
  if (s.size() > 16) return std::nullopt;
  std::uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v, 16);
  // from_chars takes no sign or prefix in base 16, so only hex digits pass.
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

Result<ScsiCounterFiles> ScsiCounterFiles::open(const std::string& device_dir) {
  ScsiCounterFiles f;
  auto done = open_attr(device_dir + "/iodone_cnt");
  if (!done) return done.error();
  auto err = open_attr(device_dir + "/ioerr_cnt");
  if (!err) return err.error();
  auto tmo = open_attr(device_dir + "/iotmo_cnt");
  if (!tmo) return tmo.error();
  f.done_ = std::move(done).value();
  f.err_ = std::move(err).value();
  f.tmo_ = std::move(tmo).value();
  return f;
}

Result<ScsiCounters> ScsiCounterFiles::read() const {
  ScsiCounters c;
  auto done = read_counter(done_, "iodone_cnt");
  if (!done) return done.error();
  auto err = read_counter(err_, "ioerr_cnt");
  if (!err) return err.error();
  auto tmo = read_counter(tmo_, "iotmo_cnt");
  if (!tmo) return tmo.error();
  c.iodone = *done;
  c.ioerr = *err;
  c.iotmo = *tmo;
  return c;
}

}  // namespace sanwatch
