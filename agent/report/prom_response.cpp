// SPDX-License-Identifier: Apache-2.0
#include "report/prom_response.h"

#include <fmt/format.h>

#include <cmath>
#include <cstdlib>
#include <nlohmann/json.hpp>

namespace sanwatch {
namespace {

using nlohmann::json;

// Deeper nesting than any API answer has is refused before it costs memory.
constexpr int kMaxDepth = 32;
// Seconds beyond any plausible sample time (year 5138): refused rather
// than overflowing the ms.
constexpr double kMaxAbsSeconds = 1e11;

Error malformed(std::string_view what) {
  return Error{0, fmt::format("not a Prometheus API answer: {}", what)};
}

// The answer's text, shortened for a message (it is the server's words).
std::string server_text(const json& j) {
  std::string s =
      j.is_string() ? j.get<std::string>() : j.dump(-1, ' ', false, json::error_handler_t::replace);
  if (s.size() > 300) s = s.substr(0, 300) + "...";
  return "\"" + s + "\"";
}

Result<json> parse_json(std::string_view body) {
  if (body.size() > kMaxPromBody)
    return malformed(fmt::format("{} bytes, more than the {} accepted", body.size(), kMaxPromBody));
  bool too_deep = false;
  const json::parser_callback_t depth = [&](int d, json::parse_event_t, json&) {
    too_deep |= d > kMaxDepth;
    return !too_deep;
  };
  json j = json::parse(body.begin(), body.end(), depth, false);
  if (too_deep) return malformed("nested too deeply");
  if (j.is_discarded()) return malformed("not JSON");
  if (!j.is_object()) return malformed("not a JSON object");
  return j;
}

// status, warnings and partial-response flags; the "data" member when the
// answer may be used.
Result<json> usable_data(std::string_view body) {
  auto parsed = parse_json(body);
  if (!parsed) return parsed.error();
  json& j = *parsed;
  const auto status = j.find("status");
  if (status == j.end() || !status->is_string()) return malformed("no \"status\"");
  if (*status != "success")
    return Error{0,
                 fmt::format("Prometheus answered status {} ({}: {})", server_text(*status),
                             j.contains("errorType") ? server_text(j["errorType"]) : "no errorType",
                             j.contains("error") ? server_text(j["error"]) : "no error message")};
  if (const auto w = j.find("warnings"); w != j.end() && !w->is_null()) {
    if (!w->is_array()) return malformed("\"warnings\" is not a list");
    if (!w->empty())
      return Error{0, fmt::format("Prometheus answered with {} warning{} (partial or incomplete "
                                  "data, no number is computed from it): {}",
                                  w->size(), w->size() == 1 ? "" : "s", server_text((*w)[0]))};
  }
  if (const auto p = j.find("isPartial"); p != j.end() && !p->is_null()) {
    if (!p->is_boolean()) return malformed("\"isPartial\" is not a boolean");
    if (p->get<bool>())
      return Error{0,
                   "Prometheus answered isPartial: true (a partial response; no number is "
                   "computed from it)"};
  }
  const auto data = j.find("data");
  if (data == j.end()) return malformed("no \"data\"");
  return std::move(*data);
}

Result<PromLabels> labels_of(const json& j) {
  if (!j.is_object()) return malformed("a series' labels are not an object");
  PromLabels out;
  for (const auto& [k, v] : j.items()) {
    if (!v.is_string())
      return malformed(fmt::format("label {} is not a string", server_text(json(k))));
    out.emplace(k, v.get<std::string>());
  }
  return out;
}

Result<double> value_of(const json& v) {
  if (v.is_number()) return v.get<double>();
  if (!v.is_string()) return malformed("a sample value is neither a string nor a number");
  const std::string s = v.get<std::string>();
  char* end = nullptr;
  const double d = std::strtod(s.c_str(), &end);
  if (s.empty() || end != s.c_str() + s.size() || std::isspace(static_cast<unsigned char>(s[0])))
    return malformed(fmt::format("sample value {} is not a number", server_text(v)));
  return d;
}

// [ts, "value"]
Result<PromSample> sample_of(const json& j) {
  if (!j.is_array() || j.size() != 2 || !j[0].is_number())
    return malformed("a sample is not [time, value]");
  const double ts = j[0].get<double>();
  if (!std::isfinite(ts) || std::fabs(ts) > kMaxAbsSeconds)
    return malformed("a sample time is out of range");
  auto v = value_of(j[1]);
  if (!v) return v.error();
  return PromSample{std::llround(ts * 1000.0), *v};
}

Result<PromSeries> series_of(const json& j, bool matrix) {
  if (!j.is_object()) return malformed("a result is not an object");
  if (j.contains("histogram") || j.contains("histograms"))
    return malformed("native histogram samples, which sanwatch does not ask for");
  PromSeries s;
  if (const auto m = j.find("metric"); m != j.end()) {
    auto l = labels_of(*m);
    if (!l) return l.error();
    s.labels = std::move(*l);
  }
  const auto v = j.find(matrix ? "values" : "value");
  if (v == j.end()) return malformed(matrix ? "a series has no \"values\"" : "no \"value\"");
  if (!matrix) {
    auto one = sample_of(*v);
    if (!one) return one.error();
    s.samples.push_back(*one);
    return s;
  }
  if (!v->is_array()) return malformed("\"values\" is not a list");
  s.samples.reserve(v->size());
  for (const json& x : *v) {
    auto one = sample_of(x);
    if (!one) return one.error();
    s.samples.push_back(*one);
  }
  return s;
}

}  // namespace

Result<PromAnswer> parse_prom_answer(std::string_view body) {
  auto data = usable_data(body);
  if (!data) return data.error();
  if (!data->is_object()) return malformed("\"data\" is not an object");
  const auto type = data->find("resultType");
  const auto result = data->find("result");
  if (type == data->end() || !type->is_string() || result == data->end())
    return malformed("no \"resultType\" and \"result\"");
  PromAnswer a{type->get<std::string>(), {}};
  if (a.result_type == "scalar") {
    auto one = sample_of(*result);
    if (!one) return one.error();
    a.series.push_back({{}, {*one}});
    return a;
  }
  if (a.result_type != "matrix" && a.result_type != "vector")
    return malformed(fmt::format("resultType {}", server_text(*type)));
  if (!result->is_array()) return malformed("\"result\" is not a list");
  a.series.reserve(result->size());
  for (const json& r : *result) {
    auto s = series_of(r, a.result_type == "matrix");
    if (!s) return s.error();
    a.series.push_back(std::move(*s));
  }
  return a;
}

Result<PromAnswer> parse_prom_series(std::string_view body) {
  auto data = usable_data(body);
  if (!data) return data.error();
  if (!data->is_array()) return malformed("\"data\" is not a list of label sets");
  PromAnswer a{"series", {}};
  for (const json& l : *data) {
    auto labels = labels_of(l);
    if (!labels) return labels.error();
    a.series.push_back({std::move(*labels), {}});
  }
  return a;
}

}  // namespace sanwatch
