// SPDX-License-Identifier: Apache-2.0
#include "report/html/report_html.h"

#include "report/html/html_sections.h"
#include "report/html/html_timeline.h"

namespace sanwatch {

std::string render_report_html(const nlohmann::json& report) {
  using namespace html;
  // Anything but an object renders as the empty report rather than throwing:
  // the page is what someone looks at when things went wrong.
  const Json& r = report.is_object() ? report : Json::object();
  const Period period = period_of(r);
  IdSource ids;
  std::string page =
      "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
      "<meta name=\"viewport\" content=\"width=device-width\">\n"
      "<title>sanwatch report</title>\n<style>";
  page += page_style();
  page += "</style></head>\n<body>\n";
  page += header_section(r, period, ids);
  page += arrays_section(r, period, ids);
  page += baseline_section(r, period);
  page += incidents_section(r, period);
  page += evidence_section(r, period);
  page += "</body></html>\n";
  return page;
}

}  // namespace sanwatch
