// SPDX-License-Identifier: Apache-2.0
#include "report/spans.h"

#include <algorithm>
#include <utility>

namespace sanwatch {

Spans normalize(Spans s) {
  std::erase_if(s, [](const Span& x) { return x.end <= x.start; });
  std::sort(s.begin(), s.end(), [](const Span& a, const Span& b) { return a.start < b.start; });
  Spans out;
  for (const Span& x : s) {
    if (!out.empty() && x.start <= out.back().end)
      out.back().end = std::max(out.back().end, x.end);
    else
      out.push_back(x);
  }
  return out;
}

Spans intersect(const Spans& a, const Spans& b) {
  Spans out;
  std::size_t i = 0, j = 0;
  while (i < a.size() && j < b.size()) {
    const std::int64_t s = std::max(a[i].start, b[j].start), e = std::min(a[i].end, b[j].end);
    if (e > s) out.push_back({s, e});
    (a[i].end < b[j].end) ? ++i : ++j;
  }
  return out;
}

Spans subtract(Span whole, const Spans& cut) {
  Spans out;
  std::int64_t at = whole.start;
  for (const Span& c : cut) {
    if (c.end <= at) continue;
    if (c.start >= whole.end) break;
    if (c.start > at) out.push_back({at, c.start});
    at = std::max(at, c.end);
  }
  if (at < whole.end) out.push_back({at, whole.end});
  return out;
}

std::int64_t total_length(const Spans& s) {
  std::int64_t n = 0;
  for (const Span& x : s) n += x.length();
  return n;
}

Spans at_least(std::size_t k, const std::vector<Spans>& sets) {
  // Sweep: +1 at each start, -1 at each end; ends sort before starts at the
  // same instant, so touching spans do not count as overlapping.
  std::vector<std::pair<std::int64_t, int>> edges;
  for (const Spans& s : sets)
    for (const Span& x : s) {
      edges.emplace_back(x.start, +1);
      edges.emplace_back(x.end, -1);
    }
  std::sort(edges.begin(), edges.end());
  Spans out;
  std::size_t depth = 0;
  std::int64_t opened = 0;
  for (const auto& [t, d] : edges) {
    const std::size_t next =
        depth + static_cast<std::size_t>(d > 0) - static_cast<std::size_t>(d < 0);
    if (depth < k && next >= k) opened = t;
    if (depth >= k && next < k) out.push_back({opened, t});
    depth = next;
  }
  return normalize(std::move(out));
}

}  // namespace sanwatch
