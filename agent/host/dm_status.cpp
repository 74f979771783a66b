// SPDX-License-Identifier: Apache-2.0
#include "host/dm_status.h"

#include <fcntl.h>
#include <linux/dm-ioctl.h>
#include <sys/ioctl.h>
#include <sys/sysmacros.h>  // makedev

#include <algorithm>
#include <charconv>
#include <cstddef>
#include <cstring>
#include <limits>

#include "base/parse.h"
#include "base/unique_fd.h"
#include "host/uevent.h"  // parse_dev_strict

namespace sanwatch {
namespace {

// dm-mpath's own limits for groups, paths per group and argument counts.
constexpr unsigned kMaxCount = 1024;
constexpr std::size_t kFirstBuffer = 16 << 10;
// A status reply above this is not a multipath host's table; stop doubling.
constexpr std::size_t kMaxBuffer = 16 << 20;

Error invalid(std::string what) { return Error{EINVAL, std::move(what)}; }

// Whitespace-separated tokens with a cursor that never runs past the end:
// every accessor reports what it expected when the line is short.
class Tokens {
 public:
  Tokens(std::string_view line, const char* kind) : kind_(kind) {
    std::size_t i = 0;
    while (i < line.size()) {
      const std::size_t b = line.find_first_not_of(" \t\n", i);
      if (b == std::string_view::npos) break;
      const std::size_t e = std::min(line.find_first_of(" \t\n", b), line.size());
      t_.push_back(line.substr(b, e - b));
      i = e;
    }
  }
  std::size_t remaining() const { return t_.size() - i_; }

  Result<std::string_view> next(const char* what) {
    if (i_ == t_.size()) return fail(what, "the line ends");
    return t_[i_++];
  }
  Result<unsigned> number(const char* what, unsigned max) {
    auto t = next(what);
    if (!t) return t.error();
    auto v = parse_uint<unsigned>(*t);
    if (!v) return fail(what, "'" + std::string(*t) + "' is not a number");
    if (*v > max) return fail(what, std::to_string(*v) + " exceeds " + std::to_string(max));
    return *v;
  }
  Result<DevId> dev(const char* what) {
    auto t = next(what);
    if (!t) return t.error();
    auto d = parse_dev_strict(*t);
    if (!d) return fail(what, "'" + std::string(*t) + "' is not MAJ:MIN");
    return *d;
  }
  // "<n> arg1 .. argn", n bounded by the tokens actually present.
  Result<std::vector<std::string>> counted(const char* what) {
    auto n = number(what, kMaxCount);
    if (!n) return n.error();
    if (*n > remaining()) return fail(what, std::to_string(*n) + " args but the line ends");
    return take(what, *n);
  }
  // The next n tokens.
  Result<std::vector<std::string>> take(const char* what, std::size_t n) {
    if (n > remaining()) return fail(what, "the line ends");
    std::vector<std::string> out(t_.begin() + i_, t_.begin() + i_ + n);
    i_ += n;
    return out;
  }
  // Each of n items needs at least `each` tokens: reject absurd counts before
  // allocating for them.
  Status fits(const char* what, std::size_t n, std::size_t each) {
    if (n * each > remaining()) return fail(what, std::to_string(n) + " do not fit in the line");
    return {};
  }
  Status end() {
    if (i_ != t_.size()) return fail("end of line", "trailing '" + std::string(t_[i_]) + "'");
    return {};
  }
  Error fail(const char* what, const std::string& why) const {
    return invalid(std::string(kind_) + ": token " + std::to_string(i_ + 1) + " (" + what +
                   "): " + why);
  }

 private:
  const char* kind_;
  std::vector<std::string_view> t_;
  std::size_t i_ = 0;
};

struct Header {
  std::vector<std::string> features, hw_handler;
  unsigned groups = 0, next_group = 0;
};

Result<Header> parse_header(Tokens& t) {
  Header h;
  auto f = t.counted("#feature args");
  if (!f) return f.error();
  auto hw = t.counted("#hw-handler args");
  if (!hw) return hw.error();
  auto n = t.number("#path groups", kMaxCount);
  if (!n) return n.error();
  auto next = t.number("next path group", *n);
  if (!next) return next.error();
  h.features = std::move(*f);
  h.hw_handler = std::move(*hw);
  h.groups = *n;
  h.next_group = *next;
  return h;
}

Result<MpathStatusPath> parse_status_path(Tokens& t, unsigned nargs) {
  MpathStatusPath p;
  auto dev = t.dev("path device");
  if (!dev) return dev.error();
  auto state = t.next("path state");
  if (!state) return state.error();
  if (*state != "A" && *state != "F")
    return t.fail("path state", "'" + std::string(*state) + "' is not A or F");
  auto fails = t.number("fail count", std::numeric_limits<unsigned>::max());
  if (!fails) return fails.error();
  auto args = t.take("path selector arg", nargs);
  if (!args) return args.error();
  p.dev = *dev;
  p.active = *state == "A";
  p.fail_count = *fails;
  p.selector_args = std::move(*args);
  return p;
}

Result<MpathTablePath> parse_table_path(Tokens& t, unsigned nargs) {
  auto dev = t.dev("path device");
  if (!dev) return dev.error();
  auto args = t.take("path selector arg", nargs);
  if (!args) return args.error();
  return MpathTablePath{*dev, std::move(*args)};
}

// What status and table groups share after their first token:
// "<#args> <args> <#paths> <#path args>", then the paths, each `fixed`
// tokens plus the path args.
template <typename Group, typename ParsePath>
Status parse_group_paths(Tokens& t, const char* args_what, unsigned fixed, Group& g,
                         ParsePath parse_path) {
  auto args = t.counted(args_what);
  if (!args) return args.error();
  g.selector_args = std::move(*args);
  auto npaths = t.number("#paths", kMaxCount);
  if (!npaths) return npaths.error();
  auto nargs = t.number("#path args", kMaxCount);
  if (!nargs) return nargs.error();
  if (auto st = t.fits("paths", *npaths, fixed + *nargs); !st) return st;
  for (unsigned i = 0; i < *npaths; ++i) {
    auto p = parse_path(t, *nargs);
    if (!p) return p.error();
    g.paths.push_back(std::move(*p));
  }
  return {};
}

Result<MpathStatusGroup> parse_status_group(Tokens& t) {
  MpathStatusGroup g;
  auto state = t.next("path group state");
  if (!state) return state.error();
  if (*state != "A" && *state != "E" && *state != "D")
    return t.fail("path group state", "'" + std::string(*state) + "' is not A, E or D");
  g.state = (*state)[0];
  if (auto st = parse_group_paths(t, "#path group args", 3, g, parse_status_path); !st)
    return st.error();
  return g;
}

Result<MpathTableGroup> parse_table_group(Tokens& t) {
  MpathTableGroup g;
  auto sel = t.next("path selector");
  if (!sel) return sel.error();
  g.selector = std::string(*sel);
  if (auto st = parse_group_paths(t, "#selector args", 1, g, parse_table_path); !st)
    return st.error();
  return g;
}

// NUL-terminated string at [off, end) of data, or nullopt.
std::optional<std::string> c_string(std::span<const std::byte> data, std::size_t off,
                                    std::size_t end) {
  if (off >= end || end > data.size()) return std::nullopt;
  const char* p = reinterpret_cast<const char*>(data.data()) + off;
  const void* nul = std::memchr(p, 0, end - off);
  if (!nul) return std::nullopt;
  return std::string(p, static_cast<const char*>(nul));
}

// The ioctl header in, the reply out; the header is copied, never aliased.
Result<std::vector<std::byte>> dm_call(int fd, unsigned long cmd, const char* cmd_name,
                                       const dm_ioctl& request) {
  for (std::size_t size = kFirstBuffer; size <= kMaxBuffer; size *= 2) {
    std::vector<std::byte> buf(size);
    dm_ioctl io = request;
    io.version[0] = DM_VERSION_MAJOR;  // minor 0: we need nothing newer
    io.data_size = static_cast<std::uint32_t>(size);
    io.data_start = sizeof(dm_ioctl);
    std::memcpy(buf.data(), &io, sizeof io);
    int rc;
    do rc = ::ioctl(fd, cmd, buf.data());
    while (rc != 0 && errno == EINTR);
    if (rc != 0) return errno_error(cmd_name);
    std::memcpy(&io, buf.data(), sizeof io);
    if (!(io.flags & DM_BUFFER_FULL_FLAG)) return buf;
  }
  return Error{EOVERFLOW, std::string(cmd_name) + ": reply larger than " +
                              std::to_string(kMaxBuffer >> 20) + " MiB"};
}

Result<UniqueFd> open_control(const std::string& control) {
  UniqueFd fd(::open(control.c_str(), O_RDWR | O_CLOEXEC));
  if (!fd.valid())
    return errno_error("open " + control + " (device-mapper: is dm_mod loaded, are we root?)");
  return fd;
}

// Name (then uuid), or MAJ:MIN. The kernel wants exactly one of them set.
std::vector<dm_ioctl> lookups(std::string spec) {
  if (spec.rfind("/dev/mapper/", 0) == 0) spec.erase(0, 12);
  std::vector<dm_ioctl> out;
  dm_ioctl io{};
  if (auto d = parse_dev_strict(spec)) {
    io.dev = makedev(d->major, d->minor);
    out.push_back(io);
    return out;
  }
  if (spec.empty()) return out;
  if (spec.size() < DM_NAME_LEN) {
    std::memcpy(io.name, spec.data(), spec.size());
    out.push_back(io);
  }
  if (spec.size() < DM_UUID_LEN) {
    dm_ioctl by_uuid{};
    std::memcpy(by_uuid.uuid, spec.data(), spec.size());
    out.push_back(by_uuid);
  }
  return out;
}

}  // namespace

unsigned active_group(const MpathStatus& s) {
  for (std::size_t i = 0; i < s.groups.size(); ++i)
    if (s.groups[i].state == 'A') return static_cast<unsigned>(i + 1);
  return s.next_group <= s.groups.size() ? s.next_group : 0;
}

unsigned MpathStatus::valid_paths() const {
  unsigned n = 0;
  for (const auto& g : groups)
    for (const auto& p : g.paths) n += p.active;
  return n;
}

unsigned MpathStatus::total_paths() const {
  unsigned n = 0;
  for (const auto& g : groups) n += static_cast<unsigned>(g.paths.size());
  return n;
}

bool MpathTable::queue_if_no_path() const {
  for (const auto& f : features)
    if (f == "queue_if_no_path") return true;
  return false;
}

namespace {

// Status and table lines share their header and group framing; only the
// group bodies differ.
template <typename Out, typename GroupFn>
Result<Out> parse_mpath_line(std::string_view params, const char* what, GroupFn parse_group) {
  Tokens t(params, what);
  auto h = parse_header(t);
  if (!h) return h.error();
  if (auto st = t.fits("path groups", h->groups, 4); !st) return st.error();
  Out out;
  out.features = std::move(h->features);
  out.hw_handler = std::move(h->hw_handler);
  out.next_group = h->next_group;
  for (unsigned i = 0; i < h->groups; ++i) {
    auto g = parse_group(t);
    if (!g) return g.error();
    out.groups.push_back(std::move(*g));
  }
  if (auto st = t.end(); !st) return st.error();
  return out;
}

}  // namespace

Result<MpathStatus> parse_multipath_status(std::string_view params) {
  return parse_mpath_line<MpathStatus>(params, "multipath status",
                                       [](Tokens& t) { return parse_status_group(t); });
}

Result<MpathTable> parse_multipath_table(std::string_view params) {
  return parse_mpath_line<MpathTable>(params, "multipath table",
                                      [](Tokens& t) { return parse_table_group(t); });
}

Result<std::vector<DmTarget>> parse_target_specs(std::span<const std::byte> data,
                                                 std::uint32_t target_count) {
  constexpr std::size_t kSpec = sizeof(dm_target_spec);
  std::vector<DmTarget> out;
  out.reserve(std::min<std::size_t>(target_count, data.size() / (kSpec + 1)));
  std::size_t off = 0;
  for (std::uint32_t i = 0; i < target_count; ++i) {
    const std::string where = "dm target " + std::to_string(i) + " at offset " +
                              std::to_string(off) + " of " + std::to_string(data.size());
    if (off > data.size() || data.size() - off < kSpec)
      return invalid(where + ": dm_target_spec overruns the buffer");
    dm_target_spec spec;
    std::memcpy(&spec, data.data() + off, kSpec);
    auto params = c_string(data, off + kSpec, data.size());
    if (!params) return invalid(where + ": parameters not NUL-terminated in the buffer");
    DmTarget t;
    t.start = spec.sector_start;
    t.length = spec.length;
    t.type.assign(spec.target_type, strnlen(spec.target_type, sizeof spec.target_type));
    t.params = std::move(*params);
    // `next` counts from the start of the data area; it must move past this
    // entry's string, so a loop or overlap is impossible.
    const std::size_t end = off + kSpec + t.params.size() + 1;
    out.push_back(std::move(t));
    if (i + 1 == target_count) break;
    if (spec.next < end)
      return invalid(where + ": next offset " + std::to_string(spec.next) + " points back");
    off = spec.next;
  }
  return out;
}

Result<std::vector<DmTarget>> parse_status_reply(std::span<const std::byte> buf) {
  if (buf.size() < sizeof(dm_ioctl)) return invalid("dm reply shorter than struct dm_ioctl");
  dm_ioctl io;
  std::memcpy(&io, buf.data(), sizeof io);
  if (io.flags & DM_BUFFER_FULL_FLAG)
    return Error{EOVERFLOW, "dm reply: the kernel ran out of buffer (DM_BUFFER_FULL_FLAG)"};
  if (io.data_start < sizeof(dm_ioctl) || io.data_start > io.data_size || io.data_size > buf.size())
    return invalid("dm reply: data_start " + std::to_string(io.data_start) + " / data_size " +
                   std::to_string(io.data_size) + " outside the " + std::to_string(buf.size()) +
                   "-byte buffer");
  return parse_target_specs(buf.subspan(io.data_start, io.data_size - io.data_start),
                            io.target_count);
}

Result<std::vector<DmTarget>> dm_status(const std::string& dm_name_or_uuid, bool table,
                                        const std::string& control) {
  const auto tries = lookups(dm_name_or_uuid);
  if (tries.empty()) return invalid("dm map '" + dm_name_or_uuid + "': not a valid name or uuid");
  auto fd = open_control(control);
  if (!fd) return fd.error();
  const char* what = table ? "DM_TABLE_STATUS (table)" : "DM_TABLE_STATUS";
  for (dm_ioctl io : tries) {
    io.flags = table ? DM_STATUS_TABLE_FLAG : DM_NOFLUSH_FLAG;
    auto reply = dm_call(fd->get(), DM_TABLE_STATUS, what, io);
    if (!reply && reply.error().err == ENXIO) continue;  // not this kind of id; try the next
    if (!reply)
      return Error{reply.error().err, reply.error().context + " for '" + dm_name_or_uuid + "'"};
    return parse_status_reply(*reply);
  }
  return Error{ENXIO, std::string(what) + ": no device-mapper map named or with uuid '" +
                          dm_name_or_uuid + "'"};
}

Result<MultipathReport> read_multipath(const std::string& map, const std::string& control) {
  MultipathReport r;
  r.map = map;
  for (bool table : {true, false}) {
    auto targets = dm_status(map, table, control);
    if (!targets) return targets.error();
    const DmTarget* mp = nullptr;
    for (const auto& t : *targets) {
      if (t.type != "multipath") continue;
      mp = &t;
      break;
    }
    if (!mp) return invalid("dm map '" + map + "' has no multipath target");
    if (table) {
      auto tab = parse_multipath_table(mp->params);
      if (!tab) return tab.error();
      r.table = std::move(*tab);
    } else {
      auto st = parse_multipath_status(mp->params);
      if (!st) return st.error();
      r.status = std::move(*st);
    }
  }
  return r;
}

}  // namespace sanwatch
