#include "report/html/report_html.h"

#include <fmt/format.h>

namespace sanwatch {
namespace {

std::string escape(const std::string& s) {
  std::string o;
  for (char c : s) {
    switch (c) {
      case '&': o += "&amp;"; break;
      case '<': o += "&lt;"; break;
      case '>': o += "&gt;"; break;
      case '"': o += "&quot;"; break;
      default: o += c;
    }
  }
  return o;
}

}  // namespace

// Placeholder rendering (a table per target); replaced by the full page.
std::string render_report_html(const nlohmann::json& report) {
  std::string rows;
  for (const auto& t : report.value("targets", nlohmann::json::array()))
    rows += fmt::format("<tr><td>{}</td><td>{}</td></tr>\n",
                        escape(t.value("target", "")),
                        escape(t.value("availability_percent", nlohmann::json()).dump()));
  return fmt::format("<!doctype html><html><head><meta charset=\"utf-8\"><title>sanwatch "
                     "report</title></head><body><table>{}</table></body></html>\n",
                     rows);
}

}  // namespace sanwatch
