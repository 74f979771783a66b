// SPDX-License-Identifier: Apache-2.0
#include "cli/agent_states.h"

#include <curl/curl.h>

#include <memory>
#include <sstream>

namespace sanwatch {
namespace {

// The closing brace of the label set opened at `open`: the first '}' outside
// a quoted value.
std::size_t closing_brace(std::string_view line, std::size_t open) {
  bool quoted = false;
  for (std::size_t i = open + 1; i < line.size(); ++i) {
    if (quoted && line[i] == '\\') {
      ++i;
    } else if (line[i] == '"') {
      quoted = !quoted;
    } else if (!quoted && line[i] == '}') {
      return i;
    }
  }
  return std::string_view::npos;
}

// Value of label `key` in an `a="x",b="y"` label set, unescaped (\\, \", \n:
// a dm map name may hold quotes). Labels are matched at their start, so
// `key` inside another label's value is not taken for it.
std::string label(std::string_view labels, std::string_view key) {
  std::size_t p = 0;
  while (p < labels.size()) {
    const auto eq = labels.find("=\"", p);
    if (eq == std::string_view::npos) return {};
    const bool match = labels.substr(p, eq - p) == key;
    std::string value;
    std::size_t i = eq + 2;
    for (; i < labels.size() && labels[i] != '"'; ++i) {
      if (labels[i] == '\\' && i + 1 < labels.size()) {
        ++i;
        value.push_back(labels[i] == 'n' ? '\n' : labels[i]);
      } else {
        value.push_back(labels[i]);
      }
    }
    if (match) return value;
    p = i + 1;
    if (p < labels.size() && labels[p] == ',') ++p;
  }
  return {};
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
    const auto open = line.find('{');
    const auto close = closing_brace(line, open);
    if (close == std::string::npos) continue;
    const std::string_view labels = std::string_view(line).substr(open + 1, close - open - 1);
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
