// SPDX-License-Identifier: Apache-2.0
#include "cli/agent_states.h"

#include <curl/curl.h>

#include <memory>
#include <sstream>

namespace sanwatch {
namespace {

// Value of label `key` in a `{a="x",b="y"}` label set (no escapes in our labels).
std::string label(std::string_view labels, std::string_view key) {
  const std::string needle = std::string(key) + "=\"";
  auto p = labels.find(needle);
  if (p == std::string_view::npos) return {};
  p += needle.size();
  auto e = labels.find('"', p);
  return e == std::string_view::npos ? std::string() : std::string(labels.substr(p, e - p));
}

std::size_t on_body(char* data, std::size_t size, std::size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

}  // namespace

std::map<std::string, AgentState> parse_agent_states(std::string_view text) {
  std::map<std::string, AgentState> out;
  std::istringstream in{std::string(text)};
  for (std::string line; std::getline(in, line);) {
    const bool state = line.rfind("sanwatch_state{", 0) == 0;
    const bool since = line.rfind("sanwatch_state_changed_timestamp_seconds{", 0) == 0;
    if (!state && !since) continue;
    const auto close = line.find('}');
    if (close == std::string::npos) continue;
    const std::string_view labels(line.data(), close);
    double v = 0;
    try {
      v = std::stod(line.substr(close + 1));
    } catch (...) {
      continue;
    }
    AgentState& s = out[label(labels, "target")];
    if (state && v == 1) s.state = label(labels, "state");
    if (since) s.since = v;
  }
  return out;
}

Result<std::string> http_get(const std::string& url, long timeout_ms) {
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> h(curl_easy_init(), curl_easy_cleanup);
  if (!h) return Error{ENOMEM, "curl_easy_init"};
  std::string body;
  curl_easy_setopt(h.get(), CURLOPT_URL, url.c_str());
  curl_easy_setopt(h.get(), CURLOPT_TIMEOUT_MS, timeout_ms);
  curl_easy_setopt(h.get(), CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h.get(), CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(h.get(), CURLOPT_WRITEDATA, &body);
  const CURLcode rc = curl_easy_perform(h.get());
  if (rc != CURLE_OK) return Error{ECONNREFUSED, url + ": " + curl_easy_strerror(rc)};
  long code = 0;
  curl_easy_getinfo(h.get(), CURLINFO_RESPONSE_CODE, &code);
  if (code != 200) return Error{EPROTO, url + ": HTTP " + std::to_string(code)};
  return body;
}

}  // namespace sanwatch
