// SPDX-License-Identifier: Apache-2.0
// Renderings of a report JSON (sanwatch.report/v1, from build_report or
// merge_reports): every format is a function of the JSON alone, so a saved
// report renders again identically (times in the local zone).
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "base/result.h"

namespace sanwatch {

// For the terminal.
std::string render_text(const nlohmann::json& report);
// For tickets: tables in GitHub-flavoured Markdown.
std::string render_md(const nlohmann::json& report);
// One row per incident.
std::string render_csv_incidents(const nlohmann::json& report);
// One row per target (and per array of a merged report).
std::string render_csv_summary(const nlohmann::json& report);
// text, md, json, csv (incidents, or the summary when `csv_summary`), html.
Result<std::string> render_report(const nlohmann::json& report, std::string_view format,
                                  bool csv_summary);

}  // namespace sanwatch
