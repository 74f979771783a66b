// SPDX-License-Identifier: Apache-2.0
#include "cli/prom_client.h"

#include <curl/curl.h>
#include <fmt/format.h>

#include <fstream>
#include <sstream>

#include "base/duration.h"
#include "report/prom_response.h"

namespace sanwatch {

struct PromClient::Impl {
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> h{curl_easy_init(), curl_easy_cleanup};
  std::unique_ptr<curl_slist, decltype(&curl_slist_free_all)> headers{nullptr, curl_slist_free_all};
  std::string base, shown, user, password, ca_file;
  bool insecure = false;
  long timeout_ms = 120'000;
};

namespace {

std::size_t on_body(char* data, std::size_t size, std::size_t n, void* out) {
  auto* body = static_cast<std::string*>(out);
  if (body->size() + size * n > kMaxPromBody) return 0;  // aborts the transfer
  body->append(data, size * n);
  return size * n;
}

// The first line of a file, without trailing white space.
Result<std::string> first_line(const std::string& path, const char* option) {
  std::ifstream f(path);
  if (!f) return errno_error(fmt::format("{} {}: cannot read", option, path));
  std::string line;
  std::getline(f, line);
  while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t'))
    line.pop_back();
  if (line.empty()) return Error{0, fmt::format("{} {}: empty", option, path)};
  return line;
}

Status set_credentials(PromClient::Impl& c, const PromClientOptions& o) {
  const int ways =
      !o.basic_auth.empty() + !o.basic_auth_file.empty() + !o.bearer_token_file.empty();
  if (ways > 1)
    return Error{0, "give one of --basic-auth, --basic-auth-file and --bearer-token-file"};
  std::string pair = o.basic_auth;
  if (!o.basic_auth_file.empty()) {
    auto line = first_line(o.basic_auth_file, "--basic-auth-file");
    if (!line) return line.error();
    pair = *line;
  }
  if (!pair.empty()) {
    const auto colon = pair.find(':');
    if (colon == std::string::npos || colon == 0)
      return Error{0, "basic auth: give USER:PASSWORD"};  // the value is not repeated
    c.user = pair.substr(0, colon);
    c.password = pair.substr(colon + 1);
  }
  if (!o.bearer_token_file.empty()) {
    auto token = first_line(o.bearer_token_file, "--bearer-token-file");
    if (!token) return token.error();
    c.headers.reset(curl_slist_append(nullptr, ("Authorization: Bearer " + *token).c_str()));
  }
  return {};
}

// The API's error message when the body is one, else the HTTP status.
std::string status_error(long code, const std::string& body, const std::string& url) {
  auto answer = parse_prom_answer(body);
  if (!answer && answer.error().context.rfind("not a Prometheus API answer", 0) != 0)
    return fmt::format("HTTP {} from {}: {}", code, url, answer.error().context);
  return fmt::format("HTTP {} from {}{}", code, url,
                     code == 401 || code == 403 ? " (check the credentials options)" : "");
}

}  // namespace

std::string url_without_credentials(const std::string& url) {
  std::string out = url;
  const auto scheme = out.find("://");
  if (scheme != std::string::npos) {
    const auto host = scheme + 3;
    const auto end = out.find_first_of("/?#", host);
    const auto at = out.rfind('@', end == std::string::npos ? std::string::npos : end);
    if (at != std::string::npos && at >= host) out.erase(host, at + 1 - host);
  }
  while (!out.empty() && out.back() == '/') out.pop_back();
  return out;
}

Result<PromClient> PromClient::make(const PromClientOptions& o) {
  auto c = std::make_unique<Impl>();
  if (!c->h) return Error{ENOMEM, "curl_easy_init"};
  c->shown = url_without_credentials(o.url);
  if (c->shown.rfind("http://", 0) != 0 && c->shown.rfind("https://", 0) != 0)
    return Error{0, fmt::format("--prometheus {}: give an http:// or https:// URL", c->shown)};
  if (c->shown.find_first_of("?#") != std::string::npos)
    return Error{0, fmt::format("--prometheus {}: give the base URL, without a query", c->shown)};
  c->base = o.url;
  while (!c->base.empty() && c->base.back() == '/') c->base.pop_back();
  const auto timeout = parse_duration(o.timeout);
  if (!timeout || timeout->count() <= 0)
    return Error{0, fmt::format("--timeout {}: use a duration, e.g. 2m", o.timeout)};
  c->timeout_ms = static_cast<long>(std::max<std::int64_t>(1, timeout->count() / 1'000'000));
  if (auto st = set_credentials(*c, o); !st) return st.error();
  c->ca_file = o.ca_file;
  c->insecure = o.insecure_skip_verify;
  return PromClient(std::move(c));
}

PromClient::PromClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
PromClient::~PromClient() = default;
PromClient::PromClient(PromClient&&) noexcept = default;
PromClient& PromClient::operator=(PromClient&&) noexcept = default;

const std::string& PromClient::shown_url() const { return impl_->shown; }

Result<std::string> PromClient::get(
    const std::string& path, const std::vector<std::pair<std::string, std::string>>& params) {
  Impl& c = *impl_;
  CURL* h = c.h.get();
  std::string url = c.base + path, shown = c.shown + path;
  for (std::size_t i = 0; i < params.size(); ++i) {
    char* k = curl_easy_escape(h, params[i].first.data(), static_cast<int>(params[i].first.size()));
    char* v =
        curl_easy_escape(h, params[i].second.data(), static_cast<int>(params[i].second.size()));
    url += fmt::format("{}{}={}", i ? "&" : "?", k ? k : "", v ? v : "");
    curl_free(k);
    curl_free(v);
  }
  std::string body;
  curl_easy_reset(h);
  curl_easy_setopt(h, CURLOPT_URL, url.c_str());
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, c.timeout_ms);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");  // gzip: the answers are big and repetitive
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(h, CURLOPT_USERAGENT, "sanwatch-report");
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &body);
  if (!c.user.empty()) {
    curl_easy_setopt(h, CURLOPT_USERNAME, c.user.c_str());
    curl_easy_setopt(h, CURLOPT_PASSWORD, c.password.c_str());
  }
  if (c.headers) curl_easy_setopt(h, CURLOPT_HTTPHEADER, c.headers.get());
  if (!c.ca_file.empty()) curl_easy_setopt(h, CURLOPT_CAINFO, c.ca_file.c_str());
  if (c.insecure) {
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
  }
  const CURLcode rc = curl_easy_perform(h);
  if (rc == CURLE_WRITE_ERROR)
    return Error{0, fmt::format("{}: the answer is larger than {} bytes: ask for less (a shorter "
                                "period, a larger --step, a narrower --selector)",
                                shown, kMaxPromBody)};
  if (rc != CURLE_OK) return Error{0, fmt::format("{}: {}", shown, curl_easy_strerror(rc))};
  long code = 0;
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
  if (code != 200) return Error{0, status_error(code, body, shown)};
  return body;
}

}  // namespace sanwatch
