// SPDX-License-Identifier: Apache-2.0
// Half-open wall-clock intervals [start, end) in Unix ms and the set
// operations availability is made of: union, intersection, difference.
#pragma once

#include <cstdint>
#include <vector>

namespace sanwatch {

struct Span {
  std::int64_t start = 0, end = 0;
  std::int64_t length() const { return end > start ? end - start : 0; }
  bool operator==(const Span&) const = default;
};

// Sorted, disjoint, non-empty spans (what normalize returns).
using Spans = std::vector<Span>;

// Sorts and merges overlapping or touching spans; drops empty ones.
Spans normalize(Spans s);
// Both arguments normalized.
Spans intersect(const Spans& a, const Spans& b);
// `whole` minus the normalized `cut`.
Spans subtract(Span whole, const Spans& cut);
std::int64_t total_length(const Spans& s);
// Where at least `k` of the normalized sets overlap.
Spans at_least(std::size_t k, const std::vector<Spans>& sets);

}  // namespace sanwatch
