// SPDX-License-Identifier: Apache-2.0
// The page's CSS. Screen: a fixed-width layout (layout.h), so bands sit at
// known x positions. Print: A4 landscape, SVGs scaled to the page width,
// no page break inside a LUN block, a table row or the legend.
#include <string>

#include "report/html/html_sections.h"
#include "report/html/layout.h"

namespace sanwatch::html {
namespace {

void replace_all(std::string& s, const std::string& from, const std::string& to) {
  for (auto pos = s.find(from); pos != std::string::npos; pos = s.find(from, pos + to.size()))
    s.replace(pos, from.size(), to);
}

}  // namespace

std::string page_style() {
  std::string css = R"(
* { box-sizing: border-box; -webkit-print-color-adjust: exact; print-color-adjust: exact; }
html { background: #fff; }
body { margin: 0 0 24px @PAGE_LEFT@px; padding: 0; width: @PAGE_WIDTH@px; color: #1a1a1a;
  font: 13px/1.4 "DejaVu Sans", "Liberation Sans", Arial, sans-serif; }
h1 { font-size: 22px; margin: 16px 0 8px; }
h2 { font-size: 17px; margin: 18px 0 6px; break-after: avoid; page-break-after: avoid; }
h3 { font-size: 14px; margin: 10px 0 2px; }
dl.facts { display: grid; grid-template-columns: max-content auto; gap: 2px 12px; margin: 0; }
dl.facts dt { color: #555; } dl.facts dd { margin: 0; }
table { border-collapse: collapse; margin: 4px 0 8px; font-size: 12px; }
th, td { border: 1px solid #c8c8c8; padding: 2px 6px; text-align: left; vertical-align: top; }
th { background: #f0f0f0; font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
small { color: #555; }
.mono, code { font-family: "DejaVu Sans Mono", "Liberation Mono", monospace; font-size: 11px;
  overflow-wrap: anywhere; }
.met { color: #00664a; font-weight: 600; } .miss { color: #a33a00; font-weight: 600; }
.legend { display: flex; flex-wrap: wrap; gap: 4px 14px; margin: 6px 0; }
.legend .key { display: inline-flex; align-items: center; gap: 4px; }
section.array { border-left: 4px solid #888; padding: 0 0 0 12px; margin: 14px 0 0; }
section.lun { margin: 0 0 10px; padding: 0; }
section.lun .meta { color: #555; font-size: 12px; margin-bottom: 4px; }
svg { display: block; overflow: visible; }
svg text { font: 10px "DejaVu Sans", Arial, sans-serif; fill: #333; }
svg.swatch { display: inline-block; vertical-align: baseline; }
.availability { display: flex; gap: 16px; align-items: flex-start; margin: 4px 0 2px; }
.availability .figures { font-size: 12px; width: 400px; }
td.ports, td.when, td.state, td.dur { white-space: nowrap; }
table.incidents { width: 100%; }
tr.not-counted td { color: #666; }
p.fleet { margin: 0 0 4px; color: #333; }
footer.evidence { margin-top: 18px; border-top: 1px solid #bbb; font-size: 12px; }
@page { size: A4 landscape; margin: 10mm; }
@media print {
  body { margin: 0; width: auto; font-size: 10px; }
  svg.band, svg.avail { width: 100%; height: auto; max-width: @BAND_WIDTH@px; }
  section.lun, tr, .legend, table.latency, table.overview, dl.facts, header {
    break-inside: avoid; page-break-inside: avoid; }
  thead { display: table-header-group; }
  section.incidents { break-before: page; page-break-before: always; }
}
)";
  replace_all(css, "@PAGE_LEFT@", std::to_string(kPageLeftPx));
  replace_all(css, "@PAGE_WIDTH@", std::to_string(kPageWidthPx));
  replace_all(css, "@BAND_WIDTH@", std::to_string(kBandWidthPx));
  return css;
}

}  // namespace sanwatch::html
