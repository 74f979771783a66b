// SPDX-License-Identifier: Apache-2.0
#include "exporters/web_config.h"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <tuple>

namespace sanwatch {
namespace {

// yaml-cpp's parser recurses once per nesting level of flow collections
// ("[[[[..."): deep input would overflow the stack before any check of
// ours runs. A web.yml nests three levels; the scan over-counts brackets
// inside quoted strings, which only matters past the limit.
constexpr int kMaxNesting = 32;
constexpr std::size_t kMaxBytes = 1 << 20;

bool too_deep(std::string_view text) {
  int depth = 0;
  for (char ch : text) {
    if (ch == '[' || ch == '{') depth++;
    if (ch == ']' || ch == '}') depth = std::max(0, depth - 1);
    if (depth > kMaxNesting) return true;
  }
  return false;
}

class Errors {
 public:
  explicit Errors(std::string source) : source_(std::move(source)) {}
  std::string at(const YAML::Mark& m, std::string_view msg) const {
    if (m.is_null()) return fmt::format("{}: {}", source_, msg);
    return fmt::format("{}:{}:{}: {}", source_, m.line + 1, m.column + 1, msg);
  }
  void add(const YAML::Mark& m, std::string_view msg) { lines_.push_back(at(m, msg)); }
  bool empty() const { return lines_.empty(); }
  std::string joined() const {
    std::string s;
    for (const auto& l : lines_) s += (s.empty() ? "" : "\n") + l;
    return s;
  }

 private:
  std::string source_;
  std::vector<std::string> lines_;
};

// One mapping: duplicate and unknown keys are errors (yaml-cpp keeps the
// first of two equal keys without a word; exporter-toolkit's decoder
// refuses both), every value is looked up once by name.
class MapReader {
 public:
  MapReader(const YAML::Node& map, std::string path, Errors& errs) : path_(std::move(path)) {
    // By value: yaml-cpp's iterator hands out a temporary proxy, and a
    // reference into `it->first` dangles by the next statement (ASan in
    // the fuzz target found it).
    for (auto it = map.begin(); it != map.end(); ++it) {
      const YAML::Node k = it->first;
      const YAML::Node v = it->second;
      if (!k.IsScalar()) {
        errs.add(k.Mark(), fmt::format("{}: keys must be strings", path_));
        continue;
      }
      if (std::any_of(entries_.begin(), entries_.end(),
                      [&](const Entry& e) { return e.key == k.Scalar(); }))
        errs.add(k.Mark(), fmt::format("{}: duplicate key", name(k.Scalar())));
      else
        entries_.push_back({k.Scalar(), k, v, false});
    }
  }

  // The value of `key`, or an undefined node when absent.
  const YAML::Node* get(std::string_view key) {
    for (auto& e : entries_)
      if (e.key == key) {
        e.seen = true;
        return &e.value;
      }
    return nullptr;
  }

  void report_unknown(Errors& errs, std::string_view hint = "") const {
    for (const auto& e : entries_)
      if (!e.seen) errs.add(e.key_node.Mark(), fmt::format("{}: unknown key{}", name(e.key), hint));
  }

  std::string name(std::string_view key) const {
    return path_.empty() ? std::string(key) : fmt::format("{}.{}", path_, key);
  }
  // Every key, in file order (basic_auth_users, headers).
  template <typename Fn>
  void each(Fn fn) {
    for (auto& e : entries_) {
      e.seen = true;
      fn(e.key, e.key_node, e.value);
    }
  }

 private:
  struct Entry {
    std::string key;
    YAML::Node key_node, value;
    bool seen;
  };
  std::string path_;
  std::vector<Entry> entries_;
};

// A scalar value as a string; nullopt (and an error) for anything else.
std::optional<std::string> scalar(const YAML::Node& n, const std::string& key, Errors& errs) {
  if (n.IsScalar()) return n.Scalar();
  errs.add(n.Mark(), fmt::format("{}: must be a string", key));
  return std::nullopt;
}

std::string resolve(const std::string& path, const std::string& source) {
  if (path.empty() || path[0] == '/') return path;
  const auto slash = source.rfind('/');
  return slash == std::string::npos ? path : source.substr(0, slash + 1) + path;
}

constexpr std::array<std::pair<std::string_view, ClientAuth>, 6> kClientAuth = {{
    {"NoClientCert", ClientAuth::kNoClientCert},
    {"RequestClientCert", ClientAuth::kRequestClientCert},
    {"RequireAnyClientCert", ClientAuth::kRequireAnyClientCert},
    {"RequireClientCert", ClientAuth::kRequireAnyClientCert},  // exporter-toolkit's old name
    {"VerifyClientCertIfGiven", ClientAuth::kVerifyClientCertIfGiven},
    {"RequireAndVerifyClientCert", ClientAuth::kRequireAndVerifyClientCert},
}};

constexpr std::array<std::pair<std::string_view, TlsVersion>, 4> kVersions = {{
    {"TLS10", TlsVersion::kTls10},
    {"TLS11", TlsVersion::kTls11},
    {"TLS12", TlsVersion::kTls12},
    {"TLS13", TlsVersion::kTls13},
}};

template <typename T, std::size_t N>
std::optional<T> lookup(const std::array<std::pair<std::string_view, T>, N>& table,
                        const YAML::Node* n, const std::string& key, Errors& errs) {
  auto s = scalar(*n, key, errs);
  if (!s) return std::nullopt;
  for (const auto& [name, v] : table)
    if (name == *s) return v;
  std::string names;
  for (const auto& [name, v] : table) names += (names.empty() ? "" : ", ") + std::string(name);
  errs.add(n->Mark(), fmt::format("{}: \"{}\" is not one of: {}", key, *s, names));
  return std::nullopt;
}

// Go TLS knobs with no GnuTLS counterpart here: accepted, not applied.
void warn_ignored(MapReader& r, std::vector<std::string>& warnings, const Errors& errs) {
  for (std::string_view key : {"cipher_suites", "curve_preferences", "prefer_server_cipher_suites"})
    if (const YAML::Node* n = r.get(key))
      warnings.push_back(
          errs.at(n->Mark(), fmt::format("warning: {} is ignored: GnuTLS's NORMAL priorities "
                                         "choose the cipher suites and curves",
                                         r.name(key))));
}

// What the keys cannot say one by one; reported at the section.
void check_tls(const TlsServerConfig& t, const YAML::Node* cert, const YAML::Node* key,
               const YAML::Mark& mark, Errors& errs) {
  // Absent or "" (a value of the wrong type has its own error already).
  const auto missing = [](const YAML::Node* n, const std::string& v) {
    return !n || (n->IsScalar() && v.empty());
  };
  if (missing(cert, t.cert_file)) errs.add(mark, "tls_server_config: cert_file is missing");
  if (missing(key, t.key_file)) errs.add(mark, "tls_server_config: key_file is missing");
  if (t.max_version && *t.max_version < t.min_version)
    errs.add(mark, "tls_server_config: max_version is older than min_version");
  const bool wants_ca = t.client_auth == ClientAuth::kRequireAnyClientCert ||
                        t.client_auth == ClientAuth::kVerifyClientCertIfGiven ||
                        t.client_auth == ClientAuth::kRequireAndVerifyClientCert;
  if (t.client_auth == ClientAuth::kNoClientCert && !t.client_ca_file.empty())
    errs.add(mark,
             "tls_server_config: client_ca_file without a client_auth_type (exporter-toolkit "
             "refuses this too)");
  // GnuTLS (through libmicrohttpd) asks for a client certificate only when
  // it has a list of CAs to name in the request.
  if (wants_ca && t.client_ca_file.empty())
    errs.add(mark, fmt::format("tls_server_config: client_auth_type {} needs client_ca_file",
                               client_auth_name(t.client_auth)));
}

std::optional<TlsServerConfig> read_tls(const YAML::Node& node, WebConfig& w, Errors& errs) {
  if (node.IsNull()) return std::nullopt;
  if (!node.IsMap()) {
    errs.add(node.Mark(), "tls_server_config: must be a mapping");
    return std::nullopt;
  }
  MapReader r(node, "tls_server_config", errs);
  TlsServerConfig t;
  bool any = false;
  const YAML::Node* cert = r.get("cert_file");
  const YAML::Node* key = r.get("key_file");
  const YAML::Node* ca = r.get("client_ca_file");
  const YAML::Node* auth = r.get("client_auth_type");
  for (auto [k, n, out] :
       {std::tuple{"cert_file", cert, &t.cert_file}, std::tuple{"key_file", key, &t.key_file},
        std::tuple{"client_ca_file", ca, &t.client_ca_file}})
    if (n) {
      any = true;
      if (auto s = scalar(*n, r.name(k), errs)) *out = resolve(*s, w.source);
    }
  if (auth) {
    any = true;
    if (auto a = lookup(kClientAuth, auth, r.name("client_auth_type"), errs)) t.client_auth = *a;
  }
  if (const YAML::Node* n = r.get("min_version"))
    if (auto v = lookup(kVersions, n, r.name("min_version"), errs)) t.min_version = *v;
  if (const YAML::Node* n = r.get("max_version"))
    if (auto v = lookup(kVersions, n, r.name("max_version"), errs)) t.max_version = *v;
  warn_ignored(r, w.warnings, errs);
  for (std::string_view k : {"cert", "key", "client_ca", "client_allowed_sans"})
    if (const YAML::Node* n = r.get(k))
      errs.add(n->Mark(), fmt::format("{}: not supported by sanwatch ({})", r.name(k),
                                      k == "client_allowed_sans"
                                          ? "ignoring it would let in every trusted client"
                                          : "name a file with the _file key"));
  r.report_unknown(errs);
  // Like exporter-toolkit: a section with none of these is no TLS at all.
  if (!any) return std::nullopt;
  check_tls(t, cert, key, node.Mark(), errs);
  return t;
}

// bcrypt: $2a$/$2b$/$2y$, a two-digit cost, 53 characters of salt and hash.
bool bcrypt_shaped(std::string_view h) {
  if (h.size() != 60 || h[0] != '$' || h[1] != '2' || h[3] != '$' || h[6] != '$') return false;
  if (h[2] != 'a' && h[2] != 'b' && h[2] != 'y') return false;
  const int cost = (h[4] - '0') * 10 + (h[5] - '0');
  if (!std::isdigit(static_cast<unsigned char>(h[4])) ||
      !std::isdigit(static_cast<unsigned char>(h[5])) || cost < 4 || cost > 31)
    return false;
  return std::all_of(h.begin() + 7, h.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '/';
  });
}

void read_users(const YAML::Node& node, WebConfig& w, Errors& errs) {
  if (node.IsNull()) return;
  if (!node.IsMap()) return errs.add(node.Mark(), "basic_auth_users: must be a mapping");
  MapReader r(node, "basic_auth_users", errs);
  r.each([&](const std::string& user, const YAML::Node& k, const YAML::Node& v) {
    if (user.empty() || user.find(':') != std::string::npos)
      return errs.add(k.Mark(), fmt::format("basic_auth_users: user \"{}\" must be non-empty "
                                            "and without ':'",
                                            user));
    auto hash = scalar(v, r.name(user), errs);
    if (!hash) return;
    if (!bcrypt_shaped(*hash))
      return errs.add(v.Mark(), fmt::format("{}: not a bcrypt hash ($2y$, $2b$ or $2a$, 60 "
                                            "characters; htpasswd -nBC 10 {} makes one)",
                                            r.name(user), user));
    w.basic_auth_users.emplace_back(user, *hash);
  });
}

// exporter-toolkit's list: the security headers a scraper's browser view
// could need. Anything else is refused there too.
constexpr std::array<std::string_view, 5> kHeaders = {
    "Strict-Transport-Security", "X-Content-Type-Options", "X-Frame-Options", "X-XSS-Protection",
    "Content-Security-Policy"};

void read_http(const YAML::Node& node, WebConfig& w, Errors& errs) {
  if (node.IsNull()) return;
  if (!node.IsMap()) return errs.add(node.Mark(), "http_server_config: must be a mapping");
  MapReader r(node, "http_server_config", errs);
  if (const YAML::Node* n = r.get("http2")) {
    auto s = scalar(*n, r.name("http2"), errs);
    if (s && *s != "true" && *s != "false")
      errs.add(n->Mark(), "http_server_config.http2: must be true or false");
    else if (s && *s == "true")
      w.warnings.push_back(errs.at(n->Mark(),
                                   "warning: http_server_config.http2 is ignored: the server "
                                   "speaks HTTP/1.1 (all Prometheus needs)"));
  }
  if (const YAML::Node* n = r.get("headers"); n && !n->IsNull()) {
    if (!n->IsMap()) return errs.add(n->Mark(), "http_server_config.headers: must be a mapping");
    MapReader h(*n, "http_server_config.headers", errs);
    h.each([&](const std::string& name, const YAML::Node& k, const YAML::Node& v) {
      if (std::find(kHeaders.begin(), kHeaders.end(), name) == kHeaders.end())
        return errs.add(k.Mark(), fmt::format("http_server_config.headers: {} is not one of "
                                              "the headers exporter-toolkit allows",
                                              name));
      auto value = scalar(v, h.name(name), errs);
      if (!value) return;
      if (std::any_of(value->begin(), value->end(),
                      [](unsigned char c) { return c < 0x20 || c == 0x7f; }))
        return errs.add(v.Mark(), fmt::format("{}: control characters", h.name(name)));
      w.headers.emplace_back(name, *value);
    });
  }
  r.report_unknown(errs);
}

}  // namespace

Result<WebConfig> parse_web_config(std::string_view text, const std::string& source) {
  if (text.size() > kMaxBytes) return Error{EINVAL, source + ": larger than 1 MiB"};
  if (too_deep(text))
    return Error{EINVAL, fmt::format("{}: nested deeper than {} levels", source, kMaxNesting)};
  WebConfig w;
  w.source = source;
  Errors errs(source);
  try {
    const YAML::Node root = YAML::Load(std::string(text));
    if (root.IsNull()) return w;  // an empty file: plain HTTP, no auth (as exporter-toolkit)
    if (!root.IsMap()) return Error{EINVAL, errs.at(root.Mark(), "must be a mapping of keys")};
    MapReader r(root, "", errs);
    if (const YAML::Node* n = r.get("tls_server_config")) w.tls = read_tls(*n, w, errs);
    if (const YAML::Node* n = r.get("basic_auth_users")) read_users(*n, w, errs);
    if (const YAML::Node* n = r.get("http_server_config")) read_http(*n, w, errs);
    r.report_unknown(errs, " (tls_server_config, http_server_config, basic_auth_users)");
  } catch (const YAML::Exception& e) {
    return Error{EINVAL, errs.at(e.mark, e.msg)};
  }
  if (!errs.empty()) return Error{EINVAL, errs.joined()};
  return w;
}

std::string_view client_auth_name(ClientAuth a) {
  for (const auto& [name, v] : kClientAuth)
    if (v == a) return name;
  return "?";
}

std::string_view tls_version_name(TlsVersion v) {
  for (const auto& [name, x] : kVersions)
    if (x == v) return name;
  return "?";
}

std::string gnutls_priorities(const TlsServerConfig& t) {
  static constexpr std::array<std::string_view, 4> kGnutls = {"TLS1.0", "TLS1.1", "TLS1.2",
                                                              "TLS1.3"};
  const auto lo = static_cast<std::size_t>(t.min_version);
  const auto hi = static_cast<std::size_t>(t.max_version.value_or(TlsVersion::kTls13));
  std::string p = "NORMAL:-VERS-ALL";
  for (std::size_t i = hi + 1; i-- > lo;) p += fmt::format(":+VERS-{}", kGnutls[i]);
  return p;
}

}  // namespace sanwatch
