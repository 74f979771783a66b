// SPDX-License-Identifier: Apache-2.0
#include "detect/config.h"

#include <fmt/format.h>
#include <fnmatch.h>
#include <toml++/toml.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>

#include "base/parse.h"
#include "detect/embedded_config.h"
#include "detect/toml_guard.h"

namespace sanwatch {
namespace {

// Collects "source:line:column: message" lines.
class Errors {
 public:
  explicit Errors(std::string source) : source_(std::move(source)) {}
  void add(const toml::source_region& at, const std::string& msg) {
    lines_.push_back(fmt::format("{}:{}:{}: {}", source_, at.begin.line, at.begin.column, msg));
  }
  bool empty() const { return lines_.empty(); }
  std::size_t count() const { return lines_.size(); }
  std::string joined() const {
    std::string s;
    for (const auto& l : lines_) s += (s.empty() ? "" : "\n") + l;
    return s;
  }
  const std::string& source() const { return source_; }

 private:
  std::string source_;
  std::vector<std::string> lines_;
};

// Reads known keys of one table and reports everything else: unknown keys,
// wrong types, values out of range.
class TableReader {
 public:
  TableReader(const toml::table& t, std::string path, Errors& errs)
      : t_(t), path_(std::move(path)), errs_(errs) {}

  ~TableReader() {
    for (auto&& [k, v] : t_)
      if (std::find(seen_.begin(), seen_.end(), k.str()) == seen_.end())
        errs_.add(k.source(), fmt::format("unknown key '{}{}'", prefix(), k.str()));
  }

  const toml::node* node(std::string_view key) {
    seen_.emplace_back(key);
    return t_.get(key);
  }

  void duration(std::string_view key, Duration& out, Duration min, Duration max) {
    const toml::node* n = node(key);
    if (!n) return;
    auto s = n->value<std::string>();
    auto d = s ? parse_duration(*s) : std::nullopt;
    if (!d) return type_error(*n, key, "a duration string like \"250ms\" or \"2s\"");
    if (*d < min || *d > max)
      return errs_.add(n->source(),
                       fmt::format("{}{} = \"{}\" is out of range ({} .. {})", prefix(), key, *s,
                                   format_duration(min), format_duration(max)));
    out = *d;
  }

  template <typename T>
  void integer(std::string_view key, T& out, std::int64_t min, std::int64_t max) {
    const toml::node* n = node(key);
    if (!n) return;
    auto v = n->value_exact<std::int64_t>();
    if (!v) return type_error(*n, key, "an integer");
    if (*v < min || *v > max)
      return errs_.add(n->source(), fmt::format("{}{} = {} is out of range ({} .. {})", prefix(),
                                                key, *v, min, max));
    out = static_cast<T>(*v);
  }

  void number(std::string_view key, double& out, double min, double max) {
    const toml::node* n = node(key);
    if (!n) return;
    auto v = n->value<double>();
    if (!v || !(n->is_floating_point() || n->is_integer())) return type_error(*n, key, "a number");
    if (!std::isfinite(*v) || *v < min || *v > max)
      return errs_.add(n->source(), fmt::format("{}{} = {} is out of range ({} .. {})", prefix(),
                                                key, *v, min, max));
    out = *v;
  }

  void boolean(std::string_view key, bool& out) {
    const toml::node* n = node(key);
    if (!n) return;
    auto v = n->value_exact<bool>();
    if (!v) return type_error(*n, key, "true or false");
    out = *v;
  }

  void string(std::string_view key, std::string& out,
              std::initializer_list<std::string_view> allowed = {}) {
    const toml::node* n = node(key);
    if (!n) return;
    auto v = n->value_exact<std::string>();
    if (!v) return type_error(*n, key, "a string");
    if (allowed.size() && std::find(allowed.begin(), allowed.end(), *v) == allowed.end()) {
      std::string list;
      for (auto a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
      return errs_.add(n->source(),
                       fmt::format("{}{} = \"{}\" is not one of: {}", prefix(), key, *v, list));
    }
    out = *v;
  }

  void strings(std::string_view key, std::vector<std::string>& out) {
    const toml::node* n = node(key);
    if (!n) return;
    const toml::array* a = n->as_array();
    if (!a) return type_error(*n, key, "an array of strings");
    std::vector<std::string> v;
    for (const auto& el : *a) {
      auto s = el.value_exact<std::string>();
      if (!s) return type_error(el, key, "an array of strings");
      v.push_back(*s);
    }
    out = std::move(v);
  }

  // Optional variants for [[override]] blocks.
  template <typename T, typename Fn>
  void optional(std::string_view key, std::optional<T>& out, Fn read) {
    if (!t_.contains(key)) {
      seen_.emplace_back(key);
      return;
    }
    T v{};
    const std::size_t before = errs_count();
    read(key, v);
    if (errs_count() == before) out = v;
  }

  const toml::table* table(std::string_view key) {
    const toml::node* n = node(key);
    if (!n) return nullptr;
    if (!n->is_table()) {
      type_error(*n, key, "a table");
      return nullptr;
    }
    return n->as_table();
  }

  std::string prefix() const { return path_.empty() ? "" : path_ + "."; }
  Errors& errors() { return errs_; }
  std::size_t errs_count() const { return errs_.count(); }

 private:
  void type_error(const toml::node& n, std::string_view key, std::string_view want) {
    errs_.add(n.source(), fmt::format("{}{} must be {}", prefix(), key, want));
  }

  const toml::table& t_;
  std::string path_;
  Errors& errs_;
  std::vector<std::string> seen_;
};

constexpr Duration kMinStall = 10ms, kMaxLong = 24h;

void read_thresholds(TableReader& r, Thresholds& t) {
  r.duration("slow_io", t.slow_io, 100us, 1h);
  r.number("slow_share", t.slow_share, 0.0, 1.0);
  r.integer("slow_min_ios", t.slow_min_ios, 1, 1'000'000);
  r.duration("slow_window", t.slow_window, 100ms, 1h);
  r.duration("stall", t.stall, kMinStall, kMaxLong);
  r.integer("fail_errors", t.fail_errors, 1, 1'000'000);
  r.integer("canary_failures", t.canary_failures, 1, 1000);
  r.duration("recovery", t.recovery, 0ms, kMaxLong);
  r.integer("flap_count", t.flap_count, 1, 1000);
  r.duration("flap_window", t.flap_window, 1s, kMaxLong);
}

void read_canary(TableReader& r, CanarySettings& c, CanaryTargets& targets) {
  r.boolean("enabled", c.enabled);
  r.duration("period", c.period, 10ms, 1h);
  r.duration("deadline", c.deadline, 1ms, 1h);
  r.integer("size", c.size, 512, 1 << 20);
  r.integer("region_offset", c.region_offset, 0, INT64_MAX);
  r.integer("region_length", c.region_length, 0, INT64_MAX);
  std::string t;
  r.string("targets", t, {"multipath", "all", "none"});
  if (t == "all") targets = CanaryTargets::kAll;
  if (t == "none") targets = CanaryTargets::kNone;
  if (t == "multipath") targets = CanaryTargets::kMultipath;
  if (c.size % 512) {
    if (const toml::node* n = r.node("size"))
      r.errors().add(n->source(), "canary.size must be a multiple of 512");
  }
}

// Array identity for devices whose sysfs does not tell: label values, so
// printable and short (they go into every per-array series and alert).
void read_array_identity(TableReader& r, Override& o) {
  for (auto [key, field] :
       {std::pair{"array_vendor", &o.array_vendor}, std::pair{"array_product", &o.array_product},
        std::pair{"array_id", &o.array_id}}) {
    r.optional(key, *field, [&](std::string_view k, std::string& v) { r.string(k, v); });
    if (!*field) continue;
    const std::string& v = **field;
    const bool printable =
        std::all_of(v.begin(), v.end(), [](unsigned char c) { return c >= 0x20 && c != 0x7f; });
    if (v.empty() || v.size() > 256 || !printable)
      r.errors().add(r.node(key)->source(),
                     fmt::format("override.{} must be 1 to 256 printable characters", key));
  }
}

void read_override(const toml::table& t, const Config& c, Override& o, Errors& errs) {
  TableReader r(t, "override", errs);
  r.strings("match", o.match);
  o.where = fmt::format("{}:{}", errs.source(), t.source().begin.line);
  if (o.match.empty())
    errs.add(t.source(), "override needs a non-empty match = [\"pattern\", ...]");
  auto dur = [&](Duration lo, Duration hi) {
    return [&r, lo, hi](std::string_view k, Duration& v) { r.duration(k, v, lo, hi); };
  };
  r.optional("slow_io", o.slow_io, dur(100us, 1h));
  r.optional("slow_window", o.slow_window, dur(100ms, 1h));
  r.optional("stall", o.stall, dur(kMinStall, kMaxLong));
  r.optional("recovery", o.recovery, dur(0ms, kMaxLong));
  r.optional("canary_period", o.canary_period, dur(10ms, 1h));
  r.optional("canary_deadline", o.canary_deadline, dur(1ms, 1h));
  r.optional("slow_share", o.slow_share,
             [&](std::string_view k, double& v) { r.number(k, v, 0, 1); });
  auto count = [&](std::string_view k, std::uint32_t& v) { r.integer(k, v, 1, 1'000'000); };
  r.optional("slow_min_ios", o.slow_min_ios, count);
  r.optional("fail_errors", o.fail_errors, count);
  r.optional("canary_failures", o.canary_failures, count);
  r.optional("canary", o.canary, [&](std::string_view k, bool& v) { r.boolean(k, v); });
  read_array_identity(r, o);
  const Duration slow = o.slow_io.value_or(c.thresholds.slow_io);
  const Duration stall = o.stall.value_or(c.thresholds.stall);
  const Duration deadline = o.canary_deadline.value_or(c.canary.deadline);
  if (slow >= stall || deadline >= stall)
    errs.add(t.source(),
             fmt::format("override: stall ({}) must be longer than slow_io ({}) and "
                         "canary_deadline ({})",
                         format_duration(stall), format_duration(slow), format_duration(deadline)));
}

// Prometheus/Alertmanager label names; Alertmanager rejects a whole batch
// with one bad name, so catch it at load time.
bool valid_label_name(std::string_view n) {
  if (n.empty() || std::isdigit(static_cast<unsigned char>(n[0]))) return false;
  return std::all_of(n.begin(), n.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
  });
}

void read_alerts(const toml::table& t, AlertSettings& a, Errors& errs) {
  TableReader r(t, "alerts", errs);
  r.strings("alertmanager_urls", a.alertmanager_urls);
  for (const auto& u : a.alertmanager_urls)
    if (u.rfind("http://", 0) != 0 && u.rfind("https://", 0) != 0)
      errs.add(r.node("alertmanager_urls")->source(),
               "alerts.alertmanager_urls: '" + u + "' must start with http:// or https://");
  r.duration("resend", a.resend, 1s, 1h);
  r.duration("timeout", a.timeout, 10ms, 1min);
  r.duration("health_check", a.health_check, 0s, 1h);
  r.integer("queue", a.queue, 1, 1'000'000);
  r.string("instance", a.instance);
  r.strings("exec", a.exec_command);
  r.duration("exec_timeout", a.exec_timeout, 10ms, 1h);
  r.integer("exec_max_concurrent", a.exec_max_concurrent, 1, 256);
  if (const auto* l = r.table("labels")) {
    for (auto&& [k, v] : *l) {
      auto s = v.value_exact<std::string>();
      if (!s)
        errs.add(v.source(), fmt::format("alerts.labels.{} must be a string", k.str()));
      else if (!valid_label_name(k.str()))
        errs.add(k.source(), fmt::format("alerts.labels: '{}' is not a valid label name "
                                         "([a-zA-Z_][a-zA-Z0-9_]*)",
                                         k.str()));
      else
        a.labels.emplace_back(std::string(k.str()), *s);
    }
  }
}

// At most four thresholds: the engine counts each in BPF (bpf/iolat.h).
void read_ledger(const toml::table& t, LedgerSettings& l, Errors& errs) {
  TableReader r(t, "ledger", errs);
  r.boolean("enabled", l.enabled);
  r.string("path", l.path);
  if (const toml::node* n = r.node("path"); n && (l.path.empty() || l.path[0] != '/'))
    errs.add(n->source(), "ledger.path must be an absolute path");
  r.duration("retention", l.retention, std::chrono::hours(24), std::chrono::hours(24 * 3660));
  r.duration("minute_rollups", l.minute_rollups, std::chrono::hours(1),
             std::chrono::hours(24 * 3660));
  r.integer("queue", l.queue, 16, 10'000'000);
  if (const toml::node* n = r.node("latency_slos")) {
    const toml::array* a = n->as_array();
    l.latency_slos.clear();
    for (std::size_t i = 0; a && i < a->size(); ++i) {
      auto s = (*a)[i].value<std::string>();
      auto d = s ? parse_duration(*s) : std::nullopt;
      if (!d || d->count() <= 0 || (!l.latency_slos.empty() && *d <= l.latency_slos.back()))
        errs.add((*a)[i].source(),
                 "ledger.latency_slos: durations in increasing order, e.g. "
                 "[\"10ms\", \"100ms\"]");
      else
        l.latency_slos.push_back(*d);
    }
    if (!a) errs.add(n->source(), "ledger.latency_slos must be an array of duration strings");
    if (a && a->size() > 4) errs.add(n->source(), "ledger.latency_slos: at most 4 thresholds");
  }
}

// The baseline compares hours: its period is whole hours, and at least two
// earlier periods fit in `learn` (the baseline is their median).
void read_baseline(const toml::table& t, BaselineSettings& b, Errors& errs) {
  TableReader r(t, "baseline", errs);
  constexpr Duration kHour = std::chrono::hours(1), kMaxLearn = std::chrono::hours(24 * 3660);
  r.boolean("enabled", b.enabled);
  r.number("factor", b.factor, 1.01, 1000);
  r.integer("min_ios", b.min_ios, 1, 1'000'000'000);
  r.duration("window", b.window, 1s, std::chrono::hours(24 * 7));
  r.duration("learn", b.learn, 2 * kHour, kMaxLearn);
  r.duration("hold", b.hold, 0s, std::chrono::hours(24 * 30));
  r.duration("period", b.period, kHour, kMaxLearn / 2);
  const auto at = [&](std::string_view k) { return r.node(k) ? r.node(k)->source() : t.source(); };
  if (b.period % kHour != Duration::zero())
    errs.add(at("period"),
             fmt::format("baseline.period = \"{}\" must be whole hours (\"7d\", \"24h\")",
                         format_duration(b.period)));
  if (b.learn < 2 * b.period)
    errs.add(at("learn"),
             fmt::format("baseline.learn ({}) must cover at least two periods ({} each): "
                         "the baseline is the median of earlier periods",
                         format_duration(b.learn), format_duration(b.period)));
  if (b.window > b.period)
    errs.add(at("window"),
             fmt::format("baseline.window ({}) must not be longer than baseline.period ({})",
                         format_duration(b.window), format_duration(b.period)));
}

bool valid_listen(const std::string& s) {
  const auto colon = s.rfind(':');
  if (colon == std::string::npos || colon == 0) return false;
  const auto port = parse_uint<unsigned>(std::string_view(s).substr(colon + 1));
  return port && *port < 65536;
}

void read_tracing(const toml::table& t, TracingSettings& s, Errors& errs) {
  TableReader r(t, "tracing", errs);
  const std::size_t before = r.errs_count();
  r.integer("ring_buffer_bytes", s.ring_buffer_bytes, 4096, 1 << 28);
  // The kernel takes only powers of two (BPF_MAP_TYPE_RINGBUF).
  if (r.errs_count() == before && (s.ring_buffer_bytes & (s.ring_buffer_bytes - 1)))
    if (const toml::node* n = r.node("ring_buffer_bytes"))
      errs.add(n->source(), fmt::format("tracing.ring_buffer_bytes = {} must be a power of two",
                                        s.ring_buffer_bytes));
}

// Settings that contradict each other, reported at the later key.
void check_consistency(const toml::table& root, const Config& c, Errors& errs) {
  // Where to point: the first of the given keys that the file sets.
  auto at = [&](std::initializer_list<std::string_view> paths) {
    for (auto p : paths)
      if (const toml::node* n = root.at_path(p).node()) return n->source();
    return root.source();
  };
  if (c.thresholds.slow_io >= c.thresholds.stall)
    errs.add(
        at({"thresholds.stall", "thresholds.slow_io"}),
        fmt::format("thresholds.stall ({}) must be longer than thresholds.slow_io ({})",
                    format_duration(c.thresholds.stall), format_duration(c.thresholds.slow_io)));
  // The deadline only matters where canaries can run.
  const bool canaries =
      c.canary_targets != CanaryTargets::kNone &&
      (c.canary.enabled || std::any_of(c.overrides.begin(), c.overrides.end(),
                                       [](const auto& o) { return o.canary.value_or(false); }));
  if (canaries && c.canary.deadline >= c.thresholds.stall)
    errs.add(at({"canary.deadline", "thresholds.stall"}),
             fmt::format("canary.deadline ({}) must be shorter than thresholds.stall ({})",
                         format_duration(c.canary.deadline), format_duration(c.thresholds.stall)));
  if (!valid_listen(c.metrics.listen))
    errs.add(at({"metrics.listen"}), "metrics.listen must be HOST:PORT, e.g. \"0.0.0.0:9847\"");
}

void read_root(const toml::table& root, Config& c, Errors& errs) {
  TableReader r(root, "", errs);
  r.string("log_level", c.log_level, {"debug", "info", "warn", "error"});
  if (const auto* t = r.table("devices")) {
    TableReader d(*t, "devices", errs);
    d.strings("include", c.include);
    d.strings("exclude", c.exclude);
    d.duration("rescan", c.rescan, 100ms, 1h);
  }
  if (const auto* t = r.table("thresholds")) {
    TableReader th(*t, "thresholds", errs);
    read_thresholds(th, c.thresholds);
  }
  if (const auto* t = r.table("canary")) {
    TableReader cr(*t, "canary", errs);
    read_canary(cr, c.canary, c.canary_targets);
  }
  if (const auto* t = r.table("metrics")) {
    TableReader m(*t, "metrics", errs);
    m.string("listen", c.metrics.listen);
    m.boolean("path_histograms", c.metrics.path_histograms);
    m.boolean("device_histograms", c.metrics.device_histograms);
    m.duration("refresh", c.metrics.refresh, 100ms, 1min);
    m.integer("max_connections", c.metrics.max_connections, 1, 65536);
    m.integer("max_connections_per_ip", c.metrics.max_connections_per_ip, 1, 65536);
    m.duration("read_timeout", c.metrics.read_timeout, 1s, 1h);
    m.integer("max_request_bytes", c.metrics.max_request_bytes, 1024, 1 << 20);
    m.string("web_config", c.metrics.web_config);
    if (const toml::node* n = m.node("web_config");
        n && !c.metrics.web_config.empty() && c.metrics.web_config[0] != '/')
      errs.add(n->source(), "metrics.web_config must be an absolute path (or \"\" for none)");
  }
  if (const auto* t = r.table("alerts")) read_alerts(*t, c.alerts, errs);
  if (const auto* t = r.table("ledger")) read_ledger(*t, c.ledger, errs);
  if (const auto* t = r.table("baseline")) read_baseline(*t, c.baseline, errs);
  if (const auto* t = r.table("tracing")) read_tracing(*t, c.tracing, errs);
  if (const toml::node* n = r.node("override")) {
    const toml::array* arr = n->as_array();
    if (!arr || !arr->is_array_of_tables()) {
      errs.add(n->source(), "override must be an array of tables: [[override]]");
      return;
    }
    for (const auto& el : *arr) {
      Override o;
      read_override(*el.as_table(), c, o, errs);
      c.overrides.push_back(std::move(o));
    }
  }
}

}  // namespace

bool device_matches(const std::string& p, const BlockDevice& d) {
  if (p.rfind("wwid:", 0) == 0) return !d.wwid.empty() && d.wwid == p.substr(5);
  std::string pat = p;
  if (pat.rfind("/dev/mapper/", 0) == 0)
    pat = pat.substr(12);
  else if (pat.rfind("/dev/", 0) == 0)
    pat = pat.substr(5);
  if (fnmatch(pat.c_str(), d.name.c_str(), 0) == 0) return true;
  return !d.dm_name.empty() && fnmatch(pat.c_str(), d.dm_name.c_str(), 0) == 0;
}

bool Config::matches(const BlockDevice& d) const {
  for (const auto& p : exclude)
    if (device_matches(p, d)) return false;
  if (include.empty())
    return !d.is_loop() && d.name.rfind("ram", 0) != 0 && d.name.rfind("zram", 0) != 0;
  for (const auto& p : include)
    if (device_matches(p, d)) return true;
  return false;
}

bool Config::selects(const BlockDevice& d) const {
  if (!matches(d)) return false;
  return include.empty() ? watchable_by_default(d, false) : d.size_bytes > 0;
}

DeviceSettings Config::settings_for(const BlockDevice& d) const {
  DeviceSettings s{thresholds, canary};
  for (const auto& o : overrides) {
    bool hit = false;
    for (const auto& p : o.match) hit |= device_matches(p, d);
    if (!hit) continue;
    auto& t = s.thresholds;
    t.slow_io = o.slow_io.value_or(t.slow_io);
    t.slow_window = o.slow_window.value_or(t.slow_window);
    t.stall = o.stall.value_or(t.stall);
    t.recovery = o.recovery.value_or(t.recovery);
    t.slow_share = o.slow_share.value_or(t.slow_share);
    t.slow_min_ios = o.slow_min_ios.value_or(t.slow_min_ios);
    t.fail_errors = o.fail_errors.value_or(t.fail_errors);
    t.canary_failures = o.canary_failures.value_or(t.canary_failures);
    s.canary.enabled = o.canary.value_or(s.canary.enabled);
    s.canary.period = o.canary_period.value_or(s.canary.period);
    s.canary.deadline = o.canary_deadline.value_or(s.canary.deadline);
    if (o.array_vendor) s.array_vendor = o.array_vendor;
    if (o.array_product) s.array_product = o.array_product;
    if (o.array_id) s.array_id = o.array_id;
  }
  return s;
}

bool Config::wants_canary(const BlockDevice& d, bool in_multipath) const {
  if (!settings_for(d).canary.enabled) return false;
  switch (canary_targets) {
    case CanaryTargets::kNone:
      return false;
    case CanaryTargets::kAll:
      return true;
    case CanaryTargets::kMultipath:
      return d.is_multipath() || in_multipath;
  }
  return false;
}

Result<Config> parse_config(std::string_view text, const std::string& source) {
  if (auto bad = toml_guard(text)) return Error{EINVAL, source + ":" + *bad};
  toml::table root;
  try {
    root = toml::parse(text, source);
  } catch (const toml::parse_error& e) {
    return Error{EINVAL, fmt::format("{}:{}:{}: {}", source, e.source().begin.line,
                                     e.source().begin.column, e.description())};
  }
  Config c;
  c.source = source;
  Errors errs(source);
  read_root(root, c, errs);
  if (errs.empty()) check_consistency(root, c, errs);
  if (!errs.empty()) return Error{EINVAL, errs.joined()};
  return c;
}

Result<Config> load_config(const std::string& path) {
  std::ifstream f(path);
  if (!f) return errno_error("cannot read config " + path);
  std::stringstream ss;
  ss << f.rdbuf();
  return parse_config(ss.str(), path);
}

std::string_view embedded_default_config() { return kEmbeddedDefaultConfig; }

std::string render_config(const Config& c) {
  auto q = [](const std::string& s) {  // a TOML string literal, escaped
    std::ostringstream os;
    os << toml::value<std::string>(s);
    return os.str();
  };
  auto list = [&](const std::vector<std::string>& v) {
    std::string out = "[";
    for (std::size_t i = 0; i < v.size(); ++i) out += (i ? ", " : "") + q(v[i]);
    return out + "]";
  };
  auto d = [](Duration x) { return fmt::format("\"{}\"", format_duration(x)); };
  const auto& t = c.thresholds;
  const char* targets = c.canary_targets == CanaryTargets::kAll    ? "all"
                        : c.canary_targets == CanaryTargets::kNone ? "none"
                                                                   : "multipath";
  std::string out = fmt::format("# effective configuration from {}\nlog_level = \"{}\"\n\n",
                                c.source, c.log_level);
  out += fmt::format("[devices]\ninclude = {}\nexclude = {}\nrescan = {}\n\n", list(c.include),
                     list(c.exclude), d(c.rescan));
  out += fmt::format(
      "[thresholds]\nslow_io = {}\nslow_share = {}\nslow_min_ios = {}\nslow_window = {}\n"
      "stall = {}\nfail_errors = {}\ncanary_failures = {}\nrecovery = {}\nflap_count = {}\n"
      "flap_window = {}\n\n",
      d(t.slow_io), t.slow_share, t.slow_min_ios, d(t.slow_window), d(t.stall), t.fail_errors,
      t.canary_failures, d(t.recovery), t.flap_count, d(t.flap_window));
  out += fmt::format(
      "[canary]\nenabled = {}\ntargets = \"{}\"\nperiod = {}\ndeadline = {}\nsize = {}\n"
      "region_offset = {}\nregion_length = {}\n\n",
      c.canary.enabled, targets, d(c.canary.period), d(c.canary.deadline), c.canary.size,
      c.canary.region_offset, c.canary.region_length);
  out += fmt::format(
      "[metrics]\nlisten = {}\npath_histograms = {}\ndevice_histograms = {}\nrefresh = {}\n"
      "max_connections = {}\nmax_connections_per_ip = {}\nread_timeout = {}\n"
      "max_request_bytes = {}\nweb_config = {}\n\n",
      q(c.metrics.listen), c.metrics.path_histograms, c.metrics.device_histograms,
      d(c.metrics.refresh), c.metrics.max_connections, c.metrics.max_connections_per_ip,
      d(c.metrics.read_timeout), c.metrics.max_request_bytes, q(c.metrics.web_config));
  std::vector<std::string> slos;
  for (Duration x : c.ledger.latency_slos) slos.push_back(format_duration(x));
  out += fmt::format(
      "[ledger]\nenabled = {}\npath = {}\nretention = {}\nminute_rollups = {}\n"
      "latency_slos = {}\nqueue = {}\n\n",
      c.ledger.enabled, q(c.ledger.path), d(c.ledger.retention), d(c.ledger.minute_rollups),
      list(slos), c.ledger.queue);
  const auto& b = c.baseline;
  out += fmt::format(
      "[baseline]\nenabled = {}\nfactor = {}\nmin_ios = {}\nwindow = {}\nlearn = {}\nhold = {}\n"
      "period = {}\n\n",
      b.enabled, b.factor, b.min_ios, d(b.window), d(b.learn), d(b.hold), d(b.period));
  out += fmt::format("[tracing]\nring_buffer_bytes = {}\n\n", c.tracing.ring_buffer_bytes);
  const auto& a = c.alerts;
  out += fmt::format(
      "[alerts]\nalertmanager_urls = {}\nresend = {}\ntimeout = {}\nhealth_check = {}\nqueue = {}\n"
      "instance = {}\nexec = {}\nexec_timeout = {}\nexec_max_concurrent = {}\n",
      list(a.alertmanager_urls), d(a.resend), d(a.timeout), d(a.health_check), a.queue,
      q(a.instance), list(a.exec_command), d(a.exec_timeout), a.exec_max_concurrent);
  if (!a.labels.empty()) {
    out += "[alerts.labels]\n";
    for (const auto& [k, v] : a.labels) out += fmt::format("{} = {}\n", k, q(v));
  }
  for (const auto& o : c.overrides) {
    out += fmt::format("\n[[override]]  # {}\nmatch = {}\n", o.where, list(o.match));
    auto opt_d = [&](const char* k, const std::optional<Duration>& v) {
      if (v) out += fmt::format("{} = {}\n", k, d(*v));
    };
    opt_d("slow_io", o.slow_io);
    opt_d("slow_window", o.slow_window);
    opt_d("stall", o.stall);
    opt_d("recovery", o.recovery);
    opt_d("canary_period", o.canary_period);
    opt_d("canary_deadline", o.canary_deadline);
    if (o.slow_share) out += fmt::format("slow_share = {}\n", *o.slow_share);
    if (o.slow_min_ios) out += fmt::format("slow_min_ios = {}\n", *o.slow_min_ios);
    if (o.fail_errors) out += fmt::format("fail_errors = {}\n", *o.fail_errors);
    if (o.canary_failures) out += fmt::format("canary_failures = {}\n", *o.canary_failures);
    if (o.canary) out += fmt::format("canary = {}\n", *o.canary);
    for (auto [k, v] :
         {std::pair{"array_vendor", &o.array_vendor}, std::pair{"array_product", &o.array_product},
          std::pair{"array_id", &o.array_id}})
      if (*v) out += fmt::format("{} = {}\n", k, q(**v));
  }
  return out;
}

}  // namespace sanwatch
