// SPDX-License-Identifier: Apache-2.0
// `sanwatch report merge`: per-host JSON reports from other machines. The
// input is two reports separated by a NUL byte (or one, merged with a
// fixture report); each is parsed, merged and rendered in every format.
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <string_view>

#include "fuzz_util.h"
#include "report/format.h"
#include "report/merge.h"

namespace {

const nlohmann::json& sample() {
  static const nlohmann::json j = [] {
    std::ifstream f(SANWATCH_SAMPLE_REPORT);
    return nlohmann::json::parse(f);
  }();
  return j;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto nul = text.find('\0');
  std::vector<sanwatch::NamedReport> in;
  try {
    in.push_back({"a.json", nlohmann::json::parse(text.substr(0, nul))});
    in.push_back({"b.json", nul == std::string_view::npos
                                ? sample()
                                : nlohmann::json::parse(text.substr(nul + 1))});
  } catch (const nlohmann::json::exception&) {
    return 0;  // read_report(): "not JSON"
  }
  // report_cmd.cpp turns a json::exception here into "a report is shaped
  // unlike sanwatch.report/v1" (exit 2); anything else escaping is a bug.
  try {
    auto merged = sanwatch::merge_reports(in, 1796083200000);
    if (!merged) return 0;
    for (const char* format : {"text", "md", "json", "csv", "html"})
      (void)sanwatch::render_report(*merged, format, false);
  } catch (const nlohmann::json::exception&) {
  }
  return 0;
}
