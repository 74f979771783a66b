// SPDX-License-Identifier: Apache-2.0
// Reading one sample out of a Prometheus exposition-format body, as the
// tests that scrape the agent's /metrics do.
#pragma once

#include <string>

namespace sanwatch::test {

// The value of one series ("name" or "name{labels}", exactly as rendered) in
// an exposition-format body; -1 when absent.
inline double metric_sample(const std::string& body, const std::string& series) {
  const auto p = body.find("\n" + series + " ");
  return p == std::string::npos ? -1 : std::stod(body.substr(p + series.size() + 2));
}

}  // namespace sanwatch::test
