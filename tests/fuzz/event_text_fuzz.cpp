// SPDX-License-Identifier: Apache-2.0
// Strings from outside that end up in the agent's own output: identity
// fields from sysfs (dm names, INQUIRY strings, WWIDs, serials), a state
// change's reason, and an Alertmanager error response body (logged with the
// failure). Every output must stay what its reader expects: one JSON object
// per stderr line, an Alertmanager body that is valid JSON (which must be
// UTF-8), journal fields of the form KEY=value.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>

#include "base/utf8.h"
#include "detect/event_log.h"
#include "exporters/alert_model.h"
#include "exporters/journal_sink.h"
#include "fuzz_util.h"

namespace {

// The log lines written to a memory stream; each must parse as JSON.
void check_lines(const std::string& text) {
  std::size_t start = 0;
  while (start < text.size()) {
    const auto nl = text.find('\n', start);
    FUZZ_CHECK(nl != std::string::npos, text);  // every line ends
    const std::string line = text.substr(start, nl - start);
    FUZZ_CHECK(nlohmann::json::accept(line), line);
    start = nl + 1;
  }
}

sanwatch::TargetIdentity identity(FuzzedDataProvider& in) {
  static const char* kTypes[] = {"device", "path", "map", "port"};
  sanwatch::TargetIdentity id;
  id.label = in.ConsumeRandomLengthString(64);
  id.type = kTypes[in.ConsumeIntegralInRange(0, 3)];
  id.device = "8:16";
  for (std::string* f : {&id.kernel_name, &id.dm_name, &id.wwid, &id.map, &id.array,
                         &id.target_port, &id.serial, &id.array_id})
    *f = in.ConsumeRandomLengthString(48);
  return id;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider in(data, size);
  char* buf = nullptr;
  std::size_t len = 0;
  std::FILE* mem = open_memstream(&buf, &len);
  std::vector<std::string> journal;
  std::string am_body;
  {
    sanwatch::EventLog log(mem);
    sanwatch::AlertContext ctx{"db01", {{"team", in.ConsumeRandomLengthString(16)}}};
    log.subscribe([&](const sanwatch::StateChange& c) {
      am_body = sanwatch::alerts_body(sanwatch::transition_alerts(c, ctx))
                    .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
      journal = sanwatch::journal_fields(c);
    });
    sanwatch::Transition t;
    t.from = static_cast<sanwatch::Health>(in.ConsumeIntegralInRange(0, sanwatch::kNrHealth - 1));
    t.to = static_cast<sanwatch::Health>(in.ConsumeIntegralInRange(0, sanwatch::kNrHealth - 1));
    t.reason = in.ConsumeRandomLengthString(128);
    (void)log.state(identity(in), t);
    // An Alertmanager error response as the sink logs it: "HTTP 500: <body>".
    log.error(
        "alertmanager rejected alerts",
        {{"url", "http://am:9093"}, {"error", "HTTP 500: " + in.ConsumeRemainingBytesAsString()}});
  }
  std::fclose(mem);
  const std::string out(buf, len);
  std::free(buf);
  check_lines(out);
  FUZZ_CHECK(sanwatch::valid_utf8(am_body) && nlohmann::json::accept(am_body), am_body);
  for (const std::string& f : journal) FUZZ_CHECK(f.find('=') != std::string::npos, f);
  return 0;
}
