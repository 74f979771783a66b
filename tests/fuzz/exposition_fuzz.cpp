// SPDX-License-Identifier: Apache-2.0
// Label values and HELP text from outside (dm map names, INQUIRY strings,
// WWIDs) through the exposition writer, then back through the parser
// `sanwatch paths` reads the agent's /metrics with: the text stays valid
// UTF-8 (Prometheus refuses a whole scrape otherwise) and a value read
// back is the value written.
#include <fuzzer/FuzzedDataProvider.h>

#include <string>

#include "base/utf8.h"
#include "cli/agent_states.h"
#include "exporters/exposition.h"
#include "fuzz_util.h"

namespace {

prometheus::MetricFamily gauge(std::string name, std::string help,
                               std::vector<prometheus::ClientMetric::Label> labels, double v) {
  prometheus::MetricFamily f{std::move(name), std::move(help), prometheus::MetricType::Gauge, {}};
  prometheus::ClientMetric m;
  m.label = std::move(labels);
  m.gauge.value = v;
  f.metric.push_back(std::move(m));
  return f;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider in(data, size);
  const std::string target = in.ConsumeRandomLengthString(256);
  const std::string state = in.ConsumeRandomLengthString(64);
  const std::string help = in.ConsumeRandomLengthString(256);
  const double since = in.ConsumeFloatingPoint<double>();
  std::vector<prometheus::MetricFamily> families;
  families.push_back(gauge("sanwatch_state", help, {{"target", target}, {"state", state}}, 1));
  families.push_back(
      gauge("sanwatch_state_changed_timestamp_seconds", help, {{"target", target}}, since));
  std::string out;
  sanwatch::write_text_exposition(families, out);
  FUZZ_CHECK(sanwatch::valid_utf8(out), out);
  const auto states = sanwatch::parse_agent_states(out);
  if (sanwatch::valid_utf8(target) && sanwatch::valid_utf8(state)) {
    const auto it = states.find(target);
    FUZZ_CHECK(it != states.end(), out);
    FUZZ_CHECK(it->second.state == state, out);
  }
  return 0;
}
