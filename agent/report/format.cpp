// SPDX-License-Identifier: Apache-2.0
#include "report/format.h"

#include <fmt/format.h>

#include "report/html/report_html.h"

namespace sanwatch {

Result<std::string> render_report(const nlohmann::json& report, std::string_view format,
                                  bool csv_summary) {
  if (format == "text") return render_text(report);
  if (format == "md") return render_md(report);
  if (format == "json") return report.dump(2) + "\n";
  if (format == "csv")
    return csv_summary ? render_csv_summary(report) : render_csv_incidents(report);
  if (format == "html") return render_report_html(report);
  return Error{0, fmt::format("--format {}: use text, md, json, csv or html", format)};
}

}  // namespace sanwatch
