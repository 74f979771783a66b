// SPDX-License-Identifier: Apache-2.0
// A client of the Prometheus HTTP API (Prometheus, Thanos, Mimir,
// VictoriaMetrics) for `sanwatch report --prometheus`, with the options
// Prometheus clients usually have: basic auth, a bearer token file, a CA
// file, skipping TLS verification, a timeout. Credentials are never
// printed: messages and the report name the URL without its user info.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "base/result.h"

namespace sanwatch {

struct PromClientOptions {
  std::string url;                // http(s)://host:port[/prefix], user info allowed
  std::string basic_auth;         // USER:PASS (visible to ps: prefer the file)
  std::string basic_auth_file;    // one line USER:PASS
  std::string bearer_token_file;  // the token, one line
  std::string ca_file;            // PEM bundle to verify the server with
  bool insecure_skip_verify = false;
  std::string timeout = "2m";  // per request
};

class PromClient {
 public:
  // Checks the URL and options, reads the credential files.
  static Result<PromClient> make(const PromClientOptions& o);
  ~PromClient();
  PromClient(PromClient&&) noexcept;
  PromClient& operator=(PromClient&&) noexcept;

  // GET base + path with the parameters URL-encoded: the body of a 200
  // answer. For an error status, the API's own error message when the body
  // has one (Prometheus answers 400/422/503 with JSON), else the status.
  Result<std::string> get(const std::string& path,
                          const std::vector<std::pair<std::string, std::string>>& params);
  // The URL without user info, for the report and messages.
  const std::string& shown_url() const;

  struct Impl;  // libcurl's handle and the options

 private:
  explicit PromClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// http(s)://user:pass@host/x -> http(s)://host/x (trailing slashes dropped).
std::string url_without_credentials(const std::string& url);

}  // namespace sanwatch
