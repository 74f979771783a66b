// SPDX-License-Identifier: Apache-2.0
// `sanwatch report --format html`: one self-contained page (inline CSS and
// SVG, no JavaScript, nothing fetched) rendered from the report JSON
// (schema sanwatch.report/v1, docs/ledger.md), so the JSON stays the one
// source of truth and the page can be re-rendered from a saved report.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace sanwatch {

std::string render_report_html(const nlohmann::json& report);

}  // namespace sanwatch
